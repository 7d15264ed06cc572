package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// The tests of the multi-tenant rules: tenants write Components (and may own
// a registry); an operator runs ocisrc with the right to read the system
// namespace's Secrets. Nothing a tenant writes may steer the operator's
// credentials, or another tenant's charts, to the tenant.

// TestSecretTypesAreChecked: a service-account token (or any other type that
// is not registry credentials) is never sent, even bound.
func TestSecretTypesAreChecked(t *testing.T) {
	for name, tc := range map[string]struct {
		typ     string
		data    map[string]string
		wantErr string
	}{
		"service-account token": {typ: "kubernetes.io/service-account-token",
			data:    map[string]string{"token": "tok-never-print-me", "registry": "REGISTRY"},
			wantErr: `secret "deployment-system/sa-token" is of type "kubernetes.io/service-account-token", which ocisrc never uses for registry authentication`},
		"credentials in a TLS Secret": {typ: "kubernetes.io/tls",
			data:    map[string]string{"tls.crt": "CERT", "tls.key": "KEY", "username": testenv.RegistryUser, "password": testenv.RegistryPassword, "registry": "REGISTRY"},
			wantErr: `secret "deployment-system/sa-token" is of type kubernetes.io/tls, which may hold a client certificate only, but it has a "username" key`},
		"bootstrap token": {typ: "bootstrap.kubernetes.io/token",
			data:    map[string]string{"token-id": "abcdef", "token-secret": "0123456789abcdef", "registry": "REGISTRY"},
			wantErr: `is of type "bootstrap.kubernetes.io/token"`},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHome(t)
			_, certPEM, keyPEM, err := clientCA.ClientCertificate("x")
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.data {
				v = strings.ReplaceAll(v, "REGISTRY", stack.Secure.Host)
				v = strings.ReplaceAll(strings.ReplaceAll(v, "CERT", string(certPEM)), "KEY", string(keyPEM))
				tc.data[k] = v
			}
			if tc.typ == "kubernetes.io/service-account-token" {
				// The API server fills service-account tokens itself; a Secret of that
				// type needs an existing account named in its annotation.
				putSAToken(t, nsSys, "sa-token", tc.data)
			} else {
				putTypedSecret(t, nsSys, "sa-token", tc.typ, tc.data)
			}
			putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "sa-token", nsSys))
			stack.Secure.ResetLog()
			r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
			wantCode(t, r, 2)
			wantStderr(t, r, tc.wantErr)
			if n := requests(stack.Secure); n != 0 {
				t.Errorf("%d registry requests, want 0", n)
			}
			assertNoCacheEntries(t, h)
		})
	}
}

// TestHostsAreValidated: a host with shell metacharacters or non-ASCII
// letters is refused when the reference is read, before any Secret is read.
func TestHostsAreValidated(t *testing.T) {
	for name, tc := range map[string]struct{ chart, want string }{
		"shell metacharacters": {chart: "oci://x';touch$IFS'PWNED';'/charts/app:1.0.0", want: `has an invalid registry host "x';touch$IFS'PWNED';'"`},
		"a dotted capital I":   {chart: "oci://registry.gİtlab.com/charts/app:1.0.0", want: `has an invalid registry host "registry.g\u0130tlab.com"`},
		"an escape sequence":   {chart: "oci://r\x1b[2J.io/charts/app:1.0.0", want: `has an invalid registry host "r\x1b[2J.io"`},
	} {
		t.Run(name, func(t *testing.T) {
			newHome(t)
			dir := t.TempDir()
			putSecret(t, nsSys, "shared", map[string]string{"username": testenv.RegistryUser, "password": testenv.RegistryPassword, "registry": "registry.gitlab.com"})
			putComponent(t, nsA, "evil", testenv.OCISource(tc.chart, "shared", nsSys))
			r := runBinary(t, mustHome(t, dir), nil, "fetch", "evil", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig)
			wantCode(t, r, 2)
			wantStderr(t, r, tc.want)
			if strings.ContainsAny(r.stderr, "\x1b") {
				t.Errorf("an escape reached the terminal: %q", r.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
				t.Error("a command ran")
			}
		})
	}
	t.Run("a registry key with a Unicode host", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsSys, "shared", map[string]string{"username": testenv.RegistryUser, "password": testenv.RegistryPassword, "registry": "registry.gİtlab.com"})
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "shared", nsSys))
		r := kubectl(t, "app", "-n", nsA)
		wantCode(t, r, 2)
		wantStderr(t, r, `secret "deployment-system/shared" has an invalid "registry" key: "registry.g\u0130tlab.com" is not a registry host`)
	})
}

func putSAToken(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	ctx := context.Background()
	if err := stack.Cluster.PutServiceAccountToken(ctx, ns, name, data); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Cluster.DeleteSecret(ctx, ns, name) })
}

func mustHome(t *testing.T, dir string) *testenv.Home {
	t.Helper()
	h, err := testenv.NewHome(dir)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestCacheHitsProveAccess: the store is shared by every Component of a
// machine, so a digest alone must not open it.
func TestCacheHitsProveAccess(t *testing.T) {
	newHome(t)
	// Tenant A pulls its private chart: the store now holds it.
	putSecret(t, nsA, "creds", goodCreds())
	putSecret(t, nsB, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref+"@"+app123.Digest, "creds", nsA))
	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 0)

	t.Run("a pin under a registry that never served it is downloaded there", func(t *testing.T) {
		putComponent(t, nsB, "steal", testenv.OCISource("oci://127.0.0.1:1/charts/app@"+app123.Digest, "", ""))
		r := kubectl(t, "steal", "-n", nsB, "-o", "json")
		wantCode(t, r, 1)
		wantStderr(t, r, `pulling "oci://127.0.0.1:1/charts/app@`+app123.Digest+`"`)
		if got := decodeJSON(t, r).Results[0]; got.Path != "" || got.Cached {
			t.Errorf("served: %+v", got)
		}
	})
	t.Run("an anonymous pin at the private registry", func(t *testing.T) {
		putComponent(t, nsB, "steal", testenv.OCISource("oci://"+stack.Secure.Host+"/charts/app@"+app123.Digest, "", ""))
		stack.Secure.ResetLog()
		r := kubectl(t, "steal", "-n", nsB, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 1)
		wantStderr(t, r, "requires credentials (401 unauthorized)")
		for _, req := range stack.Secure.Requests() {
			if req.Method != "HEAD" {
				t.Errorf("want only the HEAD that proves access, got %s %s", req.Method, req.Path)
			}
		}
	})
	t.Run("another tenant's own credentials prove access once", func(t *testing.T) {
		putComponent(t, nsB, "app", testenv.OCISource(app123.Ref+"@"+app123.Digest, "creds", nsB))
		stack.Secure.ResetLog()
		r := kubectl(t, "app", "-n", nsB, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
		wantCode(t, r, 0)
		if got := decodeJSON(t, r).Results[0]; !got.Cached || got.Credentials != "team-b/creds" {
			t.Errorf("unexpected result %+v", got)
		}
		if n := countRequests(stack.Secure.Requests(), "HEAD", "/manifests/"+app123.Digest); n == 0 || statusCount(stack.Secure.Requests(), 200) != 1 {
			t.Errorf("want one HEAD by digest, got %+v", stack.Secure.Requests())
		}
		if n := countRequests(stack.Secure.Requests(), "GET", ""); n != 0 {
			t.Errorf("%d GETs, want none: the chart comes from the cache", n)
		}
		// Recorded: the next run makes no request.
		stack.Secure.ResetLog()
		r = kubectl(t, "app", "-n", nsB, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 0)
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("%d requests after access was recorded, want 0", n)
		}
	})
	t.Run("--offline serves only what the cache records for this place and Secret", func(t *testing.T) {
		putComponent(t, nsB, "steal", testenv.OCISource("oci://127.0.0.1:1/charts/app@"+app123.Digest, "", ""))
		r := kubectl(t, "steal", "-n", nsB, "--offline", "-o", "json")
		wantCode(t, r, 1)
		wantStderr(t, r, "--offline: the cache holds "+app123.Digest+", but does not record that anonymous access may read it at 127.0.0.1:1/charts/app, so it is not served")
		if got := decodeJSON(t, r).Results[0]; got.Path != "" {
			t.Errorf("served: %+v", got)
		}
		// The legitimate owners, recorded, are served offline.
		for _, ns := range []string{nsA, nsB} {
			r = kubectl(t, "app", "-n", ns, "--offline", "-o", "json")
			wantCode(t, r, 0)
			if got := decodeJSON(t, r).Results[0]; !got.Cached || got.Path == "" {
				t.Errorf("%s: %+v", ns, got)
			}
		}
	})
}

// TestLyingTagIsNotServed: a tenant's own registry answers a tag HEAD with
// another tenant's digest; the cached chart of that digest is not served.
func TestLyingTagIsNotServed(t *testing.T) {
	newHome(t)
	ctx := context.Background()
	// The tenant's registry holds its own app:1.2.3 (other bytes).
	c, err := testenv.BuildChart("app", "1.2.3", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stack.Open.PushChart(ctx, "charts/app", c, "", ""); err != nil {
		t.Fatal(err)
	}
	lying, err := testenv.NewFaultProxy(stack.Open, stack.Open.CA)
	if err != nil {
		t.Fatal(err)
	}
	defer lying.Close()

	// The victim's private chart is in the store.
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
	wantCode(t, kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile), 0)
	// The tenant's Component, pulled once honestly, so its tag is known.
	putComponent(t, nsB, "app", testenv.OCISource("oci://"+lying.Host+"/charts/app:1.2.3", "", ""))
	wantCode(t, kubectl(t, "app", "-n", nsB, "--registry-ca-file", stack.Open.CAFile), 0)

	lying.Set(&testenv.Rule{Method: "HEAD", PathContains: "/manifests/1.2.3", Fault: testenv.Fault{Digest: app123.Digest}})
	r := kubectl(t, "app", "-n", nsB, "--registry-ca-file", stack.Open.CAFile, "-o", "json")
	wantCode(t, r, 1)
	wantStderr(t, r, "not found in the registry "+lying.Host)
	if got := decodeJSON(t, r).Results[0]; got.Path != "" || got.Digest == app123.Digest && got.Error == "" {
		t.Errorf("the victim's chart was served: %+v", got)
	}
	// The tenant's registry never served these bytes: its word is not
	// asked for (no HEAD by digest); the manifest is asked for, and it has
	// none.
	if n := countRequests(lying.Requests(), "HEAD", "/manifests/"+app123.Digest); n != 0 {
		t.Errorf("a HEAD by digest at a registry that never served it, got %+v", lying.Requests())
	}
	if n := countRequests(lying.Requests(), "GET", "/manifests/"+app123.Digest); n != 1 {
		t.Errorf("want the manifest asked for at the tenant's registry, got %+v", lying.Requests())
	}
}

// TestRegistryWordIsNotProof: a tenant's registry that answers HEAD …@D
// with 200 for another tenant's private digest D (it never held the bytes)
// is not believed: the cached chart is not served, nothing is recorded for
// that place, and a later run sends requests again; the owner is served.
func TestRegistryWordIsNotProof(t *testing.T) {
	newHome(t)
	lying, err := testenv.NewFaultProxy(stack.Open, stack.Open.CA)
	if err != nil {
		t.Fatal(err)
	}
	defer lying.Close()
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref+"@"+app123.Digest, "creds", nsA))
	wantCode(t, kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile), 0)

	// Every HEAD by digest at the tenant's registry says 200 with D.
	lying.Set(&testenv.Rule{Method: "HEAD", PathContains: "/manifests/" + app123.Digest, Fault: testenv.Fault{Claim: app123.Digest}})
	putComponent(t, nsB, "steal", testenv.OCISource("oci://"+lying.Host+"/charts/app@"+app123.Digest, "", ""))
	for i := 0; i < 2; i++ {
		r := kubectl(t, "steal", "-n", nsB, "--registry-ca-file", stack.Open.CAFile, "-o", "json")
		wantCode(t, r, 1)
		if got := decodeJSON(t, r).Results[0]; got.Path != "" || got.Cached {
			t.Fatalf("run %d: the other tenant's chart was served on a registry's word: %+v", i, got)
		}
	}
	if n := countRequests(lying.Requests(), "GET", "/manifests/"+app123.Digest); n != 2 {
		t.Errorf("want one manifest GET per run (nothing recorded after the first), got %+v", lying.Requests())
	}
	// The owner still gets it, with no request.
	stack.Secure.ResetLog()
	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	wantCode(t, r, 0)
	if n := requests(stack.Secure); n != 0 || !decodeJSON(t, r).Results[0].Cached {
		t.Errorf("the owner's warm pin: %d requests\n%s", n, r)
	}
}

// TestDestinationCollisions: two Components whose charts share a name and a
// version (from two registries) never overwrite each other in -d.
func TestDestinationCollisions(t *testing.T) {
	newHome(t)
	ctx := context.Background()
	c, err := testenv.BuildChart("app", "1.2.3", 2)
	if err != nil {
		t.Fatal(err)
	}
	other, err := stack.Open.PushChart(ctx, "charts/app", c, "", "")
	if err != nil {
		t.Fatal(err)
	}
	const ns = "collide"
	putSecret(t, ns, "creds", goodCreds())
	putComponent(t, ns, "a-private", testenv.OCISource(app123.Ref, "creds", ns))
	putComponent(t, ns, "b-public", testenv.OCISource(other.Ref, "", ""))
	putComponent(t, ns, "c-private-again", testenv.OCISource(app123.Ref, "creds", ns))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	secure, _ := os.ReadFile(stack.Secure.CAFile)
	open, _ := os.ReadFile(stack.Open.CAFile)
	if err := os.WriteFile(ca, append(secure, open...), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	r := kubectl(t, "--all", "-n", ns, "-d", dest, "--registry-ca-file", ca, "--concurrency", "1", "-o", "json")
	wantCode(t, r, 1)
	wantStderr(t, r, "both pull a chart named app-1.2.3.tgz, with different content", `"collide/a-private"`, `"collide/b-public"`, "refusing to overwrite")
	d := decodeJSON(t, r)
	byName := map[string]int{}
	for i, res := range d.Results {
		byName[res.Component] = i
	}
	first, second, third := d.Results[byName["collide/a-private"]], d.Results[byName["collide/b-public"]], d.Results[byName["collide/c-private-again"]]
	if first.Destination == "" || second.Destination != "" || second.Error == "" || third.Destination != first.Destination {
		t.Errorf("unexpected results %+v", d.Results)
	}
	if got := fileDigest(t, first.Destination); got != app123.LayerDigest {
		t.Errorf("%s holds %s, want the first Component's chart %s", first.Destination, got, app123.LayerDigest)
	}
}

// TestRedirectedOversizedBlob: --max-chart-size holds wherever the blob is
// served from, and a layer that claims more is refused before it is fetched.
func TestRedirectedOversizedBlob(t *testing.T) {
	newHome(t)
	ctx := context.Background()
	c, err := testenv.BuildChart("big", "1.0.0", 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	big, err := stack.Open.PushChart(ctx, "charts/big", c, "", "")
	if err != nil {
		t.Fatal(err)
	}
	blobs.Put(big.Blobs...)
	stack.Open.RedirectBlobs(blobs)
	t.Cleanup(func() { stack.Open.RedirectBlobs(nil) })
	blobs.ResetLog()
	putComponent(t, nsA, "big", testenv.OCISource(big.Ref, "", ""))
	r := kubectl(t, "big", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "--max-chart-size", "1Mi")
	wantCode(t, r, 1)
	wantStderr(t, r, "more than the maximum chart size of 1.0 MiB", "--max-chart-size")
	for _, req := range blobs.Requests() {
		if strings.HasSuffix(req.Path, big.LayerDigest) {
			t.Errorf("the oversized layer was fetched: %+v", req)
		}
	}
}

// TestPlainHTTPTokenRealm: a plain-HTTP registry on loopback (a port-forward)
// whose challenge names an http:// realm on another host gets no credentials
// sent there.
func TestPlainHTTPTokenRealm(t *testing.T) {
	h := newHome(t)
	ctx := context.Background()
	dir := t.TempDir()
	reg, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: dir, PlainHTTP: true, Token: tokenServer, TokenRealm: "http://realm.example.test/token"})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	c, err := testenv.BuildChart("fwd", "1.0.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Push through the real token server (the registry trusts its tokens).
	tok, err := tokenServer.Mint(testenv.RegistryUser, "repository:charts/fwd:pull,push")
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := reg.PushChartWithToken(ctx, "charts/fwd", c, tok)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewRecordingProxy()
	defer proxy.Close()
	putSecret(t, nsA, "fwd", goodCreds())
	putComponent(t, nsA, "fwd", testenv.OCISource(pushed.Ref, "fwd", nsA))
	r := runBinary(t, h, map[string]string{"HTTP_PROXY": proxy.URL, "http_proxy": proxy.URL, "NO_PROXY": "", "no_proxy": ""},
		"fetch", "fwd", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "--plain-http")
	wantCode(t, r, 2)
	wantStderr(t, r, "refusing to send credentials over plain HTTP to realm.example.test", "--allow-plain-http-credentials")
	for _, req := range proxy.Requests() {
		if req.Authorization || req.Body {
			t.Errorf("credentials went to %s over plain HTTP: %+v", req.Host, req)
		}
	}
}
