package integration

// Keyless signatures in cosign's legacy form (a .sig tag whose layer
// carries the certificate, the chain and Rekor's bundle), as cosign v2
// writes them by default, made with the private Sigstore instance, with
// the real cosign CLI as the oracle: what ocisrc accepts, cosign verify
// accepts, and what it refuses, cosign refuses.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/internal/testenv"
	"github.com/ocisrc/ocisrc/internal/testsign"
)

// cosignVerifies runs the real `cosign verify` on ref (host/repo@digest)
// against the trusted root, for the CI identity; it reports whether cosign
// accepted the signature, with its output.
func cosignVerifies(t *testing.T, h *testenv.Home, rootFile, ref string) (bool, string) {
	t.Helper()
	bin, err := testenv.ToolPath("cosign", "cosign")
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(bin, "verify", "--trusted-root", rootFile, "--certificate-identity-regexp", `https://git\.example\.com/platform/charts/.*`,
		"--certificate-oidc-issuer", ciIssuer, "--insecure-ignore-sct", "--offline", ref)
	c.Env = append(h.Environ(map[string]string{}), "SSL_CERT_FILE="+stack.Open.CAFile)
	out, err := c.CombinedOutput()
	return err == nil, string(out)
}

func TestLegacyKeyless(t *testing.T) {
	f := keyless(t)
	h := newHome(t)
	ctx := context.Background()
	rootFile := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(rootFile, f.root, 0o644); err != nil {
		t.Fatal(err)
	}
	other, err := testsign.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	otherChart := pushFor(t, "legacy-keyless/other", "1.0.0")
	push := func(name string, sign func(p *testenv.Pushed) ([]byte, map[string]string)) *testenv.Pushed {
		p := pushFor(t, "legacy-keyless/"+name, "1.0.0")
		payload, ann := sign(p)
		if err := stack.Open.PushLegacy(ctx, "legacy-keyless/"+name, p.Digest, ".sig", auth.Credential{},
			testenv.LegacyLayer{MediaType: "application/vnd.dev.cosign.simplesigning.v1+json", Data: payload, Annotations: ann}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sign := func(ss *testsign.Sigstore, subject, repo, digest string, o testsign.LegacyOptions) ([]byte, map[string]string) {
		payload, ann, err := ss.SignLegacy(subject, ciIssuer, stack.Open.Host+"/"+repo, digest, o)
		if err != nil {
			t.Fatal(err)
		}
		return payload, ann
	}
	cases := []struct {
		name   string
		chart  *testenv.Pushed
		accept bool
		want   string
	}{
		{name: "the trusted identity", accept: true, chart: push("good", func(p *testenv.Pushed) ([]byte, map[string]string) {
			return sign(f.ss, ciSubject, "legacy-keyless/good", p.Digest, testsign.LegacyOptions{})
		})},
		{name: "another identity", want: "signed by an identity that is not trusted", chart: push("stranger", func(p *testenv.Pushed) ([]byte, map[string]string) {
			return sign(f.ss, "https://git.example.com/someone/else/.github/workflows/x.yaml@refs/heads/main", "legacy-keyless/stranger", p.Digest, testsign.LegacyOptions{})
		})},
		{name: "a .sig of another chart", want: "signature for another digest", chart: push("copied", func(*testenv.Pushed) ([]byte, map[string]string) {
			return sign(f.ss, ciSubject, "legacy-keyless/other", otherChart.Digest, testsign.LegacyOptions{})
		})},
		{name: "the bundle annotation stripped", want: "no transparency log entry", chart: push("unlogged", func(p *testenv.Pushed) ([]byte, map[string]string) {
			return sign(f.ss, ciSubject, "legacy-keyless/unlogged", p.Digest, testsign.LegacyOptions{NoBundle: true})
		})},
		{name: "the bundle annotation altered", want: "cosign:", chart: push("altered", func(p *testenv.Pushed) ([]byte, map[string]string) {
			payload, ann := sign(f.ss, ciSubject, "legacy-keyless/altered", p.Digest, testsign.LegacyOptions{})
			ann["dev.sigstore.cosign/bundle"] = strings.Replace(ann["dev.sigstore.cosign/bundle"], `"integratedTime":`, `"integratedTime":1`, 1)
			return payload, ann
		})},
		{name: "a certificate expired when the entry was logged", want: "no signed time at which the certificate was valid", chart: push("expired", func(p *testenv.Pushed) ([]byte, map[string]string) {
			return sign(f.ss, ciSubject, "legacy-keyless/expired", p.Digest, testsign.LegacyOptions{LoggedAt: time.Now().Add(30 * time.Minute)})
		})},
		{name: "another CA, named by the chain annotation", want: "does not chain to a Fulcio CA of the trusted root", chart: push("other-ca", func(p *testenv.Pushed) ([]byte, map[string]string) {
			return sign(other, ciSubject, "legacy-keyless/other-ca", p.Digest, testsign.LegacyOptions{})
		})},
	}
	ci := fmt.Sprintf("        - {issuer: %q, subjectRegExp: %q}\n", ciIssuer, `https://git\.example\.com/platform/charts/.*`)
	pol := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/legacy-keyless\n  verify:\n    cosign:\n      keyless:\n        identities:\n%s%s", stack.Open.Host, ci, inlineRoot(f.root)))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := fetchVerified(t, c.chart, "--registry-policy", pol)
			cosignOK, cosignOut := cosignVerifies(t, h, rootFile, strings.TrimPrefix(strings.Split(c.chart.Ref, ":1.0.0")[0], "oci://")+"@"+c.chart.Digest)
			if c.accept {
				wantCode(t, r, 0)
				got := decodeTrust(t, r).Results[0]
				if len(got.Verified) != 1 || got.Verified[0].Issuer != ciIssuer || got.Verified[0].Subject != ciSubject {
					t.Errorf("verified: %+v", got.Verified)
				}
				if !cosignOK {
					t.Errorf("cosign verify refuses what ocisrc accepts:\n%s", cosignOut)
				}
				return
			}
			wantCode(t, r, 2)
			wantStderr(t, r, c.want)
			if strings.Contains(r.stderr, "no signature found") {
				t.Errorf("a refusal of a signature that exists says none was found:\n%s", r.stderr)
			}
			if cosignOK {
				t.Errorf("cosign verify accepts what ocisrc refuses:\n%s", cosignOut)
			}
		})
	}
	// The flag trusts the same identity, with the policy's root.
	t.Run("--verify-identity with the policy's trusted root", func(t *testing.T) {
		rootOnly := writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/legacy-keyless\n  verify:\n    cosign:\n      keyless:\n        identities:\n        - {issuer: %q, subject: %q}\n%s", stack.Open.Host, ciIssuer, "nobody", inlineRoot(f.root)))
		r := fetchVerified(t, cases[0].chart, "--registry-policy", rootOnly, "--verify-identity", ciIssuer+`=https://git\.example\.com/platform/charts/.*`)
		wantCode(t, r, 0)
	})
}
