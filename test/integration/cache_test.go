package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// runBinary runs the built ocisrc (standalone face) with the Home's environment.
func runBinary(t *testing.T, h *testenv.Home, extra map[string]string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = h.Environ(extra)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "output", r.stdout+r.stderr)
	return r
}

// countRequests counts the registry's requests matching method and a path suffix.
func countRequests(reqs []testenv.Request, method, suffix string) int {
	n := 0
	for _, r := range reqs {
		if (method == "" || r.Method == method) && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

func statusCount(reqs []testenv.Request, status int) int {
	n := 0
	for _, r := range reqs {
		if r.Status == status {
			n++
		}
	}
	return n
}

func describe(reqs []testenv.Request) string {
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "  %s %s %d\n", r.Method, r.Path, r.Status)
	}
	return b.String()
}

func TestRequestCounts(t *testing.T) {
	newHome(t)
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
	putComponent(t, nsA, "app-next", testenv.OCISource(app124.Ref, "creds", nsA))
	putComponent(t, nsA, "pinned", testenv.OCISource(app123.Ref+"@"+app123.Digest, "creds", nsA))
	ca := []string{"--registry-ca-file", stack.Secure.CAFile}

	// Cold, first contact with the registry: a 401, then manifest, config, chart.
	stack.Secure.ResetLog()
	wantCode(t, kubectl(t, append([]string{"app", "-n", nsA}, ca...)...), 0)
	cold := stack.Secure.Requests()
	if len(cold) > 4 || statusCount(cold, 401) != 1 || countRequests(cold, "GET", "/blobs/"+app123.LayerDigest) != 1 {
		t.Errorf("cold pull by tag: want at most 4 requests (one 401), got:\n%s", describe(cold))
	}
	// The tag is resolved by the manifest's own GET: no HEAD before it.
	manifests := 0
	for _, q := range cold {
		if strings.Contains(q.Path, "/manifests/") && q.Status == 200 {
			manifests++
		}
	}
	if manifests != 1 || countRequests(cold, "HEAD", "") != 0 {
		t.Errorf("cold pull by tag: want one manifest request that succeeds and no HEAD, got:\n%s", describe(cold))
	}

	// Cold, registry known to use basic auth: no 401 any more.
	stack.Secure.ResetLog()
	wantCode(t, kubectl(t, append([]string{"app-next", "-n", nsA}, ca...)...), 0)
	known := stack.Secure.Requests()
	if len(known) != 3 || statusCount(known, 401) != 0 {
		t.Errorf("cold pull from a known registry: want 3 requests and no 401, got:\n%s", describe(known))
	}

	// Warm tag: one request to resolve the tag, then the cache.
	stack.Secure.ResetLog()
	r := kubectl(t, append([]string{"app", "-n", nsA, "-o", "json"}, ca...)...)
	wantCode(t, r, 0)
	warm := stack.Secure.Requests()
	if len(warm) != 1 || warm[0].Method != "HEAD" || warm[0].Status != 200 || !decodeJSON(t, r).Results[0].Cached {
		t.Errorf("warm pull by tag: want one HEAD and a cache hit, got:\n%s%s", describe(warm), r)
	}

	// Warm digest pin: nothing at all.
	stack.Secure.ResetLog()
	r = kubectl(t, append([]string{"pinned", "-n", nsA, "-o", "json"}, ca...)...)
	wantCode(t, r, 0)
	if n := requests(stack.Secure); n != 0 || !decodeJSON(t, r).Results[0].Cached {
		t.Errorf("warm digest pin: want 0 requests and a cache hit, got %d:\n%s", n, r)
	}
}

func TestOffline(t *testing.T) {
	newHome(t)
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
	putComponent(t, nsA, "other", testenv.OCISource(app124.Ref, "creds", nsA))
	putComponent(t, nsA, "pin", testenv.OCISource(app124.Ref+"@"+app124.Digest, "creds", nsA))
	wantCode(t, kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile), 0)

	stack.Secure.ResetLog()
	r := kubectl(t, "app", "-n", nsA, "--offline", "-o", "json")
	wantCode(t, r, 0)
	if got := decodeJSON(t, r).Results[0]; !got.Cached || got.Digest != app123.Digest {
		t.Errorf("offline result %+v", got)
	}
	for _, name := range []string{"other", "pin"} {
		r = kubectl(t, name, "-n", nsA, "--offline")
		wantCode(t, r, 1)
		wantStderr(t, r, "--offline: ", "is not in the cache", "Hint: run once without --offline")
	}
	if n := requests(stack.Secure); n != 0 {
		t.Errorf("--offline made %d registry requests", n)
	}
}

func TestCorruptEntryIsPulledAgain(t *testing.T) {
	h := newHome(t)
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "pin", testenv.OCISource(app123.Ref+"@"+app123.Digest, "creds", nsA))
	r := kubectl(t, "pin", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	wantCode(t, r, 0)
	path := decodeJSON(t, r).Results[0].Path
	if err := os.WriteFile(path, []byte("not the chart"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = kubectl(t, "pin", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	wantCode(t, r, 0)
	wantStderr(t, r, "Warning: the cached chart "+app123.Digest+" fails its checks (its archive is 13 bytes, not the chart layer's "+fmt.Sprint(len(app123.Blobs[1]))+"): it is ignored; pulling it again")
	if got := decodeJSON(t, r).Results[0]; got.Cached || fileDigest(t, got.Path) != app123.LayerDigest {
		t.Errorf("after recovery: %+v", got)
	}
	files, _ := testenv.Files(h.Env["HELM_REPOSITORY_CACHE"])
	for _, f := range files {
		if strings.Contains(f, ".tmp-") {
			t.Errorf("temp file left: %s", f)
		}
	}
}

func TestConcurrentProcessesShareOneCache(t *testing.T) {
	h := newHome(t)
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
	const n = 8
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runBinary(t, h, nil, "fetch", "app", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Secure.CAFile)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("process %d: %s", i, r)
		}
	}
	files, err := testenv.Files(filepath.Join(h.Env["HELM_REPOSITORY_CACHE"], "ocisrc", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	hex := strings.TrimPrefix(app123.Digest, "sha256:")
	want := []string{hex + "/app-1.2.3.tgz", hex + "/config.json", hex + "/entry.json", hex + "/manifest.json"}
	if strings.Join(files, ",") != strings.Join(want, ",") {
		t.Errorf("the cache holds %v, want exactly %v", files, want)
	}
	all, _ := testenv.Files(h.Env["HELM_REPOSITORY_CACHE"])
	for _, f := range all {
		if strings.Contains(f, ".tmp-") {
			t.Errorf("temp file left: %s", f)
		}
	}
}

// responseLine matches client-go's -v=6 log of one API response.
var responseLine = regexp.MustCompile(`"Response" verb="GET" url="([^"]+)"`)

func TestBulk(t *testing.T) {
	h := newHome(t)
	const ns1, ns2 = "bulk-1", "bulk-2"
	for _, ns := range []string{ns1, ns2} {
		putSecret(t, ns, "creds", goodCreds())
	}
	// Six Components in two namespaces, two distinct digests, one Component
	// whose Secret is missing, and one without the label.
	for i, ns := range []string{ns1, ns1, ns1, ns2, ns2, ns2} {
		ref := app123.Ref
		if i%3 == 2 {
			ref = app124.Ref + "@" + app124.Digest
		}
		putComponent(t, ns, fmt.Sprintf("c%d", i), testenv.OCISource(ref, "creds", ns))
	}
	putComponent(t, ns2, "broken", testenv.OCISource(app123.Ref, "missing", ns2))
	putComponent(t, ns1, "unlabelled", testenv.OCISource(app123.Ref, "creds", ns1))
	for _, c := range []struct{ ns, name string }{{ns1, "c0"}, {ns1, "c1"}, {ns1, "c2"}, {ns2, "c3"}, {ns2, "c4"}, {ns2, "c5"}, {ns2, "broken"}} {
		if err := stack.Cluster.Label(t.Context(), c.ns, c.name, map[string]string{"bulk": "yes"}); err != nil {
			t.Fatal(err)
		}
	}
	stack.Secure.ResetLog()

	r := runBinary(t, h, nil, "fetch", "-l", "bulk=yes", "-A", "--concurrency", "3", "-o", "json", "-v=6",
		"--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Secure.CAFile)
	if r.code != 1 {
		t.Fatalf("want exit 1 (one Component failed), got %s", r)
	}
	var d struct {
		Results []struct {
			Component, Digest, Error, Reason, Hint string
			Cached                                 bool
			ExitCode                               int
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("stdout: %v\n%s", err, r)
	}
	if len(d.Results) != 7 {
		t.Fatalf("want 7 results, got %d:\n%s", len(d.Results), r.stdout)
	}
	// Of the Components that share a download, only the one that made it
	// reports cached: false.
	downloaded := map[string]int{}
	for _, res := range d.Results {
		if res.Error == "" && !res.Cached {
			downloaded[res.Digest]++
		}
	}
	if downloaded[app123.Digest] != 1 || downloaded[app124.Digest] != 1 {
		t.Errorf("want one result with cached: false per chart, got %v:\n%s", downloaded, r.stdout)
	}
	for _, res := range d.Results {
		switch {
		case res.Component == ns2+"/broken":
			if !strings.Contains(res.Error, `secret "missing" not found`) {
				t.Errorf("broken: error %q", res.Error)
			}
		case res.Error != "" || (res.Digest != app123.Digest && res.Digest != app124.Digest):
			t.Errorf("%s: %+v", res.Component, res)
		}
	}
	wantStderr(t, r, "Error: 1 of 7 Components failed (1 cause):\n  secret \"missing\" not found", "\n  1 Component: bulk-2/broken\n")
	// In the document, every failure says what failed, for programs.
	for _, res := range d.Results {
		if res.Component == ns2+"/broken" && (res.Reason != "SecretNotFound" || res.ExitCode != 1 || !strings.Contains(res.Hint, "create the Secret")) {
			t.Errorf("broken: %+v", res)
		}
	}

	// The registry: each distinct chart downloaded once.
	reqs := stack.Secure.Requests()
	for _, p := range []*testenv.Pushed{app123, app124} {
		if n := countRequests(reqs, "GET", "/blobs/"+p.LayerDigest); n != 1 {
			t.Errorf("chart %s downloaded %d times, want once:\n%s", p.Ref, n, describe(reqs))
		}
	}
	// The API server: one LIST for the whole cluster, each Secret read once.
	var lists, secretReads = 0, map[string]int{}
	for _, m := range responseLine.FindAllStringSubmatch(r.stderr, -1) {
		url := m[1]
		switch {
		case strings.Contains(url, "/components?"):
			lists++
		case strings.Contains(url, "/secrets/"):
			secretReads[url[strings.Index(url, "/namespaces/"):]]++
		}
	}
	if lists != 1 {
		t.Errorf("want one LIST of Components, got %d", lists)
	}
	for url, n := range secretReads {
		if n != 1 {
			t.Errorf("%s read %d times, want once", url, n)
		}
	}
	if len(secretReads) < 2 {
		t.Errorf("want the two Secrets read, got %v", secretReads)
	}
	// Piped stderr gets no progress bar.
	if strings.Contains(r.stderr, "Pulling Components") {
		t.Errorf("progress shown on a pipe")
	}
}

func TestBulkByNamesAndAll(t *testing.T) {
	newHome(t)
	const ns = "bulk-names"
	putSecret(t, ns, "creds", goodCreds())
	putComponent(t, ns, "one", testenv.OCISource(app123.Ref, "creds", ns))
	putComponent(t, ns, "two", testenv.OCISource(app124.Ref, "creds", ns))

	r := kubectl(t, "two", "nope", "one", "-n", ns, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	wantCode(t, r, 1)
	d := decodeJSON(t, r)
	var order []string
	for _, res := range d.Results {
		order = append(order, res.Component)
	}
	if strings.Join(order, ",") != ns+"/two,"+ns+"/nope,"+ns+"/one" {
		t.Errorf("results not in the order asked: %v", order)
	}
	wantStderr(t, r, "1 of 3 Components failed", `components "nope" not found in namespace "bulk-names"`)

	r = kubectl(t, "--all", "-n", ns, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 0)
	if lines := strings.Count(r.stdout, "\n"); lines != 2 {
		t.Errorf("--all: want 2 lines, got:\n%s", r)
	}
	r = kubectl(t, "--all", "-n", "bulk-empty-namespace-that-has-none", "--dry-run")
	wantCode(t, r, 0)
	wantStderr(t, r, "No components found")
}

func TestCacheListAndPrune(t *testing.T) {
	newHome(t)
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
	putComponent(t, nsA, "pin", testenv.OCISource(app124.Ref+"@"+app124.Digest, "creds", nsA))
	wantCode(t, kubectl(t, "app", "pin", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile), 0)

	r := runFace(t, "ocisrc", nil, "cache", "list", "-o", "json")
	wantCode(t, r, 0)
	var doc struct {
		Entries []struct {
			Chart, Version, ManifestDigest string
			Size                           int64
			Tags                           []string
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Entries) != 2 {
		t.Fatalf("cache list: %v\n%s", err, r)
	}
	for _, e := range doc.Entries {
		if e.Size == 0 || e.Chart != "app" {
			t.Errorf("entry %+v", e)
		}
		if e.ManifestDigest == app123.Digest && (len(e.Tags) != 1 || e.Tags[0] != strings.TrimPrefix(app123.Ref, "oci://")) {
			t.Errorf("tags of %s: %v", e.ManifestDigest, e.Tags)
		}
	}
	r = runFace(t, "ocisrc", nil, "cache", "list")
	wantCode(t, r, 0)
	if !strings.HasPrefix(r.stdout, "CHART") || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("cache list table:\n%s", r)
	}

	r = runFace(t, "ocisrc", nil, "cache", "prune", "--older-than", "1h")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "Pruned 0 charts") {
		t.Errorf("nothing is an hour old:\n%s", r)
	}
	r = runFace(t, "ocisrc", nil, "cache", "prune")
	wantCode(t, r, 2)
	wantStderr(t, r, "Error: give exactly one of --older-than, --all and --damaged")
	r = runFace(t, "ocisrc", nil, "cache", "prune", "--all", "--older-than", "1h")
	wantCode(t, r, 2)
	wantStderr(t, r, "Error: give exactly one of --older-than, --all and --damaged")
	r = runFace(t, "ocisrc", nil, "cache", "prune", "--older-than", "-5h")
	wantCode(t, r, 2)
	wantStderr(t, r, "Error: --older-than must be a positive duration such as 720h, got -5h0m0s")
	r = runFace(t, "ocisrc", nil, "cache", "prune", "--all")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "Pruned 2 charts") {
		t.Errorf("prune --all:\n%s", r)
	}
	r = runFace(t, "ocisrc", nil, "cache", "list", "-o", "json")
	if !strings.Contains(r.stdout, `"entries": []`) {
		t.Errorf("after prune --all:\n%s", r)
	}
	// The tag index went with the entries: the next pull is a cold one.
	r = kubectl(t, "app", "-n", nsA, "--offline")
	wantCode(t, r, 1)
}

// TestProgressOnATerminal runs a bulk pull with stderr on a pseudo-terminal
// (util-linux script(1), from Debian's essential bsdutils): the progress bar
// shows there, and stdout still carries only the results.
func TestProgressOnATerminal(t *testing.T) {
	h := newHome(t)
	const ns = "bulk-tty"
	putSecret(t, ns, "creds", goodCreds())
	putComponent(t, ns, "one", testenv.OCISource(app123.Ref, "creds", ns))
	putComponent(t, ns, "two", testenv.OCISource(app124.Ref, "creds", ns))
	out := filepath.Join(t.TempDir(), "stdout")
	command := fmt.Sprintf("%s fetch --all -n %s --kubeconfig %s --registry-ca-file %s > %s", binary, ns, stack.Cluster.Kubeconfig, stack.Secure.CAFile, out)
	cmd := exec.Command("script", "-qec", command, "/dev/null")
	cmd.Env = h.Environ(nil)
	tty, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, tty)
	}
	if !strings.Contains(string(tty), "Pulling Components") || !strings.Contains(string(tty), "/2)") {
		t.Errorf("no progress on the terminal:\n%q", tty)
	}
	data, _ := os.ReadFile(out)
	if strings.Count(string(data), "  pulled  ") != 2 || strings.Contains(string(data), "Pulling Components") {
		t.Errorf("stdout:\n%s", data)
	}
}

// TestBulkFailuresNameEachComponent: four Components share a chart that
// cannot be pulled: each gets a failed line as it fails, then the cause
// once with the four names and its hint once, then the summary.
func TestBulkFailuresNameEachComponent(t *testing.T) {
	newHome(t)
	const ns = "bulk-fail"
	missing := "oci://" + stack.Open.Host + "/charts/web:9.9.9"
	for _, n := range []string{"a", "b", "c", "d"} {
		putComponent(t, ns, n, testenv.OCISource(missing, "", ""))
	}
	putComponent(t, ns, "ok", testenv.OCISource(openApp.Ref, "", ""))
	r := kubectl(t, "--all", "-n", ns, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 1)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	want := []string{"  failed", "  failed", "  failed", "  failed",
		"Error: 4 of 5 Components failed (1 cause):",
		"  pulling \"" + missing + "\": not found in the registry " + stack.Open.Host,
		"  4 Components: " + ns + "/a, " + ns + "/b, " + ns + "/c, " + ns + "/d",
		"  Hint: check the repository, version and digest in spec.source.chart",
		"5 Components: 1 pulled (0 from the cache), 4 failed; "}
	if len(lines) != len(want) {
		t.Fatalf("stderr has %d lines, want %d:\n%s", len(lines), len(want), r.stderr)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d %q does not hold %q", i, lines[i], w)
		}
	}
	if strings.Count(r.stderr, "Hint:") != 1 {
		t.Errorf("the hint is not given once:\n%s", r.stderr)
	}
	if !strings.HasPrefix(r.stdout, ns+"/ok  pulled  web 0.1.0  sha256:") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("stdout = %q", r.stdout)
	}
}

// TestRecordsNameTheSecretAsRead: a record of the cache names the Secret
// as it was read — its UID and resourceVersion — never its name. A warm pin
// reads the Component's Secret (one API request) and makes no registry
// request while it is the same Secret; a changed password, a deleted
// Secret, a Secret deleted and created again under the same name (as
// another cluster's would be) each prove access again, or fail.
func TestRecordsNameTheSecretAsRead(t *testing.T) {
	h := newHome(t)
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "pinned", testenv.OCISource(app123.Ref+"@"+app123.Digest, "creds", nsA))
	args := []string{"fetch", "pinned", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Secure.CAFile, "-v=6", "-o", "json"}
	r := runBinary(t, h, nil, args...)
	wantCode(t, r, 0)
	if n := secretReads(r); n != 1 {
		t.Errorf("the cold pull read %d Secrets, want 1", n)
	}
	stack.Secure.ResetLog()
	r = runBinary(t, h, nil, args...)
	wantCode(t, r, 0)
	if n := secretReads(r); n != 1 {
		t.Errorf("the warm pin read %d Secrets, want 1 (the Secret as it is now)", n)
	}
	if n := requests(stack.Secure); n != 0 {
		t.Errorf("the warm pin made %d registry requests", n)
	}
	if !strings.Contains(r.stdout, `"credentials": "team-a/creds"`) || !strings.Contains(r.stdout, `"cached": true`) {
		t.Errorf("stdout: %s", r.stdout)
	}

	t.Run("a password the registry refuses is not served from the cache", func(t *testing.T) {
		if err := stack.Cluster.UpdateSecret(context.Background(), nsA, "creds", map[string]string{"username": testenv.RegistryUser, "password": testenv.WrongPassword}); err != nil {
			t.Fatal(err)
		}
		stack.Secure.ResetLog()
		r := runBinary(t, h, nil, args...)
		if r.code == 0 {
			t.Fatalf("a changed, refused password was served from the cache:\n%s", r)
		}
		wantStderr(t, r, "did not confirm that secret \"team-a/creds\" may read it")
		if n := requests(stack.Secure); n == 0 {
			t.Error("the registry was not asked")
		}
		// The right password again, in place: one request proves it, the
		// next run makes none.
		if err := stack.Cluster.UpdateSecret(context.Background(), nsA, "creds", goodCreds()); err != nil {
			t.Fatal(err)
		}
		stack.Secure.ResetLog()
		wantCode(t, runBinary(t, h, nil, args...), 0)
		if n := countRequests(stack.Secure.Requests(), http.MethodHead, "/manifests/"+app123.Digest); n != 1 {
			t.Errorf("a changed Secret made %d HEADs, want 1:\n%v", n, stack.Secure.Requests())
		}
		stack.Secure.ResetLog()
		wantCode(t, runBinary(t, h, nil, args...), 0)
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("the next run made %d requests", n)
		}
	})
	t.Run("a deleted Secret serves nothing", func(t *testing.T) {
		if err := stack.Cluster.DeleteSecret(context.Background(), nsA, "creds"); err != nil {
			t.Fatal(err)
		}
		r := runBinary(t, h, nil, args...)
		if r.code == 0 {
			t.Fatalf("a deleted Secret's chart was served:\n%s", r)
		}
		wantStderr(t, r, `secret "creds" not found`)
	})
	t.Run("a Secret created again under the same name proves access again", func(t *testing.T) {
		putSecret(t, nsA, "creds", goodCreds())
		stack.Secure.ResetLog()
		wantCode(t, runBinary(t, h, nil, args...), 0)
		if n := countRequests(stack.Secure.Requests(), http.MethodHead, "/manifests/"+app123.Digest); n != 1 {
			t.Errorf("a new Secret of the same name made %d HEADs, want 1", n)
		}
	})

	// A system-namespace Secret is read on every run, warm or not: whether it
	// may be used depends on what it holds now. Here it is bound to no
	// registry, which only --allow-unbound-secrets permits; the cache's record
	// of the run that had the flag does not carry the permission over.
	putSecret(t, nsSys, "shared-pin", goodCreds())
	putComponent(t, nsA, "shared-pin", testenv.OCISource(app123.Ref+"@"+app123.Digest, "shared-pin", nsSys))
	shared := []string{"fetch", "shared-pin", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Secure.CAFile, "-v=6"}
	r = runBinary(t, h, nil, append(shared, "--allow-unbound-secrets")...)
	wantCode(t, r, 0)
	r = runBinary(t, h, nil, shared...)
	if r.code == 0 || !strings.Contains(r.stderr, `secret "deployment-system/shared-pin"`) || !strings.Contains(r.stderr, "bound to no registry") {
		t.Errorf("a warm pin used an unbound system Secret without --allow-unbound-secrets:\n%s", r)
	}
}

// secretReads counts the Secret GETs of a -v=6 run.
func secretReads(r result) int {
	n := 0
	for _, m := range responseLine.FindAllStringSubmatch(r.stderr, -1) {
		if strings.Contains(m[1], "/secrets/") {
			n++
		}
	}
	return n
}

// TestConnectionsReused: a cold pull from a registry that speaks HTTP/1.1
// only reuses the connection of the 401 for the request with credentials
// (its small body is read, not dropped), and needs a second connection
// only for the config and the chart fetched side by side.
func TestConnectionsReused(t *testing.T) {
	newHome(t)
	reg, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), CA: stack.Secure.CA, Users: map[string]string{testenv.RegistryUser: testenv.RegistryPassword}, HTTP1: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	c, err := testenv.BuildChart("h1", "1.0.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.PushChart(context.Background(), "charts/h1", c, testenv.RegistryUser, testenv.RegistryPassword)
	if err != nil {
		t.Fatal(err)
	}
	putSecret(t, nsA, "h1-creds", goodCreds())
	putComponent(t, nsA, "h1", testenv.OCISource(p.Ref, "h1-creds", nsA))
	before := reg.Connections()
	reg.ResetLog()
	wantCode(t, kubectl(t, "h1", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile), 0)
	if statusCount(reg.Requests(), 401) != 1 {
		t.Fatalf("the test needs a 401 first:\n%s", describe(reg.Requests()))
	}
	if n := reg.Connections() - before; n > 2 {
		t.Errorf("a cold pull opened %d connections, want at most 2:\n%s", n, describe(reg.Requests()))
	}
}
