package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testenv"
	"github.com/ocisrc/ocisrc/internal/testsign"
)

// signerCLI runs a real signing client (cosign or notation, built as a test
// tool) in h, trusting the test registries' CA.
func signerCLI(t *testing.T, h *testenv.Home, tool string, args ...string) string {
	t.Helper()
	bin, err := testenv.ToolPath(tool, tool)
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(bin, args...)
	c.Env = append(h.Environ(map[string]string{}), "COSIGN_PASSWORD=test-key-password", "SSL_CERT_FILE="+stack.Open.CAFile)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pushFor pushes a fresh chart named after the repository's last element,
// at version, on the open registry.
func pushFor(t *testing.T, repo, version string) *testenv.Pushed {
	t.Helper()
	c, err := testenv.BuildChart(repo[strings.LastIndex(repo, "/")+1:], version, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := stack.Open.PushChart(context.Background(), repo, c, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fetchVerified pulls the chart as Component "signed" of nsA with the extra
// arguments, and returns the result (exit code checked by the caller).
func fetchVerified(t *testing.T, p *testenv.Pushed, args ...string) result {
	t.Helper()
	newHome(t)
	putComponent(t, nsA, "signed", testenv.OCISource(p.Ref, "", ""))
	return kubectl(t, append([]string{"signed", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "-o", "json", "--cluster-registry-policy=false"}, args...)...)
}

// TestCosignCLI signs with the real cosign (v3) with every key type it
// signs with, in both formats (the legacy .sig and the Sigstore bundle
// referrer), and checks that ocisrc verifies each with the public key, and
// that an attestation made with cosign attest is not taken as a signature.
func TestCosignCLI(t *testing.T) {
	h := newHome(t)
	dir := t.TempDir()
	for _, kind := range []string{"p256", "p384", "p521", "rsa", "ed25519"} {
		k, err := testsign.NewCosignKeyOf(kind)
		if err != nil {
			t.Fatal(err)
		}
		priv := filepath.Join(dir, kind+".pem")
		if err := os.WriteFile(priv, k.PrivatePEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		prefix := filepath.Join(dir, kind)
		signerCLI(t, h, "cosign", "import-key-pair", "--key", priv, "--output-key-prefix", prefix, "--yes")
		pub := prefix + ".pub"
		for _, format := range []string{"sig", "bundle"} {
			t.Run(kind+" "+format, func(t *testing.T) {
				p := pushFor(t, "cosign/"+kind+"-"+format, "1.0.0")
				ref := stack.Open.Host + "/cosign/" + kind + "-" + format + "@" + p.Digest
				signerCLI(t, h, "cosign", "sign", "--key", prefix+".key", "--tlog-upload=false", "--use-signing-config=false",
					"--new-bundle-format="+fmt.Sprint(format == "bundle"), "--yes", ref)
				r := fetchVerified(t, p, "--verify-key", pub)
				wantCode(t, r, 0)
				got := decodeTrust(t, r).Results[0]
				if len(got.Verified) != 1 || got.Verified[0].Provider != "cosign" || got.Verified[0].Key != k.Fingerprint() {
					t.Errorf("verified = %+v, want cosign %s", got.Verified, k.Fingerprint())
				}
				// Another key of the same type does not verify it.
				other, _ := testsign.NewCosignKeyOf(kind)
				otherPub := filepath.Join(t.TempDir(), "other.pub")
				if err := os.WriteFile(otherPub, other.PublicPEM, 0o644); err != nil {
					t.Fatal(err)
				}
				r = fetchVerified(t, p, "--verify-key", otherPub)
				wantCode(t, r, 2)
				wantStderr(t, r, "cosign: signed by an untrusted key")
			})
		}
	}

	t.Run("cosign attest is not a signature", func(t *testing.T) {
		k, _ := testsign.NewCosignKeyOf("p256")
		priv := filepath.Join(dir, "attest.pem")
		if err := os.WriteFile(priv, k.PrivatePEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		prefix := filepath.Join(dir, "attest")
		signerCLI(t, h, "cosign", "import-key-pair", "--key", priv, "--output-key-prefix", prefix, "--yes")
		predicate := filepath.Join(dir, "scan.json")
		if err := os.WriteFile(predicate, []byte(`{"scanner":{"uri":"pkg:github/aquasecurity/trivy","result":{"verdict":"FAILED"}}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		p := pushFor(t, "cosign/attested", "1.0.0")
		ref := stack.Open.Host + "/cosign/attested@" + p.Digest
		signerCLI(t, h, "cosign", "attest", "--key", prefix+".key", "--tlog-upload=false", "--use-signing-config=false",
			"--type", "vuln", "--predicate", predicate, "--yes", ref)
		r := fetchVerified(t, p, "--verify-key", prefix+".pub")
		wantCode(t, r, 2)
		wantStderr(t, r, "has no valid signature (required by --verify-key): cosign: an attestation, not a signature (predicate type \"https://cosign.sigstore.dev/attestation/vuln/v1\")")
		// It is there: a signature by the same key is then accepted.
		signerCLI(t, h, "cosign", "sign", "--key", prefix+".key", "--tlog-upload=false", "--use-signing-config=false", "--yes", ref)
		wantCode(t, fetchVerified(t, p, "--verify-key", prefix+".pub"), 0)
	})
}

// TestNotationCLI signs with the real notation CLI and a test certificate
// (notation cert generate-test), in both envelope formats.
func TestNotationCLI(t *testing.T) {
	ctx := context.Background()
	h := newHome(t)
	signerCLI(t, h, "notation", "cert", "generate-test", "--default", "ocisrc-test")
	crt := filepath.Join(h.Env["XDG_CONFIG_HOME"], "notation", "localkeys", "ocisrc-test.crt")
	crtPEM, err := os.ReadFile(crt)
	if err != nil {
		t.Fatal(err)
	}
	const subject = "CN=ocisrc-test,O=Notary,L=Seattle,ST=WA,C=US"
	identity := "x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=ocisrc-test"
	charts := map[string]*testenv.Pushed{}
	for _, format := range []string{"jws", "cose"} {
		p := pushFor(t, "notation/app-"+format, "1.0.0")
		signerCLI(t, h, "notation", "sign", "--signature-format", format, stack.Open.Host+"/notation/app-"+format+"@"+p.Digest)
		charts[format] = p
	}
	// notation's signature of the jws chart, replayed onto another chart.
	copied := pushFor(t, "notation/app-jws", "2.0.0")
	if err := stack.Open.CopyReferrers(ctx, "notation/app-jws", charts["jws"].Manifest, copied.Manifest); err != nil {
		t.Fatal(err)
	}
	policy := func(id string) string {
		return writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/notation\n  verify:\n    notation:\n      trustStore:\n      - |\n%s\n      identities: [%q]\n", stack.Open.Host, indentBlock(crtPEM, "        "), id))
	}
	for name, tc := range map[string]struct {
		chart    *testenv.Pushed
		args     []string
		wantCode int
		want     string
	}{
		"JWS, --notation-cert":            {chart: charts["jws"], args: []string{"--notation-cert", crt}},
		"COSE, --notation-cert":           {chart: charts["cose"], args: []string{"--notation-cert", crt}},
		"the policy's identity":           {chart: charts["jws"], args: []string{"--registry-policy", policy(identity)}},
		"another identity":                {chart: charts["cose"], args: []string{"--registry-policy", policy("x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=someone-else")}, wantCode: 2, want: "notation: signed by an identity that is not trusted"},
		"a signature copied from a chart": {chart: copied, args: []string{"--notation-cert", crt}, wantCode: 2, want: "notation: signature for another digest"},
		"another certificate":             {chart: charts["jws"], args: []string{"--notation-cert", stack.Open.CAFile}, wantCode: 2, want: "notation: signed by an untrusted key"},
	} {
		t.Run(name, func(t *testing.T) {
			r := fetchVerified(t, tc.chart, tc.args...)
			wantCode(t, r, tc.wantCode)
			if tc.wantCode != 0 {
				wantStderr(t, r, tc.want)
				return
			}
			got := decodeTrust(t, r).Results[0]
			if len(got.Verified) != 1 || got.Verified[0].Provider != "notation" || got.Verified[0].Subject != subject || !strings.HasPrefix(got.Verified[0].Key, "SHA256:") {
				t.Errorf("verified = %+v", got.Verified)
			}
		})
	}

	t.Run("a trust store in a Secret of the system namespace", func(t *testing.T) {
		putSecret(t, nsSys, "notation-certs", map[string]string{"ca.crt": string(crtPEM)})
		pol := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/notation\n  verify:\n    notation:\n      secretRef: {name: notation-certs}\n      identities: [%q]\n", stack.Open.Host, identity))
		r := fetchVerified(t, charts["cose"], "--registry-policy", pol)
		wantCode(t, r, 0)
		r = fetchVerified(t, copied, "--registry-policy", pol)
		wantCode(t, r, 2)
	})
}
