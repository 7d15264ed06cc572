// Package e2e drives the built ocisrc binary through the real kubectl and
// the real helm (3 and 4) against a real control plane and registry.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
		c.PutSecret(ctx, "deployment-system", "registry-credentials", map[string]string{"username": testenv.RegistryUser, "password": testenv.RegistryPassword}),
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
	if err := os.Symlink(binary, filepath.Join(pluginDir, "kubectl-component_pull")); err != nil {
		t.Fatal(err)
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
	if code != 0 || !strings.Contains(stdout, "kubectl component-pull NAME...") {
		t.Errorf("help does not read as a kubectl plugin:\n%s", stdout)
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

func TestHelmPlugin(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(filepath.Join(root, "plugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"helm3", "helm4"} {
		t.Run(tool, func(t *testing.T) {
			helm, err := testenv.ToolPath(tool, "helm")
			if err != nil {
				t.Fatal(err)
			}
			h := newHome(t)
			// The plugin as `make plugin` lays it out: the repository's
			// plugin.yaml and the binary in bin/.
			src := filepath.Join(t.TempDir(), "ocisrc")
			if err := os.MkdirAll(filepath.Join(src, "bin"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, "plugin.yaml"), manifest, 0o644); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(binary)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, "bin", "ocisrc"), data, 0o755); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"KUBECONFIG": stack.Cluster.Kubeconfig}

			stdout, stderr, code := run(t, h, env, helm, "plugin", "install", src)
			if code != 0 {
				t.Fatalf("helm plugin install: exit %d\n%s%s", code, stdout, stderr)
			}
			stdout, stderr, code = run(t, h, env, helm, "plugin", "list")
			if code != 0 || !strings.Contains(stdout, "ocisrc") {
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
