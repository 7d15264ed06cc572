package integration

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

const (
	ciIssuer  = "https://token.actions.example.com"
	ciSubject = "https://git.example.com/platform/charts/.github/workflows/release.yaml@refs/heads/main"
)

// keylessFixture is a private Sigstore instance (Fulcio CA, Rekor log,
// timestamp authority) and charts it signed keylessly, as cosign v3 stores
// such signatures: a Sigstore bundle referrer of the chart's manifest.
type keylessFixture struct {
	ss   *testsign.Sigstore
	root []byte
	// signed is signed by ciSubject; copied carries signed's bundle;
	// expired is signed by a certificate that had expired when the
	// signature was logged, with no timestamp; unlogged is timestamped but
	// not in the Rekor log.
	signed, copied, expired, unlogged *testenv.Pushed
}

var keylessCharts *keylessFixture

func keyless(t *testing.T) *keylessFixture {
	t.Helper()
	if keylessCharts != nil {
		return keylessCharts
	}
	ctx := context.Background()
	f := &keylessFixture{}
	var err error
	if f.ss, err = testsign.NewSigstore(); err != nil {
		t.Fatal(err)
	}
	if f.root, err = f.ss.TrustedRoot(testsign.RootOptions{}); err != nil {
		t.Fatal(err)
	}
	push := func(name string, sign func(p *testenv.Pushed) []byte) *testenv.Pushed {
		c, err := testenv.BuildChart(name, "1.0.0", 0)
		if err != nil {
			t.Fatal(err)
		}
		p, err := stack.Open.PushChart(ctx, "keyless/"+name, c, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := stack.Open.PushBundleReferrer(ctx, "keyless/"+name, p.Manifest, sign(p), auth.Credential{}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var signedBundle []byte
	f.signed = push("app", func(p *testenv.Pushed) []byte {
		if signedBundle, err = f.ss.Sign(ciSubject, ciIssuer, stack.Open.Host+"/keyless/app", nil, p.Digest, testsign.KeylessOptions{}); err != nil {
			t.Fatal(err)
		}
		return signedBundle
	})
	f.copied = push("copied", func(*testenv.Pushed) []byte { return signedBundle })
	f.expired = push("expired", func(p *testenv.Pushed) []byte {
		b, err := f.ss.Sign(ciSubject, ciIssuer, stack.Open.Host+"/keyless/expired", nil, p.Digest, testsign.KeylessOptions{NoTimestamp: true, LoggedAt: time.Now().Add(30 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
	f.unlogged = push("unlogged", func(p *testenv.Pushed) []byte {
		b, err := f.ss.Sign(ciSubject, ciIssuer, stack.Open.Host+"/keyless/unlogged", nil, p.Digest, testsign.KeylessOptions{NoLog: true})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
	keylessCharts = f
	return f
}

// keylessPolicy requires keyless signatures under keyless/ on the open
// registry, by these identities, with this trusted root setting.
func keylessPolicy(t *testing.T, identities, root string) string {
	return writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/keyless\n  verify:\n    cosign:\n      keyless:\n        identities:\n%s%s", stack.Open.Host, identities, root))
}

func inlineRoot(root []byte) string {
	return "        trustedRoot: |\n" + indentBlock(root, "          ") + "\n"
}

func TestKeyless(t *testing.T) {
	f := keyless(t)
	ctx := context.Background()
	ci := fmt.Sprintf("        - {issuer: %q, subjectRegExp: %q}\n", ciIssuer, `https://git\.example\.com/platform/charts/.*`)
	other := fmt.Sprintf("        - {issuer: %q, subjectRegExp: %q}\n", ciIssuer, `https://git\.example\.com/someone/else/.*`)
	// An unanchored pattern that matches inside the subject is not enough.
	inside := fmt.Sprintf("        - {issuer: %q, subjectRegExp: %q}\n", ciIssuer, `git\.example\.com/platform/charts`)
	rootFile := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(rootFile, f.root, 0o644); err != nil {
		t.Fatal(err)
	}
	otherSS, err := testsign.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, err := otherSS.TrustedRoot(testsign.RootOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tsaRoot, err := f.ss.TrustedRoot(testsign.RootOptions{NoRekor: true})
	if err != nil {
		t.Fatal(err)
	}
	ctRoot, err := f.ss.TrustedRoot(testsign.RootOptions{CT: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		chart    *testenv.Pushed
		policy   string
		args     []string
		wantCode int
		want     []string
	}{
		"the right identity, inline root":         {chart: f.signed, policy: keylessPolicy(t, ci, inlineRoot(f.root))},
		"the right identity, root file":           {chart: f.signed, policy: keylessPolicy(t, ci, "        trustedRootFile: "+rootFile+"\n")},
		"--verify-identity with the root":         {chart: f.signed, policy: keylessPolicy(t, other, inlineRoot(f.root)), args: []string{"--verify-identity", ciIssuer + "=https://git\\.example\\.com/platform/.*"}},
		"another identity":                        {chart: f.signed, policy: keylessPolicy(t, other, inlineRoot(f.root)), wantCode: 2, want: []string{"cosign: signed by an identity that is not trusted", "expected SAN value to match regex"}},
		"a pattern that matches inside":           {chart: f.signed, policy: keylessPolicy(t, inside, inlineRoot(f.root)), wantCode: 2, want: []string{"cosign: signed by an identity that is not trusted"}},
		"another Sigstore instance":               {chart: f.signed, policy: keylessPolicy(t, ci, inlineRoot(otherRoot)), wantCode: 2, want: []string{"cosign: signed by an untrusted key (the certificate does not chain to a Fulcio CA of the trusted root"}},
		"a root that lists CT logs":               {chart: f.signed, policy: keylessPolicy(t, ci, inlineRoot(ctRoot)), wantCode: 2, want: []string{"the certificate carries no SCT from a CT log of the trusted root"}},
		"a signature of another digest":           {chart: f.copied, policy: keylessPolicy(t, ci, inlineRoot(f.root)), wantCode: 2, want: []string{"cosign: signature for another digest"}},
		"not in the root's Rekor log":             {chart: f.unlogged, policy: keylessPolicy(t, ci, inlineRoot(f.root)), wantCode: 2, want: []string{"cosign: signed by an untrusted key (not logged in a Rekor log of the trusted root"}},
		"timestamped, under a root without Rekor": {chart: f.unlogged, policy: keylessPolicy(t, ci, inlineRoot(tsaRoot))},
		"expired, without a timestamp":            {chart: f.expired, policy: keylessPolicy(t, ci, inlineRoot(f.root)), wantCode: 2, want: []string{"cosign: no signed time at which the certificate was valid"}},
		"a keyed signature is not keyless":        {chart: signed(t).bundled, policy: writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/signed\n  verify:\n    cosign:\n      keyless:\n        identities:\n%s%s", stack.Open.Host, ci, inlineRoot(f.root))), wantCode: 2, want: []string{"cosign: a keyed signature, and no cosign key is trusted"}},
	} {
		t.Run(name, func(t *testing.T) {
			newHome(t)
			putComponent(t, nsA, "keyless", testenv.OCISource(tc.chart.Ref, "", ""))
			stack.Open.ResetLog()
			r := kubectl(t, append([]string{"keyless", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", tc.policy, "-o", "json"}, tc.args...)...)
			wantCode(t, r, tc.wantCode)
			wantStderr(t, r, tc.want...)
			if tc.wantCode != 0 {
				// Verification comes before the cache: nothing was stored.
				if r := kubectl(t, "keyless", "-n", nsA, "--offline", "--registry-policy", tc.policy); r.code == 0 {
					t.Errorf("a refused chart was served from the cache:\n%s", r)
				}
				return
			}
			got := decodeTrust(t, r).Results[0]
			if len(got.Verified) != 1 || got.Verified[0].Provider != "cosign" || got.Verified[0].Issuer != ciIssuer || got.Verified[0].Subject != ciSubject {
				t.Fatalf("verified = %+v", got.Verified)
			}
			fp, _ := testsign.CertificateSHA256(bundleOf(t, tc.chart))
			if got.Verified[0].Key != "SHA256:"+fp {
				t.Errorf("key %q, want the signing certificate's SHA256:%s", got.Verified[0].Key, fp)
			}
			// A cache hit re-verifies the stored bundle, offline, without a request.
			stack.Open.ResetLog()
			r = kubectl(t, append([]string{"keyless", "-n", nsA, "--offline", "--registry-policy", tc.policy}, tc.args...)...)
			wantCode(t, r, 0)
			if !strings.Contains(r.stdout, "verified by cosign identity "+ciIssuer+" "+ciSubject) {
				t.Errorf("text output does not name the identity:\n%s", r)
			}
			if n := requests(stack.Open); n != 0 {
				t.Errorf("%d registry requests for an offline hit", n)
			}
		})
	}

	// Each document's identities go with its own trusted root: the local
	// file trusts ci under another instance, the cluster trusts someone else
	// under this one; neither accepts ci under this instance.
	t.Run("identities do not cross documents", func(t *testing.T) {
		newHome(t)
		cluster := fmt.Sprintf("apiVersion: ocisrc.dev/v1alpha1\nkind: RegistryPolicy\nregistries:\n- prefix: %s/keyless\n  verify:\n    cosign:\n      keyless:\n        identities:\n%s%s", stack.Open.Host, other, inlineRoot(f.root))
		if err := stack.Cluster.PutConfigMap(ctx, nsSys, "ocisrc-registry-policy", map[string]string{"policy.yaml": cluster}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stack.Cluster.DeleteConfigMap(ctx, nsSys, "ocisrc-registry-policy") })
		putComponent(t, nsA, "keyless", testenv.OCISource(f.signed.Ref, "", ""))
		r := kubectl(t, "keyless", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", keylessPolicy(t, ci, inlineRoot(otherRoot)))
		wantCode(t, r, 2)
		wantStderr(t, r, "has no valid signature (required by registry policy file")
	})

	// One run, two rules: the requirement built for one is never used for
	// the other (it is shared only between Components under the same rules).
	t.Run("each rule its own requirement, in one run", func(t *testing.T) {
		newHome(t)
		c, err := testenv.BuildChart("plain", "1.0.0", 0)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := stack.Open.PushChart(ctx, "unverified/plain", c, "", "")
		if err != nil {
			t.Fatal(err)
		}
		putComponent(t, nsA, "keyless", testenv.OCISource(f.signed.Ref, "", ""))
		putComponent(t, nsA, "plain", testenv.OCISource(plain.Ref, "", ""))
		r := kubectl(t, "keyless", "plain", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", keylessPolicy(t, ci, inlineRoot(f.root)))
		wantCode(t, r, 0)
		seen := 0
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			verified := strings.Contains(line, "verified by cosign identity "+ciIssuer)
			switch {
			case strings.HasPrefix(line, nsA+"/keyless  pulled  "):
				seen++
				if !verified {
					t.Errorf("the chart under the keyless rule was not verified: %s", line)
				}
			case strings.HasPrefix(line, nsA+"/plain  pulled  "):
				seen++
				if verified {
					t.Errorf("the chart outside every rule was held to the keyless rule: %s", line)
				}
			}
		}
		if seen != 2 {
			t.Errorf("want both Components pulled:\n%s", r)
		}
	})

	// A trusted root from a ConfigMap of the system namespace, named by the
	// cluster's policy.
	t.Run("a root from a ConfigMap", func(t *testing.T) {
		h := newHome(t)
		if err := stack.Cluster.PutConfigMap(ctx, nsSys, "sigstore-root", map[string]string{"trusted_root.json": string(f.root)}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stack.Cluster.DeleteConfigMap(ctx, nsSys, "sigstore-root") })
		policy := fmt.Sprintf("apiVersion: ocisrc.dev/v1alpha1\nkind: RegistryPolicy\nregistries:\n- prefix: %s/keyless\n  verify:\n    cosign:\n      keyless:\n        identities:\n%s        configMapRef: {name: sigstore-root}\n", stack.Open.Host, ci)
		if err := stack.Cluster.PutConfigMap(ctx, nsSys, "ocisrc-registry-policy", map[string]string{"policy.yaml": policy}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stack.Cluster.DeleteConfigMap(ctx, nsSys, "ocisrc-registry-policy") })
		putComponent(t, nsA, "keyless", testenv.OCISource(f.signed.Ref, "", ""))
		r := kubectl(t, "keyless", "-n", nsA, "--registry-ca-file", stack.Open.CAFile)
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "verified by cosign identity "+ciIssuer) {
			t.Errorf("not verified:\n%s", r)
		}
		// The root is read once per run, however many Components it
		// verifies (a GET each would be 10,000 GETs for 10,000 Components).
		for _, name := range []string{"keyless-2", "keyless-3"} {
			putComponent(t, nsA, name, testenv.OCISource(f.signed.Ref, "", ""))
		}
		r = runBinary(t, h, nil, "fetch", "keyless", "keyless-2", "keyless-3", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Open.CAFile, "-v=6")
		wantCode(t, r, 0)
		if n := strings.Count(r.stdout, "verified by cosign identity "+ciIssuer); n != 3 {
			t.Errorf("%d of 3 Components verified:\n%s", n, r)
		}
		if n := strings.Count(r.stderr, "/configmaps/sigstore-root"); n != 1 {
			t.Errorf("the trusted root's ConfigMap was read %d times in one run, want once", n)
		}
		// The copied bundle is refused under the cluster's policy too.
		putComponent(t, nsA, "keyless", testenv.OCISource(f.copied.Ref, "", ""))
		r = kubectl(t, "keyless", "-n", nsA, "--registry-ca-file", stack.Open.CAFile)
		wantCode(t, r, 2)
		wantStderr(t, r, "cosign: signature for another digest")
	})
}

// bundleOf reads back the bundle of a chart of the open registry (its
// certificate names the verified key).
func bundleOf(t *testing.T, p *testenv.Pushed) []byte {
	t.Helper()
	repo := strings.TrimPrefix(p.Ref, "oci://"+stack.Open.Host+"/")
	repo = repo[:strings.LastIndex(repo, ":")]
	b, err := stack.Open.ReferrerLayer(context.Background(), repo, p.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// With no trusted root anywhere, --verify-identity uses the public Sigstore
// instance through its TUF repository: when that cannot be reached and
// nothing is cached, the run is refused with a clear error — after one
// attempt through the environment's proxy, and before any chart is pulled.
func TestKeylessPublicInstanceUnreachable(t *testing.T) {
	f := keyless(t)
	h := newHome(t)
	putComponent(t, nsA, "keyless", testenv.OCISource(f.signed.Ref, "", ""))
	proxy := testenv.NewRecordingProxy()
	defer proxy.Close()
	stack.Open.ResetLog()
	c := exec.Command(binary, "--kubeconfig", stack.Cluster.Kubeconfig, "fetch", "keyless", "-n", nsA, "--registry-ca-file", stack.Open.CAFile,
		"--verify-identity", ciIssuer+"=.*", "--cluster-registry-policy=false")
	c.Env = append(h.Environ(map[string]string{}), "HTTPS_PROXY="+proxy.URL, "NO_PROXY=")
	out, err := c.CombinedOutput()
	if code := c.ProcessState.ExitCode(); err == nil || code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		"the public Sigstore instance's trusted root cannot be read: its TUF repository (https://tuf-repo-cdn.sigstore.dev) cannot be reached and nothing is cached in " + filepath.Join(h.Env["XDG_CACHE_HOME"], "ocisrc", "sigstore-tuf"),
		"Hint: give the Sigstore instance's trusted_root.json in the registry policy",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not contain %q:\n%s", want, out)
		}
	}
	if got := proxy.Requests(); len(got) == 0 || got[0].Method != "CONNECT" || got[0].Host != "tuf-repo-cdn.sigstore.dev:443" {
		t.Errorf("proxy saw %+v, want a CONNECT to tuf-repo-cdn.sigstore.dev:443", got)
	}
	if n := requests(stack.Open); n != 0 {
		t.Errorf("%d registry requests before the trust was known", n)
	}
}
