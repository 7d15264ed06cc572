package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// componentYAML is a Component manifest for the files tests.
func componentYAML(ns, name, chart string) string {
	nsLine := ""
	if ns != "" {
		nsLine = ", namespace: " + ns
	}
	return "apiVersion: deploy.example.io/v1alpha1\nkind: Component\nmetadata: {name: " + name + nsLine + "}\nspec:\n  source: {type: oci, chart: \"" + chart + "\"}\n"
}

// TestFetchFromFiles: -f/-R as kubectl reads them; the Components need not
// exist in the cluster.
func TestFetchFromFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	single := write("single.yaml", componentYAML("", "from-file", openApp.Ref))
	multi := write("multi.yaml", componentYAML("team-b", "one", openApp.Ref)+"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: skipped}\n---\n"+componentYAML("", "two", openApp.Ref))
	write("tree/a.yaml", componentYAML("", "deep-a", openApp.Ref))
	write("tree/sub/b.json", `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"deploy.example.io/v1alpha1","kind":"Component","metadata":{"name":"deep-b"},"spec":{"source":{"type":"oci","chart":"`+openApp.Ref+`"}}}]}`)
	none := write("none.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	ca := []string{"--registry-ca-file", stack.Open.CAFile}
	for name, tc := range map[string]struct {
		args []string
		want []string
	}{
		"a single file, the namespace from -n":        {args: []string{"-f", single, "-n", nsA}, want: []string{"team-a/from-file"}},
		"multi-document, -A takes metadata.namespace": {args: []string{"-f", multi, "-n", nsA, "-A"}, want: []string{"team-b/one", "team-a/two"}},
		"a directory with -R, a list in JSON":         {args: []string{"-f", filepath.Join(dir, "tree"), "-R", "-n", nsA}, want: []string{"team-a/deep-a", "team-a/deep-b"}},
	} {
		t.Run(name, func(t *testing.T) {
			newHome(t)
			r := kubectl(t, append(append(tc.args, ca...), "-o", "json")...)
			wantCode(t, r, 0)
			d := decodeJSON(t, r)
			var got []string
			for _, res := range d.Results {
				got = append(got, res.Component)
				if res.Digest != openApp.Digest {
					t.Errorf("%+v", res)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("components %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("standard input", func(t *testing.T) {
		h := newHome(t)
		cmd := exec.Command(binary, append([]string{"fetch", "-f", "-", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "-o", "json"}, ca...)...)
		cmd.Env = h.Environ(nil)
		cmd.Stdin = strings.NewReader(componentYAML("", "from-stdin", openApp.Ref))
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v\n%s", err, errOut.String())
		}
		if !strings.Contains(out.String(), `"component": "team-a/from-stdin"`) {
			t.Errorf("stdout:\n%s", out.String())
		}
	})
	t.Run("a file naming another namespace than -n's is refused", func(t *testing.T) {
		newHome(t)
		r := kubectl(t, append([]string{"-f", multi, "-n", nsA}, ca...)...)
		wantCode(t, r, 2)
		wantStderr(t, r, multi+`: Component "one" names namespace "team-b", but the effective namespace is "team-a"`, "Hint: pass -n with that namespace to act in it, or -A")
		if r.stdout != "" {
			t.Errorf("something was pulled:\n%s", r)
		}
	})
	t.Run("names and -f cannot be mixed", func(t *testing.T) {
		r := kubectl(t, "app", "-f", single)
		wantCode(t, r, 2)
		wantStderr(t, r, "-f/--filename cannot be combined with NAME arguments")
	})
	t.Run("a file with no Component", func(t *testing.T) {
		r := kubectl(t, "-f", none)
		wantCode(t, r, 2)
		wantStderr(t, r, "-f "+none+": no object of kind Component")
	})
	t.Run("a path that does not exist", func(t *testing.T) {
		r := kubectl(t, "-f", filepath.Join(dir, "missing.yaml"))
		wantCode(t, r, 2)
		wantStderr(t, r, "missing.yaml")
	})
	t.Run("the Secret still comes from the cluster, bound to the chart's registry", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsA, "file-creds", boundCreds(stack.Secure.Host))
		f := write("secret.yaml", "apiVersion: deploy.example.io/v1alpha1\nkind: Component\nmetadata: {name: private}\nspec:\n  source:\n    type: oci\n    chart: \""+app123.Ref+"\"\n    authentication: {method: registry, secretRef: {name: file-creds, namespace: team-a}}\n")
		r := kubectl(t, "-f", f, "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
		wantCode(t, r, 0)
		if got := decodeJSON(t, r).Results[0]; got.Credentials != "team-a/file-creds" || got.Digest != app123.Digest {
			t.Errorf("%+v", got)
		}
		// Unbound, the same Secret is refused to a file's Component, even
		// in the namespace the command runs in: a file chooses the host.
		putSecret(t, nsA, "file-creds", goodCreds())
		stack.Secure.ResetLog()
		r = kubectl(t, "-f", f, "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 2)
		wantStderr(t, r, `secret "team-a/file-creds" is bound to no registry: refusing to send its credentials to `+stack.Secure.Host+", a host a Component from a file chose",
			"or apply the Component to the cluster and pull it from there by name, with -n team-a")
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("%d registry requests", n)
		}
	})
}

// TestValidate: the catalogue of good and bad Components in
// testdata/validate, against its registry policy, without a cluster: the
// kubeconfig points nowhere.
func TestValidate(t *testing.T) {
	newHome(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "testdata", "validate")
	pol := filepath.Join(dir, "registry-policy.yaml")
	want, err := os.ReadFile(filepath.Join(dir, "expected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	nowhere := filepath.Join(t.TempDir(), "no-kubeconfig")
	r := runFace(t, "ocisrc", nil, "validate", "-f", filepath.Join(dir, "components"), "-R", "--registry-policy", pol, "--kubeconfig", nowhere)
	wantCode(t, r, 2)
	got := strings.ReplaceAll(r.stdout, pol, "POLICY")
	got = strings.ReplaceAll(got, dir+string(filepath.Separator), "")
	if got != string(want) {
		t.Errorf("validate printed:\n%s\nwant (testdata/validate/expected.txt):\n%s", got, want)
	}
	wantStderr(t, r, "Error: 7 problems in 8 Components")
	r = runFace(t, "ocisrc", nil, "validate", "-f", filepath.Join(dir, "components"), "-R", "--registry-policy", pol, "--kubeconfig", nowhere, "-o", "json")
	wantCode(t, r, 2)
	if !strings.Contains(r.stdout, `"field": "spec.source.chart"`) || !strings.HasPrefix(r.stdout, "[") {
		t.Errorf("json:\n%s", r.stdout)
	}
	// All valid: exit 0, and [] in JSON; the Helm face has it too.
	r = runFace(t, "ocisrc", map[string]string{"HELM_PLUGIN_NAME": "ocisrc"}, "validate", "-f", filepath.Join(dir, "components", "good.yaml"), "--registry-policy", pol, "-o", "json")
	wantCode(t, r, 0)
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("json: %q", r.stdout)
	}
	// A file as an argument: the hint shows it with -f.
	r = runFace(t, "ocisrc", nil, "validate", "app.yaml")
	wantCode(t, r, 2)
	wantStderr(t, r, `Error: validate reads files given with -f, not as arguments: got "app.yaml"`, "Hint: did you mean: ocisrc validate -f app.yaml")
	// A file that does not parse gets a hint about its content, not its path.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Foo\n  bad: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runFace(t, "ocisrc", nil, "validate", "-f", bad)
	wantCode(t, r, 2)
	wantStderr(t, r, "yaml: line 3", "Hint: fix the file at the line shown: it is not valid YAML or JSON")
	r = runFace(t, "ocisrc", nil, "validate", "-f", filepath.Join(t.TempDir(), "missing.yaml"))
	wantCode(t, r, 2)
	wantStderr(t, r, "does not exist", "Hint: check the paths; -R reads directories recursively")
}
