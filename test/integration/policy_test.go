package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// writePolicy writes a registry policy file and returns its path.
func writePolicy(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "registry-policy.yaml")
	if err := os.WriteFile(p, []byte("apiVersion: ocisrc.dev/v1alpha1\nkind: RegistryPolicy\n"+body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pemBlock indents the PEM file at path for a YAML block scalar.
func pemBlock(t *testing.T, path, pad string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return pad + strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n"+pad)
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

type policyDoc struct {
	Results []struct {
		Component, Digest, Source, Credentials, Error string
		Cached                                        bool
	} `json:"results"`
}

func decodePolicyDoc(t *testing.T, r result) policyDoc {
	t.Helper()
	var d policyDoc
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("stdout: %v\n%s", err, r)
	}
	return d
}

// TestPolicyPerRegistryCAs: one --all -A run over two TLS registries with
// two different CAs, trusted per prefix by the policy file (inline and
// caFile), without --registry-ca-file.
func TestPolicyPerRegistryCAs(t *testing.T) {
	newHome(t)
	ctx := context.Background()
	other, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir()}) // its own CA
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c, err := testenv.BuildChart("other", "2.0.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	otherApp, err := other.PushChart(ctx, "charts/other", c, "", "")
	if err != nil {
		t.Fatal(err)
	}
	putSecret(t, "ca-a", "creds", goodCreds())
	putComponent(t, "ca-a", "app", testenv.OCISource(app123.Ref, "creds", "ca-a"))
	putComponent(t, "ca-b", "other", testenv.OCISource(otherApp.Ref, "", ""))
	for _, ns := range []string{"ca-a", "ca-b"} {
		if err := stack.Cluster.Label(ctx, ns, map[string]string{"ca-a": "app", "ca-b": "other"}[ns], map[string]string{"policy-ca": "yes"}); err != nil {
			t.Fatal(err)
		}
	}
	pol := writePolicy(t, fmt.Sprintf(`registries:
- prefix: %s/charts
  tls:
    ca: |
%s
- prefix: %s
  tls:
    caFile: %s
`, stack.Secure.Host, pemBlock(t, stack.Secure.CAFile, "      "), other.Host, other.CAFile))

	args := []string{"-l", "policy-ca=yes", "-A", "-o", "json", "--registry-policy", pol}
	r := kubectl(t, args...)
	wantCode(t, r, 0)
	d := decodePolicyDoc(t, r)
	if len(d.Results) != 2 {
		t.Fatalf("results: %+v", d.Results)
	}
	for _, res := range d.Results {
		if res.Error != "" || res.Source == "" {
			t.Errorf("%+v", res)
		}
	}
	// Without the policy, neither registry is trusted.
	newHome(t)
	r = kubectl(t, "-l", "policy-ca=yes", "-A", "-o", "json")
	wantCode(t, r, 1)
	wantStderr(t, r, "TLS connection to "+stack.Secure.Host+" failed", "TLS connection to "+other.Host+" failed")
	// --plain-http and --registry-insecure-skip-tls-verify name one registry.
	r = kubectl(t, "-l", "policy-ca=yes", "-A", "--registry-insecure-skip-tls-verify")
	wantCode(t, r, 2)
	wantStderr(t, r, "--registry-insecure-skip-tls-verify applies to one registry, but this run pulls from 2: ", "Hint: put plainHTTP: true or tls.insecureSkipVerify: true under the prefix")
	// The policy file's relaxation names its host.
	newHome(t)
	pol = writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s\n  tls: {insecureSkipVerify: true}\n", other.Host))
	r = kubectl(t, "other", "-n", "ca-b", "--registry-policy", pol)
	wantCode(t, r, 0)
	wantStderr(t, r, "Warning: the certificate of "+other.Host+" is not verified (insecureSkipVerify in the registry policy file")
}

// TestPolicyMirrors: an origin that is down, a mirror that holds its charts.
func TestPolicyMirrors(t *testing.T) {
	ctx := context.Background()
	origin := closedPort(t)
	// The mirror: the open registry, behind a recording proxy.
	if err := stack.Secure.CopyChart(ctx, "charts/app", app123.Digest, auth.Credential{Username: testenv.RegistryUser, Password: testenv.RegistryPassword}, stack.Open, "mirror/charts/app", "1.2.3"); err != nil {
		t.Fatal(err)
	}
	mirror, err := testenv.NewFaultProxy(stack.Open, stack.Open.CA)
	if err != nil {
		t.Fatal(err)
	}
	defer mirror.Close()
	deadMirror := closedPort(t)
	pinned := "oci://" + origin + "/charts/app:1.2.3@" + app123.Digest
	tagOnly := "oci://" + origin + "/charts/app:1.2.3"
	// The Component's own credentials, for the origin only.
	creds := goodCreds()
	creds["registry"] = origin
	putSecret(t, nsA, "origin-creds", creds)
	ca := pemBlock(t, stack.Open.CAFile, "      ")
	policyWith := func(extra string) string {
		return writePolicy(t, fmt.Sprintf(`registries:
- prefix: %s/charts
%s
- prefix: %s
  tls:
    ca: |
%s
`, origin, extra, mirror.Host, ca))
	}
	fallback := policyWith(fmt.Sprintf("  mirrors:\n  - location: %s/mirror/charts\n", mirror.Host))

	t.Run("a digest pin is served by the mirror; the origin's credentials never reach it", func(t *testing.T) {
		h := newHome(t)
		putComponent(t, nsA, "mirrored", testenv.OCISource(pinned, "origin-creds", nsA))
		mirror.ResetLog()
		r := kubectl(t, "mirrored", "-n", nsA, "--registry-policy", fallback, "-o", "json")
		wantCode(t, r, 0)
		got := decodePolicyDoc(t, r).Results[0]
		if got.Digest != app123.Digest || got.Source != mirror.Host+"/mirror/charts/app" || got.Credentials != "" || got.Cached {
			t.Errorf("result %+v", got)
		}
		if len(mirror.Requests()) == 0 {
			t.Fatal("the mirror saw no request")
		}
		for _, req := range mirror.Requests() {
			if req.Authorized {
				t.Errorf("credentials went to the mirror: %+v", req)
			}
		}
		// The same Component again: a cache hit, no request at all.
		mirror.ResetLog()
		r = kubectl(t, "mirrored", "-n", nsA, "--registry-policy", fallback, "-o", "json")
		wantCode(t, r, 0)
		if got := decodePolicyDoc(t, r).Results[0]; !got.Cached || got.Source != "" {
			t.Errorf("warm: %+v", got)
		}
		if n := len(mirror.Requests()); n != 0 {
			t.Errorf("a warm pin made %d requests", n)
		}
		_ = h
	})
	t.Run("a tag needs the origin unless the mirror resolves tags", func(t *testing.T) {
		newHome(t)
		putComponent(t, nsA, "tagged", testenv.OCISource(tagOnly, "origin-creds", nsA))
		r := kubectl(t, "tagged", "-n", nsA, "--registry-policy", fallback)
		wantCode(t, r, 1)
		wantStderr(t, r, origin)
		resolving := policyWith(fmt.Sprintf("  mirrors:\n  - location: %s/mirror/charts\n    resolveTags: true\n", mirror.Host))
		r = kubectl(t, "tagged", "-n", nsA, "--registry-policy", resolving, "-o", "json")
		wantCode(t, r, 0)
		if got := decodePolicyDoc(t, r).Results[0]; got.Digest != app123.Digest {
			t.Errorf("result %+v", got)
		}
	})
	t.Run("origin: never refuses a tag before any request", func(t *testing.T) {
		newHome(t)
		never := policyWith(fmt.Sprintf("  mirrors:\n  - location: %s/mirror/charts\n  origin: never\n", mirror.Host))
		putComponent(t, nsA, "tagged", testenv.OCISource(tagOnly, "origin-creds", nsA))
		mirror.ResetLog()
		r := kubectl(t, "tagged", "-n", nsA, "--registry-policy", never)
		wantCode(t, r, 2)
		wantStderr(t, r, "refused by the registry policy: "+tagOnly+" needs a digest pin", "Hint: pin the digest")
		if n := len(mirror.Requests()); n != 0 {
			t.Errorf("%d requests", n)
		}
		putComponent(t, nsA, "mirrored", testenv.OCISource(pinned, "origin-creds", nsA))
		r = kubectl(t, "mirrored", "-n", nsA, "--registry-policy", never)
		wantCode(t, r, 0)
	})
	t.Run("a mirror that fails is skipped with a warning; when all fail, one line per place", func(t *testing.T) {
		newHome(t)
		two := policyWith(fmt.Sprintf("  mirrors:\n  - location: %s/mirror/charts\n  - location: %s/mirror/charts\n", deadMirror, mirror.Host))
		putComponent(t, nsA, "mirrored", testenv.OCISource(pinned, "origin-creds", nsA))
		r := kubectl(t, "mirrored", "-n", nsA, "--registry-policy", two, "-o", "json")
		wantCode(t, r, 0)
		wantStderr(t, r, "Warning: the mirror "+deadMirror+"/mirror/charts/app failed for "+pinned+", trying the next place")
		if got := decodePolicyDoc(t, r).Results[0]; got.Source != mirror.Host+"/mirror/charts/app" {
			t.Errorf("result %+v", got)
		}
		newHome(t)
		missing := "oci://" + origin + "/charts/app@sha256:" + strings.Repeat("0", 64)
		putComponent(t, nsA, "missing", testenv.OCISource(missing, "origin-creds", nsA))
		r = kubectl(t, "missing", "-n", nsA, "--registry-policy", two)
		wantCode(t, r, 1)
		wantStderr(t, r, "every place failed:\n    mirror "+deadMirror+"/mirror/charts/app: ", "\n    mirror "+mirror.Host+"/mirror/charts/app: ", "\n    origin "+origin+"/charts/app: ")
	})
	t.Run("a mirror with its own Secret", func(t *testing.T) {
		newHome(t)
		// The private registry as the mirror of a dead origin, with the
		// mirror's own Secret in the system namespace, bound to it.
		putSecret(t, nsSys, "mirror-creds", boundCreds(stack.Secure.Host))
		pol := writePolicy(t, fmt.Sprintf(`registries:
- prefix: %s/charts
  mirrors:
  - location: %s/charts
    secretRef: {name: mirror-creds}
  origin: never
- prefix: %s
  tls:
    ca: |
%s
`, origin, stack.Secure.Host, stack.Secure.Host, pemBlock(t, stack.Secure.CAFile, "      ")))
		putComponent(t, nsA, "mirrored", testenv.OCISource(pinned, "origin-creds", nsA))
		r := kubectl(t, "mirrored", "-n", nsA, "--registry-policy", pol, "-o", "json")
		wantCode(t, r, 0)
		if got := decodePolicyDoc(t, r).Results[0]; got.Credentials != "deployment-system/mirror-creds" || got.Source != stack.Secure.Host+"/charts/app" {
			t.Errorf("result %+v", got)
		}
	})
}

// TestPolicyBlocked: a blocked prefix is refused before any request.
func TestPolicyBlocked(t *testing.T) {
	h := newHome(t)
	pol := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/charts\n  blocked: true\n", stack.Secure.Host))
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
	stack.Secure.ResetLog()
	r := kubectl(t, "app", "-n", nsA, "--registry-policy", pol, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 2)
	wantStderr(t, r, "refused by the registry policy: "+app123.Ref+" is under a blocked prefix (registry policy file")
	if n := requests(stack.Secure); n != 0 {
		t.Errorf("%d registry requests, want 0", n)
	}
	assertNoCacheEntries(t, h)
	// Every hint names the commands and flags of the face that printed it:
	// krew installs no ocisrc, so the kubectl face shows the policy with
	// kubectl; Helm's face says "helm ocisrc" and --kube-context.
	wantStderr(t, r, "Hint: ask the platform team which registry serves this chart; see: the registry policy, in the local file and in `kubectl get configmap ocisrc-registry-policy -n deployment-system -o yaml`")
	if strings.Contains(r.stderr, "ocisrc policy") {
		t.Errorf("the kubectl face names a command it does not have:\n%s", r.stderr)
	}
	helmEnv := map[string]string{"HELM_PLUGIN_NAME": "ocisrc", "HELM_NAMESPACE": nsA, "KUBECONFIG": stack.Cluster.Kubeconfig}
	r = runFace(t, "ocisrc", helmEnv, "fetch", "app", "--registry-policy", pol, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 2)
	wantStderr(t, r, "Hint: ask the platform team which registry serves this chart; see: helm ocisrc policy explain "+app123.Ref)
	r = runFace(t, "ocisrc", map[string]string{"HELM_PLUGIN_NAME": "ocisrc", "HELM_NAMESPACE": "no-such-namespace", "KUBECONFIG": stack.Cluster.Kubeconfig}, "fetch", "app")
	wantCode(t, r, 1)
	wantStderr(t, r, "Hint: check -n/--namespace and --kube-context")
	r = runFace(t, "ocisrc", nil, "--kubeconfig", stack.Cluster.Kubeconfig, "fetch", "app", "-n", nsA, "--registry-policy", pol, "--registry-ca-file", stack.Secure.CAFile)
	wantStderr(t, r, "Hint: ask the platform team which registry serves this chart; see: ocisrc policy explain "+app123.Ref)
}

// TestPolicyFile: where the local file comes from, and a bad one.
func TestPolicyFile(t *testing.T) {
	newHome(t)
	putComponent(t, nsA, "web", testenv.OCISource(openApp.Ref, "", ""))
	bad := writePolicy(t, "registries:\n- prefix: r.io\n  mirrors:\n  - locaton: m.io\n")
	r := kubectl(t, "web", "-n", nsA, "--registry-policy", bad)
	wantCode(t, r, 2)
	wantStderr(t, r, `registry policy file "`+bad+`": registries[0].mirrors[0].locaton: unknown field: expected one of location, resolveTags, secretRef`)
	// Named by the environment.
	t.Setenv("OCISRC_REGISTRY_POLICY", bad)
	r = kubectl(t, "web", "-n", nsA)
	wantCode(t, r, 2)
	wantStderr(t, r, "locaton: unknown field")
	t.Setenv("OCISRC_REGISTRY_POLICY", filepath.Join(t.TempDir(), "missing.yaml"))
	r = kubectl(t, "web", "-n", nsA)
	wantCode(t, r, 2)
	wantStderr(t, r, "reading the registry policy file", "no such file or directory", "Hint: OCISRC_REGISTRY_POLICY names it: set it to an existing file, or unset it")
	// Named by the flag: the hint is about the flag, not the environment.
	t.Setenv("OCISRC_REGISTRY_POLICY", "")
	r = kubectl(t, "web", "-n", nsA, "--registry-policy", filepath.Join(t.TempDir(), "missing.yaml"))
	wantCode(t, r, 2)
	wantStderr(t, r, "Hint: pass --registry-policy with an existing file")
	if strings.Contains(r.stderr, "OCISRC_REGISTRY_POLICY") {
		t.Errorf("the hint names an environment variable that is not set:\n%s", r.stderr)
	}
	// The default place: used when it exists, nothing when it does not.
	t.Setenv("OCISRC_REGISTRY_POLICY", "")
	r = kubectl(t, "web", "-n", nsA, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 0)
	def := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "ocisrc", "registry-policy.yaml")
	if err := os.MkdirAll(filepath.Dir(def), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(def, []byte("apiVersion: ocisrc.dev/v1alpha1\nkind: RegistryPolicy\nregistries:\n- prefix: "+stack.Open.Host+"\n  blocked: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = kubectl(t, "web", "-n", nsA)
	wantCode(t, r, 2)
	wantStderr(t, r, "is under a blocked prefix (registry policy file \""+def+"\" (prefix "+stack.Open.Host+"))")
}

// TestPolicyConfigMap: the platform team's ConfigMap in the real API server.
func TestPolicyConfigMap(t *testing.T) {
	ctx := context.Background()
	set := func(t *testing.T, policy string) {
		t.Helper()
		if err := stack.Cluster.PutConfigMap(ctx, nsSys, "ocisrc-registry-policy", map[string]string{"policy.yaml": "apiVersion: ocisrc.dev/v1alpha1\nkind: RegistryPolicy\n" + policy}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stack.Cluster.DeleteConfigMap(ctx, nsSys, "ocisrc-registry-policy") })
	}
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
	t.Run("a CA from the cluster", func(t *testing.T) {
		newHome(t)
		set(t, fmt.Sprintf("registries:\n- prefix: %s\n  tls:\n    ca: |\n%s\n", stack.Secure.Host, pemBlock(t, stack.Secure.CAFile, "      ")))
		r := kubectl(t, "app", "-n", nsA)
		wantCode(t, r, 0)
		// --cluster-registry-policy=false skips it.
		newHome(t)
		r = kubectl(t, "app", "-n", nsA, "--cluster-registry-policy=false")
		wantCode(t, r, 1)
		wantStderr(t, r, "TLS connection to "+stack.Secure.Host+" failed")
	})
	t.Run("a ConfigMap that asks for insecureSkipVerify is refused as a whole", func(t *testing.T) {
		newHome(t)
		set(t, fmt.Sprintf("registries:\n- prefix: %s\n  tls: {insecureSkipVerify: true}\n", stack.Secure.Host))
		stack.Secure.ResetLog()
		r := kubectl(t, "app", "-n", nsA)
		wantCode(t, r, 2)
		wantStderr(t, r, `ConfigMap "deployment-system/ocisrc-registry-policy": registries[0].tls.insecureSkipVerify: may be set only in a local policy file, never from the cluster: a ConfigMap that sets it is refused as a whole`)
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("%d registry requests", n)
		}
	})
	t.Run("a restricted user who cannot read it gets a warning and goes on", func(t *testing.T) {
		newHome(t)
		set(t, fmt.Sprintf("registries:\n- prefix: %s\n  blocked: true\n", stack.Open.Host))
		user := "policy-reader-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
		if len(user) > 60 {
			user = user[:60]
		}
		kc, err := stack.Cluster.AddUser(user)
		if err != nil {
			t.Fatal(err)
		}
		if err := stack.Cluster.Grant(ctx, nsA, user, "deploy.example.io", []string{"components"}, []string{"get", "list"}); err != nil {
			t.Fatal(err)
		}
		putComponent(t, nsA, "web", testenv.OCISource(openApp.Ref, "", ""))
		r := runFace(t, "kubectl-component_pull", nil, "--kubeconfig", kc, "web", "-n", nsA, "--registry-ca-file", stack.Open.CAFile)
		wantCode(t, r, 0)
		wantStderr(t, r, "Warning: cannot read ConfigMap deployment-system/ocisrc-registry-policy (forbidden): the cluster's registry policy is not applied")
		// The admin reads it, and the block applies.
		r = kubectl(t, "web", "-n", nsA, "--registry-ca-file", stack.Open.CAFile)
		wantCode(t, r, 2)
		wantStderr(t, r, `is under a blocked prefix (ConfigMap "deployment-system/ocisrc-registry-policy" (prefix `+stack.Open.Host+`))`)
	})
}

// TestPolicyCommands: explain and validate.
func TestPolicyCommands(t *testing.T) {
	newHome(t)
	pol := writePolicy(t, fmt.Sprintf(`registries:
- prefix: %s/charts
  mirrors:
  - location: mirror.internal:5000/base
  origin: never
  tls:
    ca: |
%s
`, stack.Secure.Host, pemBlock(t, stack.Secure.CAFile, "      ")))
	ref := app123.Ref
	r := runFace(t, "ocisrc", nil, "policy", "explain", ref, "--registry-policy", pol, "--cluster-registry-policy=false")
	wantCode(t, r, 0)
	for _, want := range []string{
		"Reference:   " + ref,
		"Matched:     prefix " + stack.Secure.Host + "/charts (registry policy file \"" + pol + "\")",
		"Mirror 1:    mirror.internal:5000/base/app (digest-pinned references only), anonymous",
		"Origin:      " + stack.Secure.Host + "/charts/app: never contacted",
		"TLS: system roots + CN=ocisrc test CA",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("explain does not say %q:\n%s", want, r.stdout)
		}
	}
	r = runFace(t, "ocisrc", nil, "policy", "explain", ref, "--registry-policy", pol, "--cluster-registry-policy=false", "-o", "json")
	wantCode(t, r, 0)
	var d struct {
		Reference string
		Origin    string
		Mirrors   []struct{ Repository string }
		Matches   []struct{ Prefix, From string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Origin != "never" || len(d.Mirrors) != 1 || d.Mirrors[0].Repository != "mirror.internal:5000/base/app" {
		t.Errorf("json: %v %+v\n%s", err, d, r.stdout)
	}
	// The Helm face has it too, and the cluster's ConfigMap is read.
	r = runFace(t, "ocisrc", map[string]string{"HELM_PLUGIN_NAME": "ocisrc", "KUBECONFIG": stack.Cluster.Kubeconfig}, "policy", "explain", ref, "--registry-policy", pol)
	wantCode(t, r, 0)

	r = runFace(t, "ocisrc", nil, "policy", "validate", pol)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "is a valid RegistryPolicy as a local policy file, with 1 registry") {
		t.Errorf("validate: %s", r)
	}
	bad := writePolicy(t, "registries:\n- prefix: r.io\n  plainHTTP: true\n")
	r = runFace(t, "ocisrc", nil, "policy", "validate", bad)
	wantCode(t, r, 0)
	r = runFace(t, "ocisrc", nil, "policy", "validate", "--as-configmap", bad)
	wantCode(t, r, 2)
	wantStderr(t, r, `registry policy file "`+bad+`" (as the ConfigMap's content): registries[0].plainHTTP: may be set only in a local policy file`)
}
