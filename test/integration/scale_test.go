package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// TestBulkCountsPerFact: a bulk run costs requests per fact, not per
// Component — a tag resolved once per place, a digest downloaded once, a
// (place, Secret) proven once and then remembered — the LIST comes in
// pages, and a warm run writes nothing to the cache. The sizes are small
// (40 Components) so that it runs in seconds; make bench-scale measures
// 10,000.
func TestBulkCountsPerFact(t *testing.T) {
	ctx := context.Background()
	reg, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), CA: stack.Secure.CA, Users: map[string]string{testenv.RegistryUser: testenv.RegistryPassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	const charts, tagged = 4, 36
	var pushed []*testenv.Pushed
	for i := range charts {
		c, err := testenv.BuildChart(fmt.Sprintf("s%d", i), "1.0.0", 0)
		if err != nil {
			t.Fatal(err)
		}
		p, err := reg.PushChart(ctx, fmt.Sprintf("charts/s%d", i), c, testenv.RegistryUser, testenv.RegistryPassword)
		if err != nil {
			t.Fatal(err)
		}
		pushed = append(pushed, p)
	}
	namespaces := []string{"scale-a", "scale-b", "scale-c"}
	for _, ns := range namespaces {
		if err := stack.Cluster.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		putSecret(t, ns, "creds", boundCreds(reg.Host))
	}
	label := func(ns, name string) {
		if err := stack.Cluster.Label(ctx, ns, name, map[string]string{"scale": "counts"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range tagged {
		ns, name := namespaces[i%3], fmt.Sprintf("tag-%02d", i)
		putComponent(t, ns, name, testenv.OCISource(pushed[i%charts].Ref, "creds", ns))
		label(ns, name)
	}
	// The same charts pinned by digest: a digest is downloaded once,
	// whether Components name it by tag or by digest.
	for i, p := range pushed {
		name := fmt.Sprintf("pin-%d", i)
		putComponent(t, "scale-a", name, testenv.OCISource(p.Ref+"@"+p.Digest, "creds", "scale-a"))
		label("scale-a", name)
	}
	total := tagged + charts
	h := newHome(t)
	run := func() result {
		return runBinary(t, h, nil, "fetch", "--kubeconfig", stack.Cluster.Kubeconfig, "-l", "scale=counts", "-A", "--chunk-size", "10", "-v=6", "--registry-ca-file", stack.Secure.CAFile)
	}
	countAPI := func(r result, part string) int { return strings.Count(r.stderr, part) }

	reg.ResetLog()
	r := run()
	wantCode(t, r, 0)
	if n := strings.Count(r.stdout, "  pulled  ") + strings.Count(r.stdout, "  cached  "); n != total {
		t.Fatalf("%d results, want %d:\n%s", n, total, r.stdout)
	}
	reqs := reg.Requests()
	var served []testenv.Request
	for _, q := range reqs {
		if q.Status != 401 {
			served = append(served, q)
		}
	}
	for _, p := range pushed {
		repo := "/" + strings.SplitN(strings.TrimPrefix(p.Ref, "oci://"+reg.Host+"/"), ":", 2)[0] + "/"
		if n := countPath(served, "GET", repo+"blobs/"+p.LayerDigest); n != 1 {
			t.Errorf("%s: the chart layer was downloaded %d times, want once", repo, n)
		}
		if n := countPath(served, "HEAD", repo+"manifests/1.0.0"); n != 1 {
			t.Errorf("%s: the tag was resolved %d times, want once", repo, n)
		}
	}
	// Proofs: 4 repositories × 3 Secrets, less the 4 the downloads proved.
	proofs := 0
	for _, q := range served {
		if q.Method == "HEAD" && strings.Contains(q.Path, "/manifests/sha256:") {
			proofs++
		}
	}
	if bound := 3*charts + (charts*3 - charts) + charts; len(served) > bound || proofs > charts*3-charts {
		t.Errorf("cold: %d requests (not counting 401s), %d proofs; want at most %d and %d:\n%s", len(served), proofs, bound, charts*3-charts, describe(reqs))
	}
	if n := len(reqs) - len(served); n > len(namespaces)+1 {
		t.Errorf("%d 401s, want at most one per credential", n)
	}
	// API: the LIST in pages of 10, the policy ConfigMap, a Secret per namespace.
	pages := countAPI(r, "/components?")
	if want := (total + 9) / 10; pages != want && pages != want+1 {
		t.Errorf("%d LIST requests, want %d pages of 10", pages, want)
	}
	if n := countAPI(r, "/secrets/"); n > 2*len(namespaces) {
		t.Errorf("%d Secret reads for %d Secrets", n, len(namespaces))
	}

	// Warm: one request per (place, tag), none for the pins, nothing written.
	before := snapshotDir(t, filepath.Join(h.Env["HELM_REPOSITORY_CACHE"], "ocisrc"))
	reg.ResetLog()
	r = run()
	wantCode(t, r, 0)
	if n := len(reg.Requests()); n != charts {
		t.Errorf("warm: %d registry requests, want %d (one per place and tag):\n%s", n, charts, describe(reg.Requests()))
	}
	if after := snapshotDir(t, filepath.Join(h.Env["HELM_REPOSITORY_CACHE"], "ocisrc")); after != before {
		t.Errorf("a warm run wrote to the cache:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// A Secret proven for a repository reads every chart that place served
	// with no request, in a later run too: a new Component in scale-b
	// pinning a chart only scale-a's Components pinned before.
	putComponent(t, "scale-b", "late-pin", testenv.OCISource(pushed[0].Ref+"@"+pushed[0].Digest, "creds", "scale-b"))
	reg.ResetLog()
	r = runBinary(t, h, nil, "fetch", "--kubeconfig", stack.Cluster.Kubeconfig, "late-pin", "-n", "scale-b", "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 0)
	if n := len(reg.Requests()); n != 0 {
		t.Errorf("a proven (place, Secret) made %d requests:\n%s", n, describe(reg.Requests()))
	}
}

func countPath(reqs []testenv.Request, method, path string) int {
	n := 0
	for _, q := range reqs {
		if q.Method == method && q.Path == "/v2"+path {
			n++
		}
	}
	return n
}

// snapshotDir names every file under root with its size and modification time.
func snapshotDir(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			lines = append(lines, fmt.Sprintf("%s %d %s", strings.TrimPrefix(p, root), info.Size(), info.ModTime()))
		}
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
