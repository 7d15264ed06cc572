package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/internal/testenv"
	"github.com/ocisrc/ocisrc/internal/testsign"
)

// TestBundleRoundTrip is the air-gap acceptance test: Components pulled from
// registry A are bundled, the bundle is pushed to registry B, A is stopped,
// and with a policy that maps A's prefix to B as a mirror (origin: never)
// every digest-pinned Component pulls from B, its signatures still verifying.
func TestBundleRoundTrip(t *testing.T) {
	ctx := context.Background()
	a, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), CA: stack.Open.CA})
	if err != nil {
		t.Fatal(err)
	}
	aOpen := true
	defer func() {
		if aOpen {
			a.Close()
		}
	}()
	b, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), CA: stack.Open.CA})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	key, err := testsign.NewCosignKey()
	if err != nil {
		t.Fatal(err)
	}
	pgp, err := testsign.NewPGPKey("Air Gap", "airgap@example.com")
	if err != nil {
		t.Fatal(err)
	}
	anon := auth.Credential{}
	build := func(name string) *testenv.Chart {
		c, err := testenv.BuildChart(name, "1.0.0", 0)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	legacy, err := a.PushChart(ctx, "charts/legacy", build("legacy"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	payload, sig := key.SignSimpleSigning(a.Host+"/charts/legacy", legacy.Digest)
	if err := a.PushCosignSignature(ctx, "charts/legacy", legacy.Digest, anon, [2]string{string(payload), sig}); err != nil {
		t.Fatal(err)
	}
	bundled, err := a.PushChart(ctx, "charts/bundled", build("bundled"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PushBundleReferrer(ctx, "charts/bundled", bundled.Manifest, key.Bundle("bundled", bundled.Digest), anon); err != nil {
		t.Fatal(err)
	}
	provChart := build("withprov")
	prov, err := pgp.Provenance("withprov", "1.0.0", provChart.Archive)
	if err != nil {
		t.Fatal(err)
	}
	withProv, err := a.PushChartWithProv(ctx, "charts/withprov", provChart, prov, anon)
	if err != nil {
		t.Fatal(err)
	}
	// Keyless cosign (a private Sigstore instance) and Notation.
	ss, err := testsign.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	ssRoot, err := ss.TrustedRoot(testsign.RootOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keylessChart, err := a.PushChart(ctx, "charts/keyless", build("keyless"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	keylessBundle, err := ss.Sign(ciSubject, ciIssuer, a.Host+"/charts/keyless", nil, keylessChart.Digest, testsign.KeylessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PushBundleReferrer(ctx, "charts/keyless", keylessChart.Manifest, keylessBundle, anon); err != nil {
		t.Fatal(err)
	}
	notary, err := testsign.NewNotationCA("airgap.example.com")
	if err != nil {
		t.Fatal(err)
	}
	notationChart, err := a.PushChart(ctx, "charts/notation", build("notation"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	envelope, err := notary.Sign(notationChart.Manifest, "application/cose")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PushNotationReferrer(ctx, "charts/notation", notationChart.Manifest, envelope, "application/cose", anon); err != nil {
		t.Fatal(err)
	}
	const ns = "airgap"
	pinned := map[string]*testenv.Pushed{"legacy": legacy, "bundled": bundled, "withprov": withProv, "keyless": keylessChart, "notation": notationChart}
	providers := map[string]string{"legacy": "cosign", "bundled": "cosign", "withprov": "helm", "keyless": "cosign", "notation": "notation"}
	for name, p := range pinned {
		putComponent(t, ns, name, testenv.OCISource(p.Ref+"@"+p.Digest, "", ""))
	}
	ca := []string{"--registry-ca-file", stack.Open.CAFile}
	dir := t.TempDir()
	file := filepath.Join(dir, "charts.tar")

	// Create, through the cache.
	newHome(t)
	r := kubectl(t, "--all", "-n", ns, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 0)
	a.ResetLog()
	// --dry-run says what would be bundled and writes nothing.
	r = runFace(t, "ocisrc", nil, append([]string{"bundle", "create", file, "--all", "-n", ns, "--dry-run", "--kubeconfig", stack.Cluster.Kubeconfig}, ca...)...)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "Would bundle airgap/legacy: "+legacy.Ref+"@"+legacy.Digest) || !strings.Contains(r.stdout, "Would write "+file) {
		t.Errorf("dry run: %s", r)
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("--dry-run wrote the bundle")
	}
	// The file comes first; the old --output is a deprecated alias.
	r = runFace(t, "ocisrc", nil, append([]string{"bundle", "create", "--all", "-n", ns, "--kubeconfig", stack.Cluster.Kubeconfig}, ca...)...)
	wantCode(t, r, 2)
	wantStderr(t, r, "the bundle FILE.tar is required, as the first argument")
	r = runFace(t, "ocisrc", nil, append([]string{"bundle", "create", "legacy", "-n", ns, "--kubeconfig", stack.Cluster.Kubeconfig}, ca...)...)
	wantCode(t, r, 2)
	wantStderr(t, r, `the first argument is the bundle file to write and must end in .tar, got "legacy"`)
	a.ResetLog()
	r = runFace(t, "ocisrc", nil, append([]string{"bundle", "create", file, "--all", "-n", ns, "--kubeconfig", stack.Cluster.Kubeconfig}, ca...)...)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "Bundled 5 charts and 4 signatures into "+file) {
		t.Errorf("stdout: %s", r.stdout)
	}
	for _, req := range a.Requests() {
		for _, p := range pinned {
			if strings.HasSuffix(req.Path, p.LayerDigest) {
				t.Errorf("a warm chart was downloaded again: %+v", req)
			}
		}
	}
	// --offline bundles the cache alone: no request, no signatures, a warning.
	offlineFile := filepath.Join(dir, "offline.tar")
	a.ResetLog()
	r = runFace(t, "ocisrc", nil, append([]string{"bundle", "create", "--all", "-n", ns, "--offline", "--output", offlineFile, "--kubeconfig", stack.Cluster.Kubeconfig}, ca...)...)
	wantCode(t, r, 0)
	wantStderr(t, r, "Warning: --output is deprecated: give the bundle file as the first argument (ocisrc bundle create FILE.tar NAME...)", "Warning: --offline: the charts are bundled without their signatures")
	if !strings.Contains(r.stdout, "Bundled 5 charts and 0 signatures into "+offlineFile) {
		t.Errorf("offline: %s", r)
	}
	if n := requests(a); n != 0 {
		t.Errorf("an offline bundle made %d registry requests", n)
	}
	// List.
	r = runFace(t, "ocisrc", nil, "bundle", "list", file, "-o", "json")
	wantCode(t, r, 0)
	var listed struct {
		Charts []struct {
			Reference, Digest, Chart string
			Signatures               int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed.Charts) != 5 {
		t.Fatalf("list: %v\n%s", err, r.stdout)
	}
	for _, c := range listed.Charts {
		p := pinned[c.Chart]
		if p == nil || c.Digest != p.Digest || (c.Chart != "withprov" && c.Signatures != 1) || !strings.HasPrefix(c.Reference, "oci://"+a.Host+"/charts/") {
			t.Errorf("listed %+v", c)
		}
	}
	// Push to B, under a base path.
	r = runFace(t, "ocisrc", nil, append([]string{"bundle", "push", file, "--to", b.Host + "/base", "--cluster-registry-policy=false"}, ca...)...)
	wantCode(t, r, 0)
	if strings.Count(r.stdout, "Pushed ") != 5 || !strings.Contains(r.stdout, "-> "+b.Host+"/base/charts/legacy:1.0.0@"+legacy.Digest+" (1 signature)") {
		t.Errorf("push: %s", r.stdout)
	}
	// A registry that requires credentials, and no login for it: the error
	// says where credentials were looked for and how to add them.
	r = runFace(t, "ocisrc", nil, "bundle", "push", file, "--to", stack.Secure.Host+"/base", "--cluster-registry-policy=false", "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 1)
	wantStderr(t, r, `pushing the bundle "charts.tar" to `+stack.Secure.Host+"/base: the registry "+stack.Secure.Host+" requires credentials, and there are none for it in your Helm registry login (",
		"Hint: log in once with: helm registry login "+stack.Secure.Host)
	if strings.Contains(r.stderr, "failed to perform") || strings.Contains(r.stderr, "basic credential not found") {
		t.Errorf("a library's words reach the user:\n%s", r.stderr)
	}
	// A goes away; B serves everything, verified.
	a.Close()
	aOpen = false
	pol := writePolicy(t, fmt.Sprintf(`registries:
- prefix: %s
  mirrors:
  - location: %s/base
  origin: never
  verify:
    cosign:
      keys:
      - |
%s
      keyless:
        identities:
        - {issuer: %q, subject: %q}
        trustedRoot: |
%s
    helm:
      keyring: |
%s
    notation:
      trustStore:
      - |
%s
      identities: [%q]
`, a.Host, b.Host, indentBlock(key.PublicPEM, "        "), ciIssuer, ciSubject, indentBlock(ssRoot, "          "), indentBlock(pgp.PublicArmored(), "        "),
		indentBlock(notary.RootPEM(), "        "), notary.Identity()))
	newHome(t)
	r = kubectl(t, "--all", "-n", ns, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", pol, "-o", "json")
	wantCode(t, r, 0)
	d := decodeTrust(t, r)
	if len(d.Results) != 5 {
		t.Fatalf("results: %+v", d.Results)
	}
	var src struct {
		Results []struct{ Component, Source string } `json:"results"`
	}
	_ = json.Unmarshal([]byte(r.stdout), &src)
	for i, res := range d.Results {
		name := strings.TrimPrefix(res.Component, ns+"/")
		if res.Digest != pinned[name].Digest || len(res.Verified) != 1 || res.Verified[0].Provider != providers[name] || src.Results[i].Source != b.Host+"/base/charts/"+name {
			t.Errorf("%s: %+v from %s", res.Component, res, src.Results[i].Source)
		}
	}

	t.Run("a tampered bundle", func(t *testing.T) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		// Flip a byte inside the chart archive of the legacy chart.
		at := bytes.Index(data, pinnedArchivePrefix(t, legacy))
		if at < 0 {
			t.Fatal("the archive is not in the bundle")
		}
		bad := bytes.Clone(data)
		bad[at+100] ^= 0xff
		tampered := filepath.Join(dir, "tampered.tar")
		if err := os.WriteFile(tampered, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), CA: stack.Open.CA})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, args := range [][]string{{"bundle", "list", tampered}, append([]string{"bundle", "push", tampered, "--to", c.Host + "/x", "--cluster-registry-policy=false"}, ca...)} {
			r := runFace(t, "ocisrc", nil, args...)
			wantCode(t, r, 1)
			wantStderr(t, r, "is damaged: blob "+legacy.LayerDigest+" hashes to sha256:")
		}
		if n := len(c.Requests()); n != 0 {
			t.Errorf("a tampered bundle pushed %d requests", n)
		}
	})
	t.Run("a truncated bundle", func(t *testing.T) {
		data, _ := os.ReadFile(file)
		truncated := filepath.Join(dir, "truncated.tar")
		if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		r := runFace(t, "ocisrc", nil, "bundle", "list", truncated)
		wantCode(t, r, 1)
		wantStderr(t, r, "is truncated")
	})
}

// pinnedArchivePrefix is the first bytes of a pushed chart's archive.
func pinnedArchivePrefix(t *testing.T, p *testenv.Pushed) []byte {
	t.Helper()
	// The whole archive: archives of charts built alike may share a prefix.
	return p.Blobs[1]
}

// TestBundleCreateInterrupted: Ctrl-C during create leaves no file behind.
func TestBundleCreateInterrupted(t *testing.T) {
	h := newHome(t)
	fp := faultProxy(t, app123)
	fp.Set(&testenv.Rule{Method: "GET", PathContains: "/blobs/" + app123.LayerDigest, Fault: testenv.Fault{Stall: true}})
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "faulty", testenv.OCISource("oci://"+fp.Host+"/charts/app:1.2.3", "creds", nsA))
	dir := t.TempDir()
	out := filepath.Join(dir, "charts.tar")
	cmd, errOut := startBinaryArgs(t, h, "bundle", "create", "faulty", "-n", nsA, "--output", out, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Secure.CAFile)
	deadline := time.Now().Add(20 * time.Second)
	for len(fp.Requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d, want 130\n%s", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}
