package integration

// The rules of the third security round, each against the real registry
// and API server: the cache is a root bound to identities, what leaves it
// is what was verified, claims unlock nothing, one decision on every path,
// bundles push what they list, trust inputs are what they say. Each test
// stands beside the legitimate owner's successful run.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/internal/testenv"
	"github.com/ocisrc/ocisrc/internal/testsign"
)

// componentFile writes a Component manifest claiming namespace ns.
func componentFile(t *testing.T, ns, name, chart, secret, secretNS string) string {
	t.Helper()
	body := "apiVersion: deploy.example.io/v1alpha1\nkind: Component\nmetadata: {name: " + name + ", namespace: " + ns + "}\n" +
		"spec:\n  source:\n    type: oci\n    chart: \"" + chart + "\"\n"
	if secret != "" {
		body += "    authentication: {method: registry, secretRef: {name: " + secret + ", namespace: " + secretNS + "}}\n"
	}
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClaimsUnlockNothing: a Component from a file chooses its host; its
// Secret must be bound to that host, whatever namespace the file claims and
// with or without -A, in fetch and in bundle create.
func TestClaimsUnlockNothing(t *testing.T) {
	ca := []string{"--registry-ca-file", stack.Secure.CAFile}
	// team-b's Secret, bound to nothing: team-b's own Components in the
	// cluster may send it where they name.
	putSecret(t, nsB, "team-b-creds", goodCreds())
	claim := componentFile(t, nsB, "claim", app123.Ref, "team-b-creds", nsB)
	for name, args := range map[string][]string{
		"fetch -f -A":         {"-f", claim, "-A"},
		"fetch -f -n team-b":  {"-f", claim, "-n", nsB},
		"bundle create -f -A": nil,
	} {
		t.Run(name, func(t *testing.T) {
			h := newHome(t)
			stack.Secure.ResetLog()
			var r result
			if args == nil {
				out := filepath.Join(t.TempDir(), "b.tar")
				r = runBinary(t, h, nil, append([]string{"bundle", "create", out, "-f", claim, "-A", "--kubeconfig", stack.Cluster.Kubeconfig}, ca...)...)
				if _, err := os.Stat(out); err == nil {
					t.Error("a bundle was written")
				}
			} else {
				r = kubectl(t, append(args, ca...)...)
			}
			wantCode(t, r, 2)
			wantStderr(t, r, `secret "team-b/team-b-creds" is bound to no registry: refusing to send its credentials to `+stack.Secure.Host+", a host a Component from a file chose",
				"or apply the Component to the cluster and pull it from there by name, with -n team-b")
			if n := requests(stack.Secure); n != 0 {
				t.Errorf("team-b's credentials reached the file's registry: %d requests", n)
			}
		})
	}
	t.Run("the local policy's allowUnboundSystemSecrets does not cover a file", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsSys, "sys-unbound", goodCreds())
		sys := componentFile(t, nsSys, "sys-claim", app123.Ref, "sys-unbound", nsSys)
		pol := writePolicy(t, "allowUnboundSystemSecrets: true\n")
		stack.Secure.ResetLog()
		r := kubectl(t, append([]string{"-f", sys, "-A", "--registry-policy", pol}, ca...)...)
		wantCode(t, r, 2)
		wantStderr(t, r, `secret "deployment-system/sys-unbound" is bound to no registry`)
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("%d registry requests", n)
		}
	})
	t.Run("the owner: the same Component in the cluster, and a bound Secret", func(t *testing.T) {
		newHome(t)
		putComponent(t, nsB, "claim", testenv.OCISource(app123.Ref, "team-b-creds", nsB))
		wantCode(t, kubectl(t, append([]string{"claim", "-n", nsB}, ca...)...), 0)
		putSecret(t, nsB, "team-b-bound", boundCreds(stack.Secure.Host))
		bound := componentFile(t, nsB, "claim", app123.Ref, "team-b-bound", nsB)
		wantCode(t, kubectl(t, append([]string{"-f", bound, "-A"}, ca...)...), 0)
	})
	t.Run("names in a file and flags are checked where they enter", func(t *testing.T) {
		newHome(t)
		bad := componentFile(t, "Team_A", "app", openApp.Ref, "", "")
		r := kubectl(t, "-f", bad, "-A")
		wantCode(t, r, 2)
		wantStderr(t, r, `metadata.namespace "Team_A" is not a valid namespace`)
		r = kubectl(t, "app", "-n", nsA, "--system-namespace", "Bad_NS")
		wantCode(t, r, 2)
		wantStderr(t, r, `--system-namespace "Bad_NS" is not a valid namespace`)
	})
}

// TestCacheIsARoot: links standing where the store's own directories
// should be are never followed: prune removes the link, not what it names,
// and a pull does not write through it.
func TestCacheIsARoot(t *testing.T) {
	for _, dir := range []string{"index", "proofs", "hosts"} {
		t.Run(dir, func(t *testing.T) {
			h := newHome(t)
			putSecret(t, nsA, "creds", goodCreds())
			putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
			args := []string{"fetch", "app", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Secure.CAFile}
			wantCode(t, runBinary(t, h, nil, args...), 0)
			store := filepath.Join(h.Env["HELM_REPOSITORY_CACHE"], "ocisrc")
			// Someone with write access to a shared cache swaps the
			// directory for a link to a directory of yours.
			outside := t.TempDir()
			keep := filepath.Join(outside, "keep.json")
			if err := os.WriteFile(keep, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(store, dir)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(store, dir)); err != nil {
				t.Fatal(err)
			}
			r := runBinary(t, h, nil, args...)
			wantCode(t, r, 0)
			if files, _ := testenv.Files(outside); len(files) != 1 {
				t.Errorf("a pull wrote through the link: %v", files)
			}
			r = runBinary(t, h, nil, "cache", "prune", "--all")
			wantCode(t, r, 0)
			if b, err := os.ReadFile(keep); err != nil || string(b) != "keep me" {
				t.Fatalf("cache prune reached outside the cache: %v", err)
			}
			if files, _ := testenv.Files(outside); len(files) != 1 {
				t.Errorf("outside the cache: %v", files)
			}
			if info, err := os.Lstat(filepath.Join(store, dir)); err == nil && info.Mode()&os.ModeSymlink != 0 {
				t.Errorf("prune left the link %s", dir)
			}
		})
	}
}

// TestCacheChecksEveryFile: a shared-cache writer rewrites the files an
// entry is proven from; none of it is served.
func TestCacheChecksEveryFile(t *testing.T) {
	ctx := context.Background()
	reg, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), CA: stack.Open.CA})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	c, err := testenv.BuildChart("app", "1.2.3", 0)
	if err != nil {
		t.Fatal(err)
	}
	p123, err := reg.PushChart(ctx, "charts/app", c, "", "")
	if err != nil {
		t.Fatal(err)
	}
	c4, err := testenv.BuildChart("app", "1.2.4", 0)
	if err != nil {
		t.Fatal(err)
	}
	p124, err := reg.PushChart(ctx, "charts/app", c4, "", "")
	if err != nil {
		t.Fatal(err)
	}
	pinned := p123.Ref + "@" + p123.Digest
	ca := []string{"--registry-ca-file", stack.Open.CAFile}
	warm := func(t *testing.T) (*testenv.Home, string) {
		h := newHome(t)
		putComponent(t, nsA, "pin", testenv.OCISource(pinned, "", ""))
		r := kubectl(t, append([]string{"pin", "-n", nsA, "-o", "json"}, ca...)...)
		wantCode(t, r, 0)
		return h, filepath.Dir(decodeJSON(t, r).Results[0].Path)
	}
	t.Run("the manifest rewritten to match a substitute archive", func(t *testing.T) {
		_, dir := warm(t)
		sub := []byte("a substitute archive")
		var m ocispec.Manifest
		raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		if err != nil || json.Unmarshal(raw, &m) != nil {
			t.Fatal(err)
		}
		m.Layers[0].Digest, m.Layers[0].Size = digest.FromBytes(sub), int64(len(sub))
		doctored, _ := json.Marshal(m)
		write(t, filepath.Join(dir, "manifest.json"), doctored)
		write(t, filepath.Join(dir, "app-1.2.3.tgz"), sub)
		r := kubectl(t, append([]string{"pin", "-n", nsA, "--offline"}, ca...)...)
		wantCode(t, r, 1)
		wantStderr(t, r, "fails its checks (its manifest hashes to "+digest.FromBytes(doctored).String()+")")
	})
	t.Run("the config rewritten to another version, the archive renamed", func(t *testing.T) {
		_, dir := warm(t)
		cfg, _ := json.Marshal(map[string]string{"apiVersion": "v2", "name": "app", "version": "9.9.9"})
		write(t, filepath.Join(dir, "config.json"), cfg)
		if err := os.Rename(filepath.Join(dir, "app-1.2.3.tgz"), filepath.Join(dir, "app-9.9.9.tgz")); err != nil {
			t.Fatal(err)
		}
		putComponent(t, nsA, "nines", testenv.OCISource(strings.Replace(p123.Ref, ":1.2.3", ":9.9.9", 1)+"@"+p123.Digest, "", ""))
		r := kubectl(t, append([]string{"nines", "-n", nsA, "--offline"}, ca...)...)
		wantCode(t, r, 1)
		wantStderr(t, r, "fails its checks (its config does not hash to the manifest's config)")
	})
	t.Run("a pin of another version's digest, already cached", func(t *testing.T) {
		warm(t)
		putComponent(t, nsA, "v124", testenv.OCISource(p124.Ref+"@"+p124.Digest, "", ""))
		wantCode(t, kubectl(t, append([]string{"v124", "-n", nsA}, ca...)...), 0)
		putComponent(t, nsA, "liar", testenv.OCISource(p123.Ref+"@"+p124.Digest, "", ""))
		for _, extra := range [][]string{nil, {"--offline"}} {
			r := kubectl(t, append(append([]string{"liar", "-n", nsA}, ca...), extra...)...)
			wantCode(t, r, 1)
			wantStderr(t, r, `is version "1.2.4", not "1.2.3": the digest does not belong to this version`)
		}
	})
	t.Run("a huge sparse archive is refused from its size, not hashed", func(t *testing.T) {
		h, dir := warm(t)
		huge := filepath.Join(dir, "app-1.2.3.tgz")
		if err := os.Truncate(huge, 1<<40); err != nil {
			t.Fatal(err)
		}
		// Gone before the home is scanned for planted secrets.
		t.Cleanup(func() { _ = os.Remove(huge) })
		r := runBinary(t, h, nil, "cache", "list")
		wantCode(t, r, 0)
		wantStderr(t, r, "1 cache entry failed its checks")
		r = kubectl(t, append([]string{"pin", "-n", nsA, "--offline"}, ca...)...)
		wantCode(t, r, 1)
		wantStderr(t, r, "its archive is 1099511627776 bytes, not the chart layer's")
	})
}

// TestWhatLeavesTheCacheIsWhatWasVerified: bytes renamed over the cached
// archive after it was proven — while the registry is asked to prove a new
// Secret's access — never reach --destination, --untar or the downloader.
func TestWhatLeavesTheCacheIsWhatWasVerified(t *testing.T) {
	for _, mode := range []string{"--destination", "--untar", "downloader"} {
		t.Run(mode, func(t *testing.T) {
			h := newHome(t)
			putSecret(t, nsA, "creds", goodCreds())
			putSecret(t, nsB, "creds", goodCreds())
			pinned := app123.Ref + "@" + app123.Digest
			putComponent(t, nsA, "app", testenv.OCISource(pinned, "creds", nsA))
			putComponent(t, nsB, "app", testenv.OCISource(pinned, "creds", nsB))
			r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
			wantCode(t, r, 0)
			archive := decodeJSON(t, r).Results[0].Path
			// team-b's Secret is new to the cache: its run asks the
			// registry (a HEAD), and the archive is swapped meanwhile.
			var swapped atomic.Bool
			stack.Secure.Hook(func(req *http.Request) {
				if req.Method == http.MethodHead && strings.HasSuffix(req.URL.Path, "/manifests/"+app123.Digest) && swapped.CompareAndSwap(false, true) {
					tmp := archive + ".swap"
					if err := os.WriteFile(tmp, substituteArchive(t, len(app123.Blobs[1])), 0o644); err == nil {
						_ = os.Rename(tmp, archive)
					}
				}
			})
			defer stack.Secure.Hook(nil)
			dest := filepath.Join(t.TempDir(), "charts")
			switch mode {
			case "downloader":
				env := map[string]string{"HELM_PLUGIN_NAME": "ocisrc-getter", "KUBECONFIG": stack.Cluster.Kubeconfig, "HELM_NAMESPACE": nsB}
				r = runBinary(t, h, env, "", "", stack.Secure.CAFile, "component://"+nsB+"/app")
				if r.stdout != "" {
					t.Errorf("the downloader wrote %d bytes", len(r.stdout))
				}
			case "--untar":
				r = kubectl(t, "app", "-n", nsB, "--registry-ca-file", stack.Secure.CAFile, "-d", dest, "--untar")
			default:
				r = kubectl(t, "app", "-n", nsB, "--registry-ca-file", stack.Secure.CAFile, "-d", dest)
			}
			if !swapped.Load() {
				t.Fatal("the registry was not asked: the test swapped nothing")
			}
			wantCode(t, r, 1)
			wantStderr(t, r, "the cached archive changed after it was verified")
			if files, _ := testenv.Files(filepath.Dir(dest)); len(files) != 0 {
				t.Errorf("placed: %v", files)
			}
		})
	}
}

// substituteArchive is another chart "app" of exactly size bytes: a valid
// gzipped tar (what a tar reader takes for the chart) padded with zeros,
// which only a hash of every byte tells from the cached archive.
func substituteArchive(t *testing.T, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range map[string]string{"app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.2.3\n", "app/templates/evil.yaml": "kind: Substitute\n"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > size {
		t.Fatalf("the substitute is %d bytes, more than %d", buf.Len(), size)
	}
	return append(buf.Bytes(), make([]byte, size-buf.Len())...)
}

// TestCertificatePullIsNotAnonymous: a pull authenticated by a client
// certificate is recorded as that certificate's, so a later Component
// without it is not served the pin.
func TestCertificatePullIsNotAnonymous(t *testing.T) {
	h := newHome(t)
	_, certPEM, keyPEM, err := clientCA.ClientCertificate("tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writePair(t, certPEM, keyPEM)
	pinned := mtlsApp.Ref + "@" + mtlsApp.Digest
	putComponent(t, nsA, "mtls", testenv.OCISource(pinned, "", ""))
	putComponent(t, nsB, "mtls", testenv.OCISource(pinned, "", ""))
	base := []string{"--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", mtlsReg.CAFile, "-o", "json"}
	r := runBinary(t, h, nil, append([]string{"fetch", "mtls", "-n", nsA, "--registry-cert-file", certFile, "--registry-key-file", keyFile}, base...)...)
	wantCode(t, r, 0)
	// The same certificate: served from the cache, no request.
	mtlsReg.ResetLog()
	r = runBinary(t, h, nil, append([]string{"fetch", "mtls", "-n", nsB, "--registry-cert-file", certFile, "--registry-key-file", keyFile}, base...)...)
	wantCode(t, r, 0)
	if n := requests(mtlsReg); n != 0 {
		t.Errorf("the certificate's own pin made %d requests", n)
	}
	// Without it: the registry is asked, and refuses.
	r = runBinary(t, h, nil, append([]string{"fetch", "mtls", "-n", nsB}, base...)...)
	if r.code == 0 {
		t.Fatalf("a certificate's pull was served to a run without the certificate:\n%s", r)
	}
	wantStderr(t, r, "client certificate")
}

// TestPolicyFieldsFromTheirOwnPrefix: a longer prefix that sets only TLS
// keeps the shorter prefix's verify; policy explain names the prefix each
// field comes from; a Component that names a mirror directly is warned of.
func TestPolicyFieldsFromTheirOwnPrefix(t *testing.T) {
	f := signed(t)
	newHome(t)
	putComponent(t, nsB, "unsigned", testenv.OCISource(f.unsigned.Ref, "", ""))
	putComponent(t, nsB, "signed", testenv.OCISource(f.legacy.Ref, "", ""))
	base := stack.Open.Host + "/signed"
	pol := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s\n  verify:\n%s\n- prefix: %s/unsigned\n  tls:\n    ca: |\n%s\n", base, cosignVerify(f.key), base, pemBlock(t, stack.Open.CAFile, "      ")))
	r := kubectl(t, "unsigned", "-n", nsB, "--registry-policy", pol, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 2)
	wantStderr(t, r, "has no valid signature (required by registry policy file \""+pol+"\" (prefix "+base+"))")
	wantCode(t, kubectl(t, "signed", "-n", nsB, "--registry-policy", pol, "--registry-ca-file", stack.Open.CAFile), 0)
	r = runFace(t, "ocisrc", nil, "policy", "explain", f.unsigned.Ref, "--registry-policy", pol, "--cluster-registry-policy=false")
	wantCode(t, r, 0)
	for _, want := range []string{
		"Verify:      a valid signature is required (registry policy file \"" + pol + "\" (prefix " + base + "))",
		"(registry policy file \"" + pol + "\" (prefix " + base + "/unsigned) (tls.ca))",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("explain does not say %q:\n%s", want, r.stdout)
		}
	}
	// A blocked reference: explain says it is refused, and the origin is
	// not contacted.
	blocked := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s\n  blocked: true\n", base))
	r = runFace(t, "ocisrc", nil, "policy", "explain", f.unsigned.Ref, "--registry-policy", blocked, "--cluster-registry-policy=false")
	if !strings.Contains(r.stdout, "not contacted: the reference is blocked") || !strings.Contains(r.stdout, "Refused:     refused by the registry policy") {
		t.Errorf("explain of a blocked reference:\n%s", r)
	}
	// A mirror of a verified prefix whose location has no verify of its own.
	mirrored := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s\n  verify:\n%s\n  mirrors: [{location: mirror.internal/signed}]\n", base, cosignVerify(f.key)))
	r = runFace(t, "ocisrc", nil, "policy", "validate", mirrored)
	wantCode(t, r, 0)
	wantStderr(t, r, "Warning: registry policy file \""+mirrored+"\": registries[0].mirrors[0].location mirror.internal/signed: a Component that names the mirror directly is not held to the signature registries[0] (prefix "+base+") requires")
}

// TestBundlePushesWhatItLists: a doctored index with a second entry for a
// listed tag is refused; nothing is pushed.
func TestBundlePushesWhatItLists(t *testing.T) {
	h := newHome(t)
	other := pushFor(t, "bundled/other", "1.0.0")
	putComponent(t, nsB, "web", testenv.OCISource(openApp.Ref, "", ""))
	putComponent(t, nsB, "other", testenv.OCISource(other.Ref, "", ""))
	good := filepath.Join(t.TempDir(), "charts.tar")
	r := runBinary(t, h, nil, "bundle", "create", good, "web", "other", "-n", nsB, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 0)
	doctored := filepath.Join(t.TempDir(), "doctored.tar")
	otherRef := other.Ref
	rewriteTar(t, good, doctored, "index.json", func(b []byte) []byte {
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		var web, forgedFrom ocispec.Descriptor
		for _, d := range idx.Manifests {
			switch ref := d.Annotations["dev.ocisrc.reference"]; {
			case d.Annotations["dev.ocisrc.kind"] != "chart":
			case strings.HasPrefix(ref, openApp.Ref):
				web = d
			case strings.HasPrefix(ref, otherRef):
				forgedFrom = d
			}
		}
		if web.Digest == "" || forgedFrom.Digest == "" {
			t.Fatalf("the bundle's index: %s", b)
		}
		// A second entry that names web's tag but holds the other chart.
		forged := forgedFrom
		forged.Annotations = web.Annotations
		idx.Manifests = append(idx.Manifests, forged)
		out, _ := json.Marshal(idx)
		return out
	})
	target, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), CA: stack.Open.CA})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	for _, args := range [][]string{{"bundle", "list", doctored}, {"bundle", "push", doctored, "--to", target.Host + "/base", "--registry-ca-file", stack.Open.CAFile, "--cluster-registry-policy=false"}} {
		r := runBinary(t, h, nil, args...)
		wantCode(t, r, 1)
		wantStderr(t, r, "two index entries name")
	}
	// A "signature" entry under a tag that is not a .sig or .att: it would
	// push the other chart as web's next version.
	retagged := filepath.Join(t.TempDir(), "retagged.tar")
	rewriteTar(t, good, retagged, "index.json", func(b []byte) []byte {
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		var webRepo string
		for _, d := range idx.Manifests {
			if strings.HasPrefix(d.Annotations["dev.ocisrc.reference"], openApp.Ref) {
				webRepo = d.Annotations["dev.ocisrc.repository"]
			}
		}
		for _, d := range idx.Manifests {
			if strings.HasPrefix(d.Annotations["dev.ocisrc.reference"], otherRef) {
				forged := d
				forged.Annotations = map[string]string{"dev.ocisrc.kind": "signature", "dev.ocisrc.repository": webRepo, "dev.ocisrc.tag": "9.9.9"}
				idx.Manifests = append(idx.Manifests, forged)
				break
			}
		}
		out, _ := json.Marshal(idx)
		return out
	})
	for _, args := range [][]string{{"bundle", "list", retagged}, {"bundle", "push", retagged, "--to", target.Host + "/base", "--registry-ca-file", stack.Open.CAFile, "--cluster-registry-policy=false"}} {
		r := runBinary(t, h, nil, args...)
		wantCode(t, r, 1)
		wantStderr(t, r, `is tagged "9.9.9", not sha256-<hex>.sig or .att: refusing the bundle`)
	}
	if n := len(target.Requests()); n != 0 {
		t.Errorf("the doctored bundle made %d requests to the target", n)
	}
	// The bundle as written pushes.
	r = runBinary(t, h, nil, "bundle", "push", good, "--to", target.Host+"/base", "--registry-ca-file", stack.Open.CAFile, "--cluster-registry-policy=false", "--kubeconfig", stack.Cluster.Kubeconfig)
	wantCode(t, r, 0)
}

// write writes a file of the test.
func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteTar copies the tar src to dst, passing the file name through edit.
func rewriteTar(t *testing.T, src, dst, name string, edit func([]byte) []byte) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == name {
			data = edit(data)
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTrustInputsAreWhatTheySay: a Notation signature whose signing time is
// the signer's own word is refused; a keyless identity regexp that only
// compiles inside its anchors is refused as invalid input.
func TestTrustInputsAreWhatTheySay(t *testing.T) {
	ctx := context.Background()
	nca, err := testsign.NewNotationCA("ocisrc-authority")
	if err != nil {
		t.Fatal(err)
	}
	p := pushFor(t, "authority/app", "1.0.0")
	env, err := nca.SignAsAuthority(p.Manifest, "application/jose+json")
	if err != nil {
		t.Fatal(err)
	}
	if err := stack.Open.PushNotationReferrer(ctx, "authority/app", p.Manifest, env, "application/jose+json", auth.Credential{}); err != nil {
		t.Fatal(err)
	}
	pol := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/authority\n  verify:\n    notation:\n      trustStore:\n      - |\n%s\n      identities: [%q]\n", stack.Open.Host, indentBlock(nca.RootPEM(), "        "), nca.Identity()))
	r := fetchVerified(t, p, "--registry-policy", pol)
	wantCode(t, r, 2)
	wantStderr(t, r, "has no valid signature", "notation:")
	// The CA's ordinary signature verifies.
	good := pushFor(t, "authority/good", "1.0.0")
	sig, err := nca.Sign(good.Manifest, "application/jose+json")
	if err != nil {
		t.Fatal(err)
	}
	if err := stack.Open.PushNotationReferrer(ctx, "authority/good", good.Manifest, sig, "application/jose+json", auth.Credential{}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, fetchVerified(t, good, "--registry-policy", pol), 0)

	for _, args := range [][]string{
		{"--verify-identity", ciIssuer + "=https://git.example.com/platform/.*)|(.*"},
		{"--registry-policy", keylessPolicy(t, fmt.Sprintf("        - {issuer: %q, subjectRegExp: %q}\n", ciIssuer, `https://git\.example\.com/platform/.*)|(.*`), "")},
	} {
		r := fetchVerified(t, good, args...)
		wantCode(t, r, 2)
		wantStderr(t, r, `has a regular expression that is not valid by itself: "https://git`)
	}
}

// TestOnlyTheSecretsADecisionNeedsAreRead: a bulk run reads the Secrets
// its Components' decisions need, and no other: none for a Component under
// a blocked prefix or under origin: never, and the system namespace's only
// after the Component's own namespace answers NotFound — never read ahead.
func TestOnlyTheSecretsADecisionNeedsAreRead(t *testing.T) {
	h := newHome(t)
	ns := "reads-only-needed"
	if err := stack.Cluster.EnsureNamespace(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	putSecret(t, ns, "own", goodCreds())
	putSecret(t, nsSys, "own", boundCreds(stack.Secure.Host))
	putSecret(t, ns, "blocked-creds", goodCreds())
	putSecret(t, ns, "never-creds", goodCreds())
	for i := range 3 {
		putComponent(t, ns, fmt.Sprintf("own-%d", i), testenv.OCISource(app123.Ref, "own", ns))
	}
	putComponent(t, ns, "blocked", testenv.OCISource("oci://blocked.example.com/charts/app:1.0.0", "blocked-creds", ns))
	putComponent(t, ns, "never", testenv.OCISource("oci://never.example.com/charts/app:1.0.0@sha256:"+strings.Repeat("a", 64), "never-creds", ns))
	pol := writePolicy(t, "registries:\n- prefix: blocked.example.com\n  blocked: true\n- prefix: never.example.com\n  origin: never\n  mirrors: [{location: mirror.never.example.com}]\n")
	r := runBinary(t, h, nil, "fetch", "--all", "-n", ns, "--kubeconfig", stack.Cluster.Kubeconfig, "-v=6", "--registry-policy", pol, "--registry-ca-file", stack.Secure.CAFile)
	if r.code == 0 {
		t.Fatalf("the blocked Component was pulled:\n%s", r)
	}
	reads := func(path string) int { return strings.Count(r.stderr, "/namespaces/"+path) }
	if n := reads(ns + "/secrets/own"); n != 1 {
		t.Errorf("the Components' own Secret was read %d times, want 1", n)
	}
	if n := reads(nsSys + "/secrets/own"); n != 0 {
		t.Errorf("the system namespace's Secret was read %d times, though each Component's namespace has it", n)
	}
	for _, s := range []string{"blocked-creds", "never-creds"} {
		if n := reads(ns + "/secrets/" + s); n != 0 {
			t.Errorf("secret %s, which no rule needs, was read %d times", s, n)
		}
	}
}

// TestDryRunIsPure: a dry run is given no transport and no writer: with
// --verify-identity it reaches neither the registry nor the public
// Sigstore instance's TUF repository, and writes no file.
func TestDryRunIsPure(t *testing.T) {
	h := newHome(t)
	proxy := testenv.NewRecordingProxy()
	defer proxy.Close()
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
	stack.Secure.ResetLog()
	env := map[string]string{"HTTPS_PROXY": proxy.URL, "HTTP_PROXY": proxy.URL, "NO_PROXY": "127.0.0.1"}
	r := runBinary(t, h, env, "fetch", "app", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "--dry-run",
		"--verify-identity", ciIssuer+"=https://git\\.example\\.com/.*", "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, nsA+"/app  would pull  ") {
		t.Errorf("stdout: %s", r.stdout)
	}
	if reqs := proxy.Requests(); len(reqs) != 0 {
		t.Errorf("the dry run reached the network: %+v", reqs)
	}
	if n := requests(stack.Secure); n != 0 {
		t.Errorf("the dry run made %d registry requests", n)
	}
	// Only client-go's discovery cache (as kubectl --dry-run writes it).
	files, _ := testenv.Files(h.Dir)
	for _, f := range files {
		if !strings.Contains(f, filepath.Join(".kube", "cache")) {
			t.Errorf("the dry run wrote %s", f)
		}
	}
	// The same run without --dry-run does ask the public instance (through
	// the proxy, which refuses): the proxy sees what a dry run would have.
	r = runBinary(t, h, env, "fetch", "app", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig,
		"--verify-identity", ciIssuer+"=https://git\\.example\\.com/.*", "--registry-ca-file", stack.Secure.CAFile)
	if r.code == 0 || len(proxy.Requests()) == 0 {
		t.Errorf("without --dry-run the public instance was not asked: the test cannot see a request:\n%s", r)
	}
}

// TestSignatureBudgets: nine distinct 1 MiB signature referrers are more
// than the 8 MiB a chart's signature data may take: bundle create refuses.
func TestSignatureBudgets(t *testing.T) {
	ctx := context.Background()
	reg, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), CA: stack.Open.CA})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	c, err := testenv.BuildChart("heavy", "1.0.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.PushChart(ctx, "charts/heavy", c, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		blob := bytes.Repeat([]byte{byte('a' + i)}, 1<<20)
		if err := reg.PushHostileReferrers(ctx, "charts/heavy", p.Manifest, blob, 1, 1, auth.Credential{}); err != nil {
			t.Fatal(err)
		}
	}
	putComponent(t, nsB, "heavy", testenv.OCISource(p.Ref+"@"+p.Digest, "", ""))
	h := newHome(t)
	out := filepath.Join(t.TempDir(), "heavy.tar")
	r := runBinary(t, h, nil, "bundle", "create", out, "heavy", "-n", nsB, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 1)
	wantStderr(t, r, "8 MiB")
	if _, err := os.Stat(out); err == nil {
		t.Error("a bundle was written")
	}
}

// TestKeylessAttestationIsNotASignature: an in-toto attestation signed
// keylessly by the trusted identity, as the chart's only referrer, is not
// its signature.
func TestKeylessAttestationIsNotASignature(t *testing.T) {
	f := keyless(t)
	ctx := context.Background()
	c, err := testenv.BuildChart("attested", "1.0.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := stack.Open.PushChart(ctx, "keyless/attested", c, "", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.ss.Sign(ciSubject, ciIssuer, stack.Open.Host+"/keyless/attested", nil, p.Digest, testsign.KeylessOptions{PredicateType: "https://slsa.dev/provenance/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := stack.Open.PushBundleReferrer(ctx, "keyless/attested", p.Manifest, b, auth.Credential{}); err != nil {
		t.Fatal(err)
	}
	ci := fmt.Sprintf("        - {issuer: %q, subjectRegExp: %q}\n", ciIssuer, `https://git\.example\.com/platform/charts/.*`)
	pol := keylessPolicy(t, ci, inlineRoot(f.root))
	r := fetchVerified(t, p, "--registry-policy", pol)
	wantCode(t, r, 2)
	wantStderr(t, r, "an attestation, not a signature")
	wantCode(t, fetchVerified(t, f.signed, "--registry-policy", pol), 0)
}

// TestRequirementsKeptApart: signature requirements are built once per
// rule and per document: in one run, each chart is held to its own rule's
// keys — two prefixes of one document, and a file's and a ConfigMap's.
func TestRequirementsKeptApart(t *testing.T) {
	f := signed(t)
	newHome(t)
	ctx := context.Background()
	// f.legacy is signed by f.key only. Two copies of it under two prefixes.
	for _, repo := range []string{"by-key/legacy", "by-other/legacy"} {
		if err := stack.Open.CopyChart(ctx, "signed/legacy", f.legacy.Digest, auth.Credential{}, stack.Open, repo, "1.0.0"); err != nil {
			t.Fatal(err)
		}
		sig := "sha256-" + strings.TrimPrefix(f.legacy.Digest, "sha256:") + ".sig"
		if err := stack.Open.CopyChart(ctx, "signed/legacy", sig, auth.Credential{}, stack.Open, repo, sig); err != nil {
			t.Fatal(err)
		}
	}
	ns := "rules-apart"
	if err := stack.Cluster.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"by-key", "by-other"} {
		putComponent(t, ns, repo, testenv.OCISource("oci://"+stack.Open.Host+"/"+repo+"/legacy:1.0.0@"+f.legacy.Digest, "", ""))
	}
	check := func(t *testing.T, r result) {
		t.Helper()
		if r.code == 0 {
			t.Fatalf("the chart under the other key's rule was pulled:\n%s", r)
		}
		wantStderr(t, r, ns+"/by-other  failed\n", "refused: oci://"+stack.Open.Host+"/by-other/legacy", "has no valid signature", "1 Component: "+ns+"/by-other\n")
		if strings.Contains(r.stderr, ns+"/by-key  failed") {
			t.Errorf("the chart under its own key's rule failed:\n%s", r)
		}
	}
	t.Run("two prefixes of one document", func(t *testing.T) {
		pol := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/by-key\n  verify:\n%s\n- prefix: %s/by-other\n  verify:\n%s\n",
			stack.Open.Host, cosignVerify(f.key), stack.Open.Host, cosignVerify(f.other)))
		check(t, kubectl(t, "--all", "-n", ns, "--registry-policy", pol, "--registry-ca-file", stack.Open.CAFile, "--concurrency", "1"))
	})
	t.Run("a file's rule and the ConfigMap's", func(t *testing.T) {
		pol := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/by-key\n  verify:\n%s\n", stack.Open.Host, cosignVerify(f.key)))
		cm := fmt.Sprintf("apiVersion: ocisrc.dev/v1alpha1\nkind: RegistryPolicy\nregistries:\n- prefix: %s/by-other\n  verify:\n%s\n", stack.Open.Host, cosignVerify(f.other))
		if err := stack.Cluster.PutConfigMap(ctx, nsSys, "ocisrc-registry-policy", map[string]string{"policy.yaml": cm}); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = stack.Cluster.DeleteConfigMap(ctx, nsSys, "ocisrc-registry-policy") }()
		check(t, kubectl(t, "--all", "-n", ns, "--registry-policy", pol, "--registry-ca-file", stack.Open.CAFile, "--concurrency", "1"))
	})
}

// TestClientLimitsReachTheClient: --qps and --burst-limit are the API
// client's: at 2 per second with a burst of 1, client-go throttles.
func TestClientLimitsReachTheClient(t *testing.T) {
	h := newHome(t)
	ns := "throttled"
	if err := stack.Cluster.EnsureNamespace(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		// Each names its own Secret: a request each through the client.
		putSecret(t, ns, fmt.Sprintf("creds-%d", i), goodCreds())
		putComponent(t, ns, fmt.Sprintf("web-%d", i), testenv.OCISource(openApp.Ref, fmt.Sprintf("creds-%d", i), ns))
	}
	args := []string{"fetch", "web-0", "web-1", "web-2", "-n", ns, "--kubeconfig", stack.Cluster.Kubeconfig, "-v=3", "--registry-ca-file", stack.Open.CAFile}
	r := runBinary(t, h, nil, append(args, "--qps", "2", "--burst-limit", "1")...)
	wantCode(t, r, 0)
	wantStderr(t, r, "client-side throttling")
	r = runBinary(t, h, nil, args...)
	wantCode(t, r, 0)
	if strings.Contains(r.stderr, "client-side throttling") {
		t.Errorf("the defaults throttle:\n%s", r.stderr)
	}
	// 0 is client-go's default of 5 per second, not "no limit": refused,
	// as is a burst below 1, as flag errors naming the flag.
	for flag, want := range map[string]string{"--qps=0": `invalid argument "0" for "--qps" flag`, "--burst-limit=0": `invalid argument "0" for "--burst-limit" flag: must be at least 1`} {
		r = runBinary(t, h, nil, append(args, flag)...)
		wantCode(t, r, 2)
		wantStderr(t, r, want)
	}
}

// TestAProofServesOnlyItsIdentity: in one run, the pull another Component
// made with a good Secret never serves a Component whose Secret the
// registry refuses.
func TestAProofServesOnlyItsIdentity(t *testing.T) {
	newHome(t)
	ns := "proofs-apart"
	if err := stack.Cluster.EnsureNamespace(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	putSecret(t, ns, "good", goodCreds())
	putSecret(t, ns, "wrong", map[string]string{"username": testenv.RegistryUser, "password": testenv.WrongPassword})
	pinned := app123.Ref + "@" + app123.Digest
	putComponent(t, ns, "a-good", testenv.OCISource(pinned, "good", ns))
	putComponent(t, ns, "b-wrong", testenv.OCISource(pinned, "wrong", ns))
	for _, concurrency := range []string{"1", "2"} {
		t.Run("--concurrency "+concurrency, func(t *testing.T) {
			newHome(t)
			if concurrency == "2" {
				// The good one's download is held a moment, so that the
				// wrong one asks for the same pin while it is in flight.
				var held atomic.Bool
				stack.Secure.Hook(func(req *http.Request) {
					if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/manifests/") && held.CompareAndSwap(false, true) {
						<-time.After(time.Second)
					}
				})
				defer stack.Secure.Hook(nil)
			}
			r := kubectl(t, "a-good", "b-wrong", "-n", ns, "--registry-ca-file", stack.Secure.CAFile, "--concurrency", concurrency, "-o", "json")
			if r.code == 0 {
				t.Fatalf("the wrong password was served the good one's pull:\n%s", r)
			}
			doc := decodeJSON(t, r)
			if len(doc.Results) != 2 || doc.Results[0].Error != "" || doc.Results[1].Error == "" || doc.Results[1].Path != "" {
				t.Errorf("results: %+v", doc.Results)
			}
		})
	}
}
