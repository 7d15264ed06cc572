package integration

// What the docs promise, run as the docs say it (docs/gitops.md,
// docs/cache.md, docs/output.md, docs/troubleshooting.md): each
// discrepancy the third audit found, and each command a hint or a warning
// suggests.

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// TestGitOpsExampleFromStandardInput: docs/gitops.md's `git show … |
// ocisrc fetch -f - -A` pulls a Component that names its own namespace.
func TestGitOpsExampleFromStandardInput(t *testing.T) {
	h := newHome(t)
	c := exec.Command(binary, "fetch", "-f", "-", "-A", "--kubeconfig", stack.Cluster.Kubeconfig, "-o", "json", "--registry-ca-file", stack.Open.CAFile)
	c.Env = h.Environ(nil)
	c.Stdin = strings.NewReader(componentYAML(nsB, "from-git", openApp.Ref))
	out, err := c.Output()
	if err != nil || !strings.Contains(string(out), `"component": "team-b/from-git"`) {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestValidateReportsEveryProblemWithItsLine: every problem of a Component,
// each with the line of its field counted in the file.
func TestValidateReportsEveryProblemWithItsLine(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	write(t, pol, []byte("apiVersion: ocisrc.dev/v1alpha1\nkind: RegistryPolicy\nregistries:\n- prefix: registry.example.com/airgapped\n  origin: never\n  mirrors: [{location: mirror.internal/airgapped}]\n"))
	file := filepath.Join(dir, "app.yaml")
	write(t, file, []byte(`# two Components
apiVersion: deploy.example.io/v1alpha1
kind: Component
metadata: {name: fine, namespace: team-a}
spec:
  source: {type: oci, chart: "oci://registry.example.com/charts/app:1.0.0"}
---
apiVersion: deploy.example.io/v1alpha1
kind: Component
metadata:
  name: two-problems
  namespace: team-a
spec:
  source:
    type: oci
    chart: oci://registry.example.com/airgapped/app:1.2.3
    authentication:
      method: registry
      secretRef: {name: creds, namespace: team-b}
`))
	r := runFace(t, "ocisrc", nil, "validate", "-f", file, "--registry-policy", pol, "--kubeconfig", filepath.Join(dir, "none"))
	wantCode(t, r, 2)
	for _, want := range []string{
		file + ":19: team-a/two-problems: spec.source.authentication.secretRef.namespace: \"team-b\" is not allowed",
		file + ":16: team-a/two-problems: spec.source.chart: refused by the registry policy: oci://registry.example.com/airgapped/app:1.2.3 needs a digest pin",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout does not contain %q:\n%s", want, r.stdout)
		}
	}
	r = runFace(t, "ocisrc", nil, "validate", "-f", file, "--registry-policy", pol, "--kubeconfig", filepath.Join(dir, "none"), "-o", "json")
	var problems []struct {
		File, Component, Field string
		Line                   int
	}
	if err := json.Unmarshal([]byte(r.stdout), &problems); err != nil || len(problems) != 2 || problems[0].Line == 0 || problems[1].Line == 0 {
		t.Errorf("-o json: %v\n%s", err, r.stdout)
	}
	// fetch -f names the file and the line, and suggests editing the file.
	bad := filepath.Join(dir, "bad.yaml")
	write(t, bad, []byte("apiVersion: deploy.example.io/v1alpha1\nkind: Component\nmetadata: {name: broken, namespace: team-a}\nspec:\n  source:\n    type: oci\n    chart: registry.example.com/charts/app:1.0.0\n"))
	r = kubectl(t, "-f", bad, "-n", nsA)
	wantCode(t, r, 2)
	wantStderr(t, r, "\"team-a/broken\" ("+bad+":7): spec.source.chart must start with oci://", "Hint: fix the Component in "+bad+" (line 7)")
	if strings.Contains(r.stderr, "kubectl edit") {
		t.Errorf("a file's Component is to be edited in the cluster:\n%s", r.stderr)
	}
}

// TestCacheWarningCommandWorks: the command cache list suggests for
// entries that fail their checks is run as printed, and removes them only.
func TestCacheWarningCommandWorks(t *testing.T) {
	newHome(t)
	putComponent(t, nsA, "pin-a", testenv.OCISource(openApp.Ref+"@"+openApp.Digest, "", ""))
	putComponent(t, nsA, "other", testenv.OCISource(app123Open(t), "", ""))
	r := kubectl(t, "pin-a", "other", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "-o", "json")
	wantCode(t, r, 0)
	dir := filepath.Dir(decodeJSON(t, r).Results[0].Path)
	write(t, filepath.Join(dir, "manifest.json"), []byte("{}"))
	r = runFace(t, "ocisrc", nil, "cache", "list")
	wantCode(t, r, 0)
	m := regexp.MustCompile(`"(ocisrc cache prune[^"]*)" removes it`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no command in the warning:\n%s", r.stderr)
	}
	r = runFace(t, "ocisrc", nil, strings.Fields(m[1])[1:]...)
	wantCode(t, r, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "Removed the damaged entry "+openApp.Digest[:len("sha256:")+12]) || lines[1] != "Pruned 0 charts and 1 damaged entry, 0 B freed" {
		t.Errorf("%s:\n%s", m[1], r)
	}
	// The pin again: an entry no tag resolves to.
	wantCode(t, kubectl(t, "pin-a", "-n", nsA, "--registry-ca-file", stack.Open.CAFile), 0)
	r = runFace(t, "ocisrc", nil, "cache", "list", "-o", "json")
	wantCode(t, r, 0)
	var listed struct {
		Entries []struct {
			Tags       []string `json:"tags"`
			Unverified []string `json:"unverifiedFields"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed.Entries) != 2 || r.stderr != "" {
		t.Fatalf("after the prune: %v\n%s", err, r)
	}
	if strings.Contains(r.stdout, `"tags": null`) || !strings.Contains(r.stdout, `"tags": []`) {
		t.Errorf("an entry without tags has tags null, not []:\n%s", r.stdout)
	}
	if strings.Join(listed.Entries[0].Unverified, ",") != "ref,created,access,verified" {
		t.Errorf("unverifiedFields %v", listed.Entries[0].Unverified)
	}
}

// app123Open pushes a second chart to the open registry, by tag.
func app123Open(t *testing.T) string {
	return pushFor(t, "promises/other", "1.0.0").Ref
}

// TestMessagesSayItOnce: TLS errors without oras-go's wording; a refusal
// that names a pinned reference does not repeat its digest; a secp256k1
// key is said to be on a curve cosign does not sign with; login under
// origin: never says there is nothing to log in to.
func TestMessagesSayItOnce(t *testing.T) {
	newHome(t)
	putComponent(t, nsA, "tls", testenv.OCISource(app123.Ref, "", ""))
	r := kubectl(t, "tls", "-n", nsA)
	wantCode(t, r, 1)
	wantStderr(t, r, "TLS connection to "+stack.Secure.Host+" failed: ", "x509: certificate signed by unknown authority")
	if strings.Contains(r.stderr, "failed to perform") {
		t.Errorf("oras-go's words reach the user:\n%s", r.stderr)
	}

	f := signed(t)
	pinned := f.unsigned.Ref + "@" + f.unsigned.Digest
	putComponent(t, nsA, "unsigned", testenv.OCISource(pinned, "", ""))
	pub := filepath.Join(t.TempDir(), "cosign.pub")
	write(t, pub, f.key.PublicPEM)
	r = kubectl(t, "unsigned", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--verify-key", pub)
	wantCode(t, r, 2)
	wantStderr(t, r, "refused: "+pinned+" has no valid signature")
	if strings.Count(r.stderr, strings.TrimPrefix(f.unsigned.Digest, "sha256:")) != 1 {
		t.Errorf("the digest is repeated:\n%s", r.stderr)
	}

	// A secp256k1 public key (PKIX, as openssl writes it).
	spki, _ := asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}{
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}, Parameters: asn1.RawValue{FullBytes: mustMarshal(t, asn1.ObjectIdentifier{1, 3, 132, 0, 10})}},
		Key:       asn1.BitString{Bytes: append([]byte{4}, make([]byte, 64)...), BitLength: 65 * 8},
	})
	k1 := filepath.Join(t.TempDir(), "k1.pub")
	write(t, k1, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	r = kubectl(t, "unsigned", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--verify-key", k1)
	wantCode(t, r, 2)
	wantStderr(t, r, "an ECDSA key on secp256k1, a curve cosign does not sign with")

	pol := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s\n  origin: never\n  mirrors: [{location: mirror.internal/x}]\n", stack.Secure.Host))
	putSecret(t, nsSys, "never-creds", boundCreds(stack.Secure.Host))
	putComponent(t, nsA, "never", testenv.OCISource(app123.Ref, "never-creds", nsSys))
	r = runFace(t, "ocisrc", map[string]string{"HELM_PLUGIN_NAME": "ocisrc", "HELM_NAMESPACE": nsA, "KUBECONFIG": stack.Cluster.Kubeconfig},
		"login", "never", "--registry-policy", pol, "--cluster-registry-policy=false")
	wantCode(t, r, 2)
	wantStderr(t, r, "is never contacted (origin: never", "there is no registry to log in to")
	if strings.Contains(r.stderr, "digest pin") {
		t.Errorf("login talks of a digest pin:\n%s", r.stderr)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCertificateRequiredWithoutAnAlert: a registry that asks for a client
// certificate and closes the connection without a TLS alert (what a
// client that writes first sees with TLS 1.3) is said to require one.
func TestCertificateRequiredWithoutAnAlert(t *testing.T) {
	cert, err := stack.Open.CA.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS13})
				if c.Handshake() == nil && len(c.ConnectionState().PeerCertificates) == 0 {
					_ = raw.Close() // no alert: the TCP connection just ends
					return
				}
				_ = c.Close()
			}()
		}
	}()
	newHome(t)
	putComponent(t, nsA, "closes", testenv.OCISource("oci://"+ln.Addr().String()+"/charts/app:1.0.0", "", ""))
	r := kubectl(t, "closes", "-n", nsA, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 1)
	wantStderr(t, r, "requires a client certificate (mutual TLS), and none was given")
}
