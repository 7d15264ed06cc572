// Package e2e drives the built ocisrc binary through the real kubectl and
// the real helm (3 and 4) against a real control plane and registry.
package e2e

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

var (
	stack  *testenv.Stack
	binary string // the built ocisrc
	app    *testenv.Pushed
	// dist is `make dist` output for linux/amd64 and windows/amd64.
	dist    string
	version string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	fail := func(err error) int { fmt.Fprintf(os.Stderr, "e2e: %v\n", err); return 1 }
	dir, err := os.MkdirTemp("", "ocisrc-e2e-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)

	root, err := testenv.RepoRoot()
	if err != nil {
		return fail(err)
	}
	binary = filepath.Join(dir, "bin", "ocisrc")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X github.com/ocisrc/ocisrc/pkg/version.version=v0.0.0-e2e", "-o", binary, "./cmd/ocisrc")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("building ocisrc: %w\n%s", err, out))
	}

	// The release files, as `make dist` writes them (two platforms suffice here).
	dist = filepath.Join(dir, "dist")
	mk := exec.Command("go", "run", "./cmd/internal/dist", "--out", dist, "--platforms", "linux/amd64,windows/amd64")
	mk.Dir = root
	if out, err := mk.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("make dist: %w\n%s", err, out))
	}
	manifest, err := os.ReadFile(filepath.Join(root, "plugin.yaml"))
	if err != nil {
		return fail(err)
	}
	for _, l := range strings.Split(string(manifest), "\n") {
		if v, ok := strings.CutPrefix(l, "version: "); ok {
			version = strings.Trim(v, `"`)
		}
	}

	if _, err := testenv.UseKubectl(); err != nil {
		return fail(err)
	}
	if stack, err = testenv.StartStack(filepath.Join(dir, "stack")); err != nil {
		return fail(err)
	}
	defer stack.Stop()
	ctx := context.Background()
	if app, err = stack.PushChart(ctx, stack.Secure, "app", "1.2.3"); err != nil {
		return fail(err)
	}
	c := stack.Cluster
	for _, step := range []error{
		c.PutSecret(ctx, "deployment-system", "registry-credentials", map[string]string{"username": testenv.RegistryUser, "password": testenv.RegistryPassword, "registry": stack.Secure.Host}),
		c.PutComponent(ctx, "team-a", "app", testenv.OCISource(app.Ref, "registry-credentials", "deployment-system")),
	} {
		if step != nil {
			return fail(step)
		}
	}
	return m.Run()
}

// run runs a real binary with a fresh Home's environment plus extra, and
// checks that no planted credential shows up in its output.
func run(t *testing.T, h *testenv.Home, extra map[string]string, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = h.Environ(extra)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", name, err)
	}
	for _, s := range []string{out.String(), errOut.String()} {
		if strings.Contains(s, testenv.RegistryPassword) {
			t.Errorf("%s printed the registry password:\n%s", name, s)
		}
	}
	return out.String(), errOut.String(), code
}

func newHome(t *testing.T) *testenv.Home {
	t.Helper()
	h, err := testenv.NewHome(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		leaks, err := h.FindSecrets(testenv.RegistryPassword)
		if err != nil {
			t.Error(err)
		}
		for _, l := range leaks {
			t.Errorf("credential on disk: %s", l)
		}
	})
	return h
}

type doc struct {
	Results []struct {
		Component, Chart, Version, Digest, Path, Credentials string
		Cached                                               bool
	} `json:"results"`
}

func checkPulled(t *testing.T, h *testenv.Home, stdout string, asYAML bool) {
	t.Helper()
	var d doc
	var err error
	if asYAML {
		err = yaml.Unmarshal([]byte(stdout), &d)
	} else {
		err = json.Unmarshal([]byte(stdout), &d)
	}
	if err != nil || len(d.Results) != 1 {
		t.Fatalf("unexpected output (%v):\n%s", err, stdout)
	}
	r := d.Results[0]
	if r.Component != "team-a/app" || r.Digest != app.Digest || r.Credentials != "deployment-system/registry-credentials" {
		t.Errorf("unexpected result %+v", r)
	}
	if !strings.HasPrefix(r.Path, h.Env["HELM_REPOSITORY_CACHE"]+string(filepath.Separator)) {
		t.Errorf("chart stored at %s, outside Helm's repository cache %s", r.Path, h.Env["HELM_REPOSITORY_CACHE"])
	}
	if _, err := os.Stat(r.Path); err != nil {
		t.Errorf("cached chart: %v", err)
	}
}

func TestKubectlPlugin(t *testing.T) {
	h := newHome(t)
	pluginDir := t.TempDir()
	for _, name := range []string{"kubectl-component_pull", "kubectl_complete-component_pull"} {
		if err := os.Symlink(binary, filepath.Join(pluginDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"PATH": pluginDir + string(os.PathListSeparator) + os.Getenv("PATH"), "KUBECONFIG": stack.Cluster.Kubeconfig}

	stdout, stderr, code := run(t, h, env, "kubectl", "plugin", "list")
	if code != 0 || !strings.Contains(stdout, "kubectl-component_pull") {
		t.Fatalf("kubectl plugin list: exit %d\n%s%s", code, stdout, stderr)
	}

	stdout, stderr, code = run(t, h, env, "kubectl", "component-pull", "app", "-n", "team-a", "--registry-ca-file", stack.Secure.CAFile, "-o", "yaml")
	if code != 0 {
		t.Fatalf("kubectl component-pull: exit %d\n%s%s", code, stdout, stderr)
	}
	checkPulled(t, h, stdout, true)

	stdout, _, code = run(t, h, env, "kubectl", "component-pull", "--help")
	if code != 0 || !strings.Contains(stdout, "kubectl component-pull (NAME... | -l SELECTOR | --all | -f FILENAME [-R]) [-A]") {
		t.Errorf("help does not read as a kubectl plugin:\n%s", stdout)
	}
	stdout, _, code = run(t, h, env, "kubectl", "component-pull", "--version")
	if code != 0 || !strings.HasPrefix(stdout, "ocisrc v0.0.0-e2e (") {
		t.Errorf("--version: %q", stdout)
	}

	// Completion through kubectl's plugin completion (kubectl_complete-component_pull).
	stdout, stderr, code = run(t, h, env, "kubectl", "__complete", "component-pull", "-n", "team-a", "")
	if code != 0 || !strings.Contains(stdout, "app\n") {
		t.Errorf("kubectl __complete component-pull: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, _ = run(t, h, env, "kubectl", "__complete", "component-pull", "-o", "")
	if !strings.Contains(stdout, "json\n") || !strings.Contains(stdout, "yaml\n") {
		t.Errorf("--output completion:\n%s", stdout)
	}

	// Exit codes come through kubectl unchanged.
	_, stderr, code = run(t, h, env, "kubectl", "component-pull", "app", "-n", "team-a", "--output", "xml")
	if code != 2 || !strings.Contains(stderr, "Error: invalid argument \"xml\"") {
		t.Errorf("bad flag: exit %d, stderr:\n%s", code, stderr)
	}
	_, stderr, code = run(t, h, env, "kubectl", "component-pull", "missing", "-n", "team-a")
	if code != 1 || !strings.Contains(stderr, `"missing" not found in namespace "team-a"`) {
		t.Errorf("missing component: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestKrew(t *testing.T) {
	krewDir, err := testenv.ToolDir("krew")
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dist, "krew", "component-pull.yaml")
	h := newHome(t)
	stdout, stderr, code := run(t, h, nil, filepath.Join(krewDir, "validate-krew-manifest"), "-manifest", manifest, "-skip-install")
	if code != 0 {
		t.Fatalf("validate-krew-manifest: exit %d\n%s%s", code, stdout, stderr)
	}

	krewRoot := h.Env["KREW_ROOT"]
	path := filepath.Join(krewRoot, "bin") + string(os.PathListSeparator) + krewDir + string(os.PathListSeparator) + os.Getenv("PATH")
	env := map[string]string{"PATH": path, "KUBECONFIG": stack.Cluster.Kubeconfig}
	archive := filepath.Join(dist, fmt.Sprintf("ocisrc_%s_linux_amd64.tar.gz", version))
	stdout, stderr, code = run(t, h, env, "kubectl", "krew", "install", "--manifest="+manifest, "--archive="+archive)
	if code != 0 {
		t.Fatalf("kubectl krew install: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout+stderr, "kubectl_complete-component_pull") {
		t.Errorf("the caveats do not say how to install the completion shim:\n%s%s", stdout, stderr)
	}
	stdout, stderr, code = run(t, h, env, "kubectl", "component-pull", "app", "-n", "team-a", "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	if code != 0 {
		t.Fatalf("kubectl component-pull after krew install: exit %d\n%s%s", code, stdout, stderr)
	}
	checkPulled(t, h, stdout, false)

	// The release binary carries no symbol table (-ldflags=-s -w): a
	// release needs none, and panics still name file and line.
	bin := filepath.Join(krewRoot, "store", "component-pull", "v"+version, "ocisrc")
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	if ef.Section(".symtab") != nil || ef.Section(".debug_info") != nil {
		t.Errorf("%s has a symbol table or DWARF: the release is not built with -s -w", bin)
	}
	_ = ef.Close()

	// The second plugin, kubectl ocisrc, from the same archive: every
	// command of the binary through kubectl.
	second := filepath.Join(dist, "krew", "ocisrc.yaml")
	if stdout, stderr, code := run(t, h, nil, filepath.Join(krewDir, "validate-krew-manifest"), "-manifest", second, "-skip-install"); code != 0 {
		t.Fatalf("validate-krew-manifest ocisrc.yaml: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = run(t, h, env, "kubectl", "krew", "install", "--manifest="+second, "--archive="+archive)
	if code != 0 {
		t.Fatalf("kubectl krew install ocisrc: exit %d\n%s%s", code, stdout, stderr)
	}
	file := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(file, []byte("apiVersion: deploy.example.io/v1alpha1\nkind: Component\nmetadata: {name: app}\nspec:\n  source: {type: oci, chart: \"oci://registry.example.com/charts/app\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = run(t, h, env, "kubectl", "ocisrc", "validate", "-f", file, "-n", "team-a")
	if code != 2 || !strings.Contains(stdout, "spec.source.chart") || !strings.Contains(stderr, "Error:") {
		t.Errorf("kubectl ocisrc validate: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, code = run(t, h, env, "kubectl", "ocisrc", "--help")
	if code != 0 || !strings.Contains(stdout, "kubectl ocisrc [command]") || !strings.Contains(stdout, "bundle") {
		t.Errorf("kubectl ocisrc --help: exit %d\n%s", code, stdout)
	}
	stdout, stderr, code = run(t, h, env, "kubectl", "ocisrc", "fetch", "app", "-n", "team-a", "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	if code != 0 {
		t.Fatalf("kubectl ocisrc fetch: exit %d\n%s%s", code, stdout, stderr)
	}
	checkPulled(t, h, stdout, false)

	// The Windows zip installs too (krew picks the platform from KREW_OS/KREW_ARCH).
	win := newHome(t)
	winEnv := map[string]string{"PATH": path, "KREW_OS": "windows", "KREW_ARCH": "amd64"}
	zip := filepath.Join(dist, fmt.Sprintf("ocisrc_%s_windows_amd64.zip", version))
	stdout, stderr, code = run(t, win, winEnv, "kubectl", "krew", "install", "--manifest="+manifest, "--archive="+zip)
	if code != 0 {
		t.Fatalf("kubectl krew install (windows): exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(win.Env["KREW_ROOT"], "store", "component-pull", "v"+version, "ocisrc.exe")); err != nil {
		t.Errorf("windows install: %v", err)
	}
}

// installPlugin installs a Helm plugin from its release archive, as a user
// does: Helm 4 takes the .tgz (it verifies archives by default; there is no
// .prov, so --verify=false), Helm 3 installs only directories or URLs, so it
// gets the extracted archive. SKIP_BIN_INSTALL=1: the archive carries the binary.
func installPlugin(t *testing.T, h *testenv.Home, helm, tool, plugin string) {
	t.Helper()
	archive := filepath.Join(dist, fmt.Sprintf("%s-%s-linux-amd64.tgz", plugin, version))
	args := []string{"plugin", "install", archive, "--verify=false"}
	if tool == "helm3" {
		dir := t.TempDir()
		if out, err := exec.Command("tar", "-xzf", archive, "-C", dir).CombinedOutput(); err != nil {
			t.Fatalf("extracting %s: %v\n%s", archive, err, out)
		}
		args = []string{"plugin", "install", filepath.Join(dir, plugin)}
	}
	stdout, stderr, code := run(t, h, map[string]string{"SKIP_BIN_INSTALL": "1"}, helm, args...)
	if code != 0 {
		t.Fatalf("helm plugin install %s: exit %d\n%s%s", plugin, code, stdout, stderr)
	}
}

func TestHelmPlugins(t *testing.T) {
	for _, tool := range []string{"helm3", "helm4"} {
		t.Run(tool, func(t *testing.T) {
			helm, err := testenv.ToolPath(tool, "helm")
			if err != nil {
				t.Fatal(err)
			}
			h := newHome(t)
			installPlugin(t, h, helm, tool, "ocisrc")
			installPlugin(t, h, helm, tool, "ocisrc-getter")
			env := map[string]string{"KUBECONFIG": stack.Cluster.Kubeconfig}

			stdout, stderr, code := run(t, h, env, helm, "plugin", "list")
			if code != 0 || !strings.Contains(stdout, "ocisrc") || !strings.Contains(stdout, "ocisrc-getter") {
				t.Fatalf("helm plugin list: exit %d\n%s%s", code, stdout, stderr)
			}
			// -n is a Helm flag: Helm strips it and passes HELM_NAMESPACE.
			stdout, stderr, code = run(t, h, env, helm, "ocisrc", "fetch", "app", "-n", "team-a", "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
			if code != 0 {
				t.Fatalf("helm ocisrc fetch: exit %d\n%s%s", code, stdout, stderr)
			}
			checkPulled(t, h, stdout, false)

			stdout, _, code = run(t, h, env, helm, "ocisrc", "--help")
			if code != 0 || !strings.Contains(stdout, "helm ocisrc [command]") || !strings.Contains(stdout, "fetch") {
				t.Errorf("helm ocisrc --help:\n%s", stdout)
			}
			stdout, _, code = run(t, h, env, helm, "ocisrc", "version", "-o", "json")
			if code != 0 || !strings.Contains(stdout, `"version": "v`+version+`"`) {
				t.Errorf("helm ocisrc version: %s", stdout)
			}

			// The downloader: helm renders and pulls component:// URLs with the Secret's credentials.
			stdout, stderr, code = run(t, h, env, helm, "template", "x", "component://team-a/app", "-n", "team-a", "--ca-file", stack.Secure.CAFile)
			if code != 0 || !strings.Contains(stdout, "chart: app-1.2.3") || !strings.Contains(stdout, "name: x-app") {
				t.Errorf("helm template component://team-a/app: exit %d\n%s%s", code, stdout, stderr)
			}
			out := t.TempDir()
			stdout, stderr, code = run(t, h, env, helm, "pull", "component://team-a/app/app-1.2.3.tgz", "-n", "team-a", "--ca-file", stack.Secure.CAFile, "-d", out)
			if code != 0 {
				t.Errorf("helm pull component://: exit %d\n%s%s", code, stdout, stderr)
			} else if data, err := os.ReadFile(filepath.Join(out, "app-1.2.3.tgz")); err != nil || !bytes.Equal(data, app.Blobs[1]) {
				t.Errorf("helm pull saved %d bytes (%v), want the chart archive", len(data), err)
			}
			// Another namespace than helm's is refused: a chart's
			// dependencies name component:// URLs.
			_, stderr, code = run(t, h, env, helm, "template", "x", "component://team-a/app", "-n", "team-b", "--ca-file", stack.Secure.CAFile)
			if code == 0 || !strings.HasPrefix(stderr, `Error: component://team-a/app names namespace "team-a", but helm runs in namespace "team-b"`) {
				t.Errorf("the downloader pulled another namespace's Component: exit %d\n%s", code, stderr)
			}
			_, stderr, code = run(t, h, env, helm, "template", "x", "component://team-a/missing", "-n", "team-a", "--ca-file", stack.Secure.CAFile)
			// Helm exits 1 for any downloader failure and then prints its own
			// line (Helm 4: a dump of the plugin); ours comes first, with its hint.
			ours := `Error: components "missing" not found in namespace "team-a"` + "\nHint: check NAMESPACE and NAME in component://NAMESPACE/NAME\n"
			if code != 1 || !strings.HasPrefix(stderr, ours) || !strings.Contains(stderr, "exited with error") {
				t.Errorf("a missing Component through the downloader: exit %d, want 1 with our message first:\n%s", code, stderr)
			}

			// Completion through Helm's plugin.complete.
			stdout, stderr, code = run(t, h, env, helm, "__complete", "ocisrc", "fetch", "-n", "team-a", "")
			if code != 0 || !strings.Contains(stdout, "app\n") {
				t.Errorf("helm __complete ocisrc fetch: exit %d\n%s%s", code, stdout, stderr)
			}

			// login stores the Component's credentials for plain helm commands; logout removes them.
			stdout, stderr, code = run(t, h, env, helm, "ocisrc", "login", "app", "-n", "team-a")
			if code != 0 || !strings.Contains(stdout, "Logged in to "+stack.Secure.Host) {
				t.Fatalf("helm ocisrc login: exit %d\n%s%s", code, stdout, stderr)
			}
			pull := []string{"pull", "oci://" + stack.Secure.Host + "/charts/app", "--version", "1.2.3", "--ca-file", stack.Secure.CAFile, "-d", t.TempDir()}
			if stdout, stderr, code = run(t, h, env, helm, pull...); code != 0 {
				t.Errorf("helm pull after login: exit %d\n%s%s", code, stdout, stderr)
			}
			if stdout, stderr, code = run(t, h, env, helm, "ocisrc", "logout", "app", "-n", "team-a"); code != 0 {
				t.Errorf("helm ocisrc logout: exit %d\n%s%s", code, stdout, stderr)
			}
			if _, _, code = run(t, h, env, helm, pull...); code == 0 {
				t.Errorf("helm pull still works after logout")
			}

			_, stderr, code = run(t, h, env, helm, "ocisrc", "fetch", "app", "-n", "team-b")
			if code != 1 || !strings.Contains(stderr, `namespace "team-b" not found`) {
				t.Errorf("wrong namespace: exit %d, stderr:\n%s", code, stderr)
			}
		})
	}
}

// TestHelmPluginFromRepository installs the command plugin from a directory
// laid out like the repository (plugin.yaml at the root) without a binary,
// under Helm 3 and Helm 4: the install hook downloads the release archive and
// checks its sha256; a failed hook leaves nothing registered and nothing in
// the source directory; a later install says why it downloads nothing.
func TestHelmPluginFromRepository(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	repo := func(t *testing.T) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "ocisrc")
		for _, f := range []string{"plugin.yaml", "plugin.complete", "plugin/install-binary.sh", "plugin/install-binary.ps1", "LICENSE"} {
			data, err := os.ReadFile(filepath.Join(root, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	// A release server with the dist files under /v<version>/.
	mux := http.NewServeMux()
	mux.Handle("/v"+version+"/", http.StripPrefix("/v"+version+"/", http.FileServer(http.Dir(dist))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	good := map[string]string{"OCISRC_RELEASE_URL": srv.URL}

	// The same, with an archive that is not what checksums.txt says.
	bad := t.TempDir()
	entries, _ := os.ReadDir(dist)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, _ := os.ReadFile(filepath.Join(dist, e.Name()))
		if strings.HasSuffix(e.Name(), "_linux_amd64.tar.gz") && strings.HasPrefix(e.Name(), "ocisrc_") {
			data = append(data, 0)
		}
		_ = os.WriteFile(filepath.Join(bad, e.Name()), data, 0o644)
	}
	badSrv := httptest.NewServer(http.StripPrefix("/v"+version+"/", http.FileServer(http.Dir(bad))))
	defer badSrv.Close()
	tampered := map[string]string{"OCISRC_RELEASE_URL": badSrv.URL}

	for _, tool := range []string{"helm3", "helm4"} {
		helm, err := testenv.ToolPath(tool, "helm")
		if err != nil {
			t.Fatal(err)
		}
		// registered reports whether helm lists the plugin; runsRelease
		// checks that helm ocisrc runs the release's binary.
		registered := func(t *testing.T, h *testenv.Home) bool {
			t.Helper()
			stdout, stderr, code := run(t, h, nil, helm, "plugin", "list")
			if code != 0 {
				t.Fatalf("helm plugin list: exit %d\n%s%s", code, stdout, stderr)
			}
			return strings.Contains(stdout, "ocisrc")
		}
		runsRelease := func(t *testing.T, h *testenv.Home) {
			t.Helper()
			stdout, stderr, code := run(t, h, nil, helm, "ocisrc", "version")
			if code != 0 || !strings.Contains(stdout, "v"+version) {
				t.Errorf("helm ocisrc version after a hook install: exit %d\n%s%s", code, stdout, stderr)
			}
		}

		t.Run(tool+"/downloads and verifies the binary, and says when it need not", func(t *testing.T) {
			h := newHome(t)
			dir := repo(t)
			stdout, stderr, code := run(t, h, good, helm, "plugin", "install", dir)
			if code != 0 || !strings.Contains(stdout, "ocisrc: installed "+version+" (linux/amd64) into "+dir+"/bin") {
				t.Fatalf("helm plugin install: exit %d\n%s%s", code, stdout, stderr)
			}
			runsRelease(t, h)
			// Helm linked the directory: the binary is in it, and a second
			// install says why it downloads nothing (the server is the
			// tampered one: a download would fail).
			if _, stderr, code := run(t, h, nil, helm, "plugin", "uninstall", "ocisrc"); code != 0 {
				t.Fatalf("helm plugin uninstall: %s", stderr)
			}
			stdout, stderr, code = run(t, h, tampered, helm, "plugin", "install", dir)
			if code != 0 || !strings.Contains(stdout, "ocisrc: "+dir+"/bin/ocisrc is already v"+version+": not downloading it") {
				t.Fatalf("a second install from the same directory: exit %d\n%s%s", code, stdout, stderr)
			}
			runsRelease(t, h)
			// A binary of another version is replaced, and the hook says so.
			if _, stderr, code := run(t, h, nil, helm, "plugin", "uninstall", "ocisrc"); code != 0 {
				t.Fatalf("helm plugin uninstall: %s", stderr)
			}
			stale, err := os.ReadFile(binary)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "bin", "ocisrc"), stale, 0o755); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code = run(t, h, good, helm, "plugin", "install", dir)
			if code != 0 || !strings.Contains(stdout, "bin/ocisrc is v0.0.0-e2e, not v"+version+": downloading v"+version) {
				t.Fatalf("an install over a stale binary: exit %d\n%s%s", code, stdout, stderr)
			}
			runsRelease(t, h)
		})

		t.Run(tool+"/a checksum mismatch leaves nothing behind", func(t *testing.T) {
			h := newHome(t)
			dir := repo(t)
			_, stderr, code := run(t, h, tampered, helm, "plugin", "install", dir)
			if code == 0 || !strings.Contains(stderr, "checksum mismatch") || !strings.Contains(stderr, "ocisrc: removed the plugin's link") {
				t.Errorf("a tampered archive: exit %d\n%s", code, stderr)
			}
			if registered(t, h) {
				t.Errorf("the plugin stays registered after its install hook failed")
			}
			if _, err := os.Stat(dir); err != nil {
				t.Errorf("the source directory is gone: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "bin")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the failed install left %s/bin: %v", dir, err)
			}
			// The retry is a plain install, not "plugin already exists".
			stdout, stderr, code := run(t, h, good, helm, "plugin", "install", dir)
			if code != 0 {
				t.Fatalf("helm plugin install after a failed one: exit %d\n%s%s", code, stdout, stderr)
			}
			runsRelease(t, h)
		})

		if tool == "helm4" {
			// Helm 4 installs an archive by copying it into its plugins
			// directory: a failed hook removes the copy.
			t.Run(tool+"/a checksum mismatch from an archive leaves nothing behind", func(t *testing.T) {
				h := newHome(t)
				dir := repo(t)
				archive := filepath.Join(t.TempDir(), "ocisrc.tgz")
				if out, err := exec.Command("tar", "-czf", archive, "-C", filepath.Dir(dir), "ocisrc").CombinedOutput(); err != nil {
					t.Fatalf("tar: %v\n%s", err, out)
				}
				_, stderr, code := run(t, h, tampered, helm, "plugin", "install", archive, "--verify=false")
				if code == 0 || !strings.Contains(stderr, "checksum mismatch") || !strings.Contains(stderr, "ocisrc: removed the half-installed plugin") {
					t.Errorf("a tampered archive: exit %d\n%s", code, stderr)
				}
				if registered(t, h) {
					t.Errorf("the plugin stays registered after its install hook failed")
				}
				stdout, stderr, code := run(t, h, good, helm, "plugin", "install", archive, "--verify=false")
				if code != 0 {
					t.Fatalf("helm plugin install after a failed one: exit %d\n%s%s", code, stdout, stderr)
				}
				runsRelease(t, h)
			})
		}

		t.Run(tool+"/SKIP_BIN_INSTALL=1 after make plugin", func(t *testing.T) {
			h := newHome(t)
			dir := repo(t)
			data, err := os.ReadFile(binary)
			if err != nil {
				t.Fatal(err)
			}
			_ = os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
			if err := os.WriteFile(filepath.Join(dir, "bin", "ocisrc"), data, 0o755); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := run(t, h, map[string]string{"SKIP_BIN_INSTALL": "1"}, helm, "plugin", "install", dir)
			if code != 0 {
				t.Fatalf("helm plugin install: exit %d\n%s%s", code, stdout, stderr)
			}
			stdout, _, code = run(t, h, nil, helm, "ocisrc", "version")
			if code != 0 || !strings.Contains(stdout, "v0.0.0-e2e") {
				t.Errorf("helm ocisrc version: %s", stdout)
			}
		})
	}
}
