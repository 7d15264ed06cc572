package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/internal/testenv"
	"github.com/ocisrc/ocisrc/internal/testsign"
)

type trustDoc struct {
	Results []struct {
		Component, Digest, Error, Path string
		Cached                         bool
		Verified                       []struct{ Provider, Key, Issuer, Subject string }
	} `json:"results"`
}

func decodeTrust(t *testing.T, r result) trustDoc {
	t.Helper()
	var d trustDoc
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("stdout: %v\n%s", err, r)
	}
	return d
}

// indentBlock indents text for a YAML block scalar.
func indentBlock(b []byte, pad string) string {
	return pad + strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n"+pad)
}

// signedFixture is the charts, keys and signatures of the trust tests, on
// the open registry (anonymous: the tests are about signatures).
type signedFixture struct {
	key, other *testsign.CosignKey
	pgp        *testsign.PGPKey
	// legacy has a .sig signature, bundled a Sigstore bundle referrer, prov a
	// .prov layer; unsigned has nothing; replayed carries a valid signature of
	// another digest; moved is a tag that was signed, then moved.
	legacy, bundled, prov, unsigned, replayed, badProv *testenv.Pushed
	// replayedBundle carries, as a referrer, the Sigstore bundle of bundled.
	replayedBundle *testenv.Pushed
}

var fixture *signedFixture

func signed(t *testing.T) *signedFixture {
	t.Helper()
	if fixture != nil {
		return fixture
	}
	ctx := context.Background()
	reg := stack.Open
	anon := auth.Credential{}
	f := &signedFixture{}
	var err error
	if f.key, err = testsign.NewCosignKey(); err != nil {
		t.Fatal(err)
	}
	if f.other, err = testsign.NewCosignKey(); err != nil {
		t.Fatal(err)
	}
	if f.pgp, err = testsign.NewPGPKey("Chart Publisher", "charts@example.com"); err != nil {
		t.Fatal(err)
	}
	push := func(name string, padding int) *testenv.Pushed {
		c, err := testenv.BuildChart(name, "1.0.0", padding)
		if err != nil {
			t.Fatal(err)
		}
		p, err := reg.PushChart(ctx, "signed/"+name, c, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.legacy = push("legacy", 0)
	payload, sig := f.key.SignSimpleSigning(reg.Host+"/signed/legacy", f.legacy.Digest)
	if err := reg.PushCosignSignature(ctx, "signed/legacy", f.legacy.Digest, anon, [2]string{string(payload), sig}); err != nil {
		t.Fatal(err)
	}
	f.bundled = push("bundled", 0)
	if err := reg.PushBundleReferrer(ctx, "signed/bundled", f.bundled.Manifest, f.key.Bundle("bundled", f.bundled.Digest), anon); err != nil {
		t.Fatal(err)
	}
	f.unsigned = push("unsigned", 0)
	f.replayedBundle = push("rebundled", 0)
	if err := reg.PushBundleReferrer(ctx, "signed/rebundled", f.replayedBundle.Manifest, f.key.Bundle("bundled", f.bundled.Digest), anon); err != nil {
		t.Fatal(err)
	}
	// A valid signature of the legacy chart's digest, copied to another chart.
	f.replayed = push("replayed", 0)
	if err := reg.PushCosignSignature(ctx, "signed/replayed", f.replayed.Digest, anon, [2]string{string(payload), sig}); err != nil {
		t.Fatal(err)
	}
	c, err := testenv.BuildChart("prov", "1.0.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	provData, err := f.pgp.Provenance("prov", "1.0.0", c.Archive)
	if err != nil {
		t.Fatal(err)
	}
	if f.prov, err = reg.PushChartWithProv(ctx, "signed/prov", c, provData, anon); err != nil {
		t.Fatal(err)
	}
	// A .prov signed for other bytes of the same chart name and version.
	bad, err := testenv.BuildChart("badprov", "1.0.0", 3)
	if err != nil {
		t.Fatal(err)
	}
	otherBytes, _ := testenv.BuildChart("badprov", "1.0.0", 4)
	badData, err := f.pgp.Provenance("badprov", "1.0.0", otherBytes.Archive)
	if err != nil {
		t.Fatal(err)
	}
	if f.badProv, err = reg.PushChartWithProv(ctx, "signed/badprov", bad, badData, anon); err != nil {
		t.Fatal(err)
	}
	fixture = f
	return f
}

// verifyPolicy is a policy file that requires signatures under the open
// registry's signed/ prefix, with the given verify body.
func verifyPolicy(t *testing.T, verify string) string {
	return writePolicy(t, fmt.Sprintf("registries:\n- prefix: %s/signed\n  verify:\n%s\n", stack.Open.Host, verify))
}

func cosignVerify(keys ...*testsign.CosignKey) string {
	var b strings.Builder
	b.WriteString("    cosign:\n      keys:\n")
	for _, k := range keys {
		b.WriteString("      - |\n" + indentBlock(k.PublicPEM, "        ") + "\n")
	}
	return b.String()
}

func TestVerifySignatures(t *testing.T) {
	f := signed(t)
	keyPolicy := verifyPolicy(t, cosignVerify(f.key))
	helmPolicy := verifyPolicy(t, "    helm:\n      keyring: |\n"+indentBlock(f.pgp.PublicArmored(), "        "))
	bothPolicy := verifyPolicy(t, cosignVerify(f.other)+"    helm:\n      keyring: |\n"+indentBlock(f.pgp.PublicArmored(), "        "))
	for name, tc := range map[string]struct {
		chart    *testenv.Pushed
		policy   string
		wantCode int
		provider string
		want     []string
	}{
		"a cosign .sig":              {chart: f.legacy, policy: keyPolicy, provider: "cosign"},
		"a cosign bundle referrer":   {chart: f.bundled, policy: keyPolicy, provider: "cosign"},
		"a Helm .prov":               {chart: f.prov, policy: helmPolicy, provider: "helm"},
		"any provider suffices":      {chart: f.prov, policy: bothPolicy, provider: "helm"},
		"unsigned":                   {chart: f.unsigned, policy: keyPolicy, wantCode: 2, want: []string{"): cosign: no signature found"}},
		"signed by an untrusted key": {chart: f.legacy, policy: verifyPolicy(t, cosignVerify(f.other)), wantCode: 2, want: []string{"cosign: signed by an untrusted key"}},
		"a replayed signature":       {chart: f.replayed, policy: keyPolicy, wantCode: 2, want: []string{"cosign: signature for another digest (it signs \"" + f.legacy.Digest + "\")"}},
		"a replayed Sigstore bundle": {chart: f.replayedBundle, policy: keyPolicy, wantCode: 2, want: []string{"cosign: ", f.bundled.Digest}},
		"a .prov for other bytes":    {chart: f.badProv, policy: helmPolicy, wantCode: 2, want: []string{"helm: bad provenance checksum"}},
		"no .prov, and wrong key":    {chart: f.legacy, policy: bothPolicy, wantCode: 2, want: []string{"cosign: signed by an untrusted key", "helm: no signature found (no .prov layer in the chart's manifest)"}},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHome(t)
			putComponent(t, nsA, "signed", testenv.OCISource(tc.chart.Ref, "", ""))
			dest := t.TempDir()
			r := kubectl(t, "signed", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", tc.policy, "-o", "json", "-d", dest)
			wantCode(t, r, tc.wantCode)
			got := decodeTrust(t, r).Results[0]
			if tc.wantCode != 0 {
				wantStderr(t, r, append([]string{`component "team-a/signed": refused: ` + tc.chart.Ref + " (" + tc.chart.Digest + ") has no valid signature (required by registry policy file"}, tc.want...)...)
				assertNoCacheEntries(t, h)
				if entries, _ := os.ReadDir(dest); len(entries) != 0 {
					t.Errorf("--destination holds %v", entries)
				}
				return
			}
			if len(got.Verified) != 1 || got.Verified[0].Provider != tc.provider {
				t.Errorf("verified = %+v", got.Verified)
			}
			if tc.provider == "cosign" && got.Verified[0].Key != f.key.Fingerprint() || tc.provider == "helm" && got.Verified[0].Key != f.pgp.Fingerprint() {
				t.Errorf("key = %s", got.Verified[0].Key)
			}
			// Text output says so too.
			r = kubectl(t, "signed", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", tc.policy)
			wantCode(t, r, 0)
			if !strings.Contains(r.stdout, "  verified by "+tc.provider+" key ") {
				t.Errorf("text output: %s", r.stdout)
			}
		})
	}
}

// TestVerifyTagMovedAfterSigning: the tag is signed, then moved to an
// unsigned chart; what the tag points to now is what must be signed.
func TestVerifyTagMovedAfterSigning(t *testing.T) {
	f := signed(t)
	newHome(t)
	ctx := context.Background()
	signedChart, err := testenv.BuildChart("moving", "1.0.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	unsignedChart, err := testenv.BuildChart("moving", "1.0.0", 5)
	if err != nil {
		t.Fatal(err)
	}
	first, err := stack.Open.PushChart(ctx, "signed/moving", signedChart, "", "")
	if err != nil {
		t.Fatal(err)
	}
	payload, sig := f.key.SignSimpleSigning(stack.Open.Host+"/signed/moving", first.Digest)
	if err := stack.Open.PushCosignSignature(ctx, "signed/moving", first.Digest, auth.Credential{}, [2]string{string(payload), sig}); err != nil {
		t.Fatal(err)
	}
	pol := verifyPolicy(t, cosignVerify(f.key))
	putComponent(t, nsA, "moving", testenv.OCISource(first.Ref, "", ""))
	r := kubectl(t, "moving", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", pol)
	wantCode(t, r, 0)
	// The tag moves to an unsigned chart of the same name and version.
	moved, err := stack.Open.PushChart(ctx, "signed/moving", unsignedChart, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if moved.Digest == first.Digest {
		t.Fatal("the two charts are the same")
	}
	r = kubectl(t, "moving", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", pol)
	wantCode(t, r, 2)
	wantStderr(t, r, "@"+moved.Digest+" has no valid signature (required by registry policy file", "): cosign: no signature found")
}

// TestVerifyKeysFromSecrets: keys the platform team keeps in Secrets of the
// system namespace, and a user who may not read them.
func TestVerifyKeysFromSecrets(t *testing.T) {
	f := signed(t)
	ctx := context.Background()
	putSecret(t, nsSys, "chart-signing-keys", map[string]string{"cosign.pub": string(f.key.PublicPEM), "README": "not a key"})
	putSecret(t, nsSys, "chart-keyring", map[string]string{"pubring.gpg": string(f.pgp.PublicBinary())})
	pol := verifyPolicy(t, "    cosign:\n      secretRef: {name: chart-signing-keys}\n    helm:\n      secretRef: {name: chart-keyring}")
	for _, chart := range []*testenv.Pushed{f.legacy, f.prov} {
		newHome(t)
		putComponent(t, nsA, "signed", testenv.OCISource(chart.Ref, "", ""))
		r := kubectl(t, "signed", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", pol, "-o", "json")
		wantCode(t, r, 0)
		if v := decodeTrust(t, r).Results[0].Verified; len(v) != 1 {
			t.Errorf("%s: verified %+v", chart.Ref, v)
		}
	}
	t.Run("a restricted user who cannot read the keys", func(t *testing.T) {
		newHome(t)
		user := "no-keys-reader"
		kc, err := stack.Cluster.AddUser(user)
		if err != nil {
			t.Fatal(err)
		}
		if err := stack.Cluster.Grant(ctx, nsA, user, "deploy.example.io", []string{"components"}, []string{"get", "list"}); err != nil {
			t.Fatal(err)
		}
		putComponent(t, nsA, "signed", testenv.OCISource(f.legacy.Ref, "", ""))
		stack.Open.ResetLog()
		r := runFace(t, "kubectl-component_pull", nil, "--kubeconfig", kc, "signed", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", pol)
		wantCode(t, r, 1)
		wantStderr(t, r, `reading secret "deployment-system/chart-signing-keys", which the registry policy file`, `names for signature keys: forbidden`,
			"the chart's signature cannot be checked without its keys")
		if n := requests(stack.Open); n != 0 {
			t.Errorf("%d registry requests before the keys were read", n)
		}
	})
}

// TestVerifyCache: a cache entry verified earlier, a policy tightened since,
// and --offline.
func TestVerifyCache(t *testing.T) {
	f := signed(t)
	newHome(t)
	putComponent(t, nsA, "signed", testenv.OCISource(f.legacy.Ref, "", ""))
	run := func(args ...string) result {
		return kubectl(t, append([]string{"signed", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "-o", "json"}, args...)...)
	}
	// Pulled with no signature required: the entry is not verified.
	wantCode(t, run(), 0)
	pol := verifyPolicy(t, cosignVerify(f.key))
	// --offline cannot check signatures: refused, naming what is missing.
	r := run("--registry-policy", pol, "--offline")
	wantCode(t, r, 2)
	wantStderr(t, r, "--offline: the cached chart "+f.legacy.Ref+" ("+f.legacy.Digest+") has no stored signature that verifies with what is trusted now")
	// Online, it is verified at the registry, without pulling the chart again.
	stack.Open.ResetLog()
	r = run("--registry-policy", pol)
	wantCode(t, r, 0)
	if got := decodeTrust(t, r).Results[0]; !got.Cached || len(got.Verified) != 1 {
		t.Errorf("%+v", got)
	}
	for _, req := range stack.Open.Requests() {
		if strings.HasSuffix(req.Path, f.legacy.LayerDigest) {
			t.Errorf("the chart was downloaded again: %+v", req)
		}
	}
	// Recorded: --offline now serves it, and a warm run asks nothing.
	wantCode(t, run("--registry-policy", pol, "--offline"), 0)
	stack.Open.ResetLog()
	putComponent(t, nsA, "pinned", testenv.OCISource(f.legacy.Ref+"@"+f.legacy.Digest, "", ""))
	wantCode(t, kubectl(t, "pinned", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", pol), 0)
	// The policy now trusts only another key: the entry's verification no
	// longer counts, and the registry has no signature by that key.
	other := verifyPolicy(t, cosignVerify(f.other))
	r = run("--registry-policy", other)
	wantCode(t, r, 2)
	wantStderr(t, r, "cosign: signed by an untrusted key")
}

// TestVerifyFlags: --verify-key and --keyring require a signature for every
// Component of the run, with no policy.
func TestVerifyFlags(t *testing.T) {
	f := signed(t)
	dir := t.TempDir()
	keyFile, ringFile := filepath.Join(dir, "cosign.pub"), filepath.Join(dir, "pubring.gpg")
	if err := os.WriteFile(keyFile, f.key.PublicPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ringFile, f.pgp.PublicBinary(), 0o600); err != nil {
		t.Fatal(err)
	}
	newHome(t)
	putComponent(t, nsA, "legacy", testenv.OCISource(f.legacy.Ref, "", ""))
	putComponent(t, nsA, "prov", testenv.OCISource(f.prov.Ref, "", ""))
	putComponent(t, nsA, "unsigned", testenv.OCISource(f.unsigned.Ref, "", ""))
	wantCode(t, kubectl(t, "legacy", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--verify-key", keyFile), 0)
	wantCode(t, kubectl(t, "prov", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--keyring", ringFile), 0)
	r := kubectl(t, "unsigned", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--verify-key", keyFile)
	wantCode(t, r, 2)
	// The flag is named as the source, and the hint does not send the user
	// to the registry policy, which cannot show a flag's key.
	wantStderr(t, r, "has no valid signature (required by --verify-key): cosign: no signature found", "Hint: a signature by a trusted key, identity or certificate is required by --verify-key")
	if strings.Contains(r.stderr, "policy") {
		t.Errorf("a refusal by --verify-key alone mentions the policy:\n%s", r.stderr)
	}
	r = kubectl(t, "legacy", "-n", nsA, "--verify-key", filepath.Join(dir, "missing.pub"))
	wantCode(t, r, 2)
	wantStderr(t, r, "reading --verify-key")
	// The component:// downloader never hands helm an unsigned chart the
	// policy requires to be signed.
	pol := verifyPolicy(t, cosignVerify(f.key))
	r = runFace(t, "ocisrc", map[string]string{"HELM_PLUGIN_NAME": "ocisrc-getter", "KUBECONFIG": stack.Cluster.Kubeconfig, "OCISRC_REGISTRY_POLICY": pol, "HELM_NAMESPACE": nsA},
		"", "", stack.Open.CAFile, "component://"+nsA+"/unsigned")
	wantCode(t, r, 2)
	if r.stdout != "" {
		t.Errorf("the downloader wrote %d bytes of an unsigned chart", len(r.stdout))
	}
	r = runFace(t, "ocisrc", map[string]string{"HELM_PLUGIN_NAME": "ocisrc-getter", "KUBECONFIG": stack.Cluster.Kubeconfig, "OCISRC_REGISTRY_POLICY": pol, "HELM_NAMESPACE": nsA},
		"", "", stack.Open.CAFile, "component://"+nsA+"/legacy")
	wantCode(t, r, 0)
}

// TestVerifyHelmPackageSign: a .prov made by the real `helm package --sign`
// and pushed by the real `helm push` verifies.
func TestVerifyHelmPackageSign(t *testing.T) {
	h := newHome(t)
	helm, err := testenv.ToolPath("helm3", "helm")
	if err != nil {
		t.Fatal(err)
	}
	key, err := testsign.NewPGPKey("Helm Signer", "helm@example.com")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secring := filepath.Join(dir, "secring.gpg")
	if err := os.WriteFile(secring, key.SecretBinary(), 0o600); err != nil {
		t.Fatal(err)
	}
	chartDir := filepath.Join(dir, "helmsigned")
	env := h.Environ(nil)
	helmRun := func(args ...string) {
		t.Helper()
		cmd := exec.Command(helm, args...)
		cmd.Env, cmd.Dir = env, dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	helmRun("create", chartDir)
	helmRun("package", chartDir, "--sign", "--key", "Helm Signer", "--keyring", secring, "-d", dir)
	if _, err := os.Stat(filepath.Join(dir, "helmsigned-0.1.0.tgz.prov")); err != nil {
		t.Fatalf("helm package --sign wrote no .prov: %v", err)
	}
	helmRun("push", filepath.Join(dir, "helmsigned-0.1.0.tgz"), "oci://"+stack.Open.Host+"/signed", "--ca-file", stack.Open.CAFile)
	pol := verifyPolicy(t, "    helm:\n      keyring: |\n"+indentBlock(key.PublicArmored(), "        "))
	putComponent(t, nsA, "helmsigned", testenv.OCISource("oci://"+stack.Open.Host+"/signed/helmsigned:0.1.0", "", ""))
	r := kubectl(t, "helmsigned", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", pol, "-o", "json")
	wantCode(t, r, 0)
	got := decodeTrust(t, r).Results[0]
	if len(got.Verified) != 1 || got.Verified[0].Provider != "helm" || got.Verified[0].Key != key.Fingerprint() {
		t.Errorf("verified = %+v", got.Verified)
	}
	// The .prov is cached beside the archive, where helm --verify looks.
	if _, err := os.Stat(got.Path + ".prov"); err != nil {
		t.Errorf("no .prov beside the cached chart: %v", err)
	}
}
