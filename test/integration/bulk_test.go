package integration

// Bulk runs people can follow: lines as Components finish, failures grouped
// by cause, a summary last, a document for -o json whatever fails, the
// bound on requests in flight, and what a listing holds.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ocisrc/ocisrc/internal/testenv"
	"github.com/ocisrc/ocisrc/pkg/units"
)

// bulkCharts pushes n distinct charts to a fresh anonymous registry.
func bulkCharts(t *testing.T, n int) (*testenv.Registry, []*testenv.Pushed) {
	t.Helper()
	reg, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), CA: stack.Open.CA})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	var out []*testenv.Pushed
	for i := range n {
		c, err := testenv.BuildChart(fmt.Sprintf("c%d", i), "1.0.0", 0)
		if err != nil {
			t.Fatal(err)
		}
		p, err := reg.PushChart(context.Background(), fmt.Sprintf("charts/c%d", i), c, "", "")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return reg, out
}

// TestLinesStreamAsComponentsFinish: a line is printed as each Component
// finishes, not when the run ends: one Component's chart is held at the
// registry until the others' lines have been read from the running process.
func TestLinesStreamAsComponentsFinish(t *testing.T) {
	h := newHome(t)
	reg, charts := bulkCharts(t, 3)
	ns := "streamed"
	for i, p := range charts {
		putComponent(t, ns, fmt.Sprintf("app-%d", i), testenv.OCISource(p.Ref, "", ""))
	}
	others := make(chan struct{})
	var gaveUp atomic.Bool
	reg.Hook(func(req *http.Request) {
		if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/blobs/"+charts[0].LayerDigest) {
			select {
			case <-others:
			case <-time.After(30 * time.Second):
				// The other lines never came while this chart was held.
				gaveUp.Store(true)
			}
		}
	})
	defer reg.Hook(nil)
	cmd := exec.Command(binary, "fetch", "--all", "-n", ns, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Open.CAFile)
	cmd.Env = h.Environ(nil)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	var got []string
	for len(got) < 2 && lines.Scan() {
		got = append(got, lines.Text())
	}
	// Two lines arrived while app-0's chart is held: the run has not ended.
	close(others)
	for lines.Scan() {
		got = append(got, lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if gaveUp.Load() {
		t.Fatal("no line was printed before the run ended")
	}
	if len(got) != 3 || strings.HasPrefix(got[0], ns+"/app-0 ") || strings.HasPrefix(got[1], ns+"/app-0 ") || !strings.HasPrefix(got[2], ns+"/app-0  pulled  c0 1.0.0  sha256:") {
		t.Errorf("lines, in the order printed:\n%s", strings.Join(got, "\n"))
	}
	if !regexp.MustCompile(`(?m)\A3 Components: 3 pulled \(0 from the cache\); [0-9.]+ [KMG]?i?B downloaded in [0-9.]+ s\n\z`).MatchString(stderr.String()) {
		t.Errorf("stderr is not the summary alone:\n%q", stderr.String())
	}
}

// TestOutputName: -o name prints component/NAMESPACE/NAME of each success.
func TestOutputName(t *testing.T) {
	newHome(t)
	ns := "named-output"
	putComponent(t, ns, "web", testenv.OCISource(openApp.Ref, "", ""))
	putComponent(t, ns, "broken", testenv.OCISource("oci://"+stack.Open.Host+"/charts/web:9.9.9", "", ""))
	r := kubectl(t, "--all", "-n", ns, "--registry-ca-file", stack.Open.CAFile, "-o", "name")
	wantCode(t, r, 1)
	if r.stdout != "component/"+ns+"/web\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	wantStderr(t, r, ns+"/broken  failed\n")
}

// TestFailuresGroupedAcrossNamespaces: one missing RoleBinding, three
// namespaces: one cause, written with <namespace>, one hint.
func TestFailuresGroupedAcrossNamespaces(t *testing.T) {
	h := newHome(t)
	ctx := context.Background()
	user := "lists-components-only"
	kc, err := stack.Cluster.AddUser(user)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 3 {
		ns := fmt.Sprintf("grouped-%d", i)
		putSecret(t, ns, "creds", goodCreds())
		putComponent(t, ns, "app", testenv.OCISource(app123.Ref, "creds", ns))
		if err := stack.Cluster.Label(ctx, ns, "app", map[string]string{"grouped": "yes"}); err != nil {
			t.Fatal(err)
		}
		names = append(names, ns+"/app")
	}
	if err := stack.Cluster.GrantCluster(ctx, user, "deploy.example.io", []string{"components"}, []string{"get", "list"}); err != nil {
		t.Fatal(err)
	}
	r := runBinary(t, h, nil, "fetch", "-l", "grouped=yes", "-A", "--kubeconfig", kc, "--registry-ca-file", stack.Secure.CAFile, "--cluster-registry-policy=false")
	wantCode(t, r, 1)
	wantStderr(t, r, "Error: 3 of 3 Components failed (1 cause):\n",
		`  reading secret "<namespace>/creds": forbidden: your identity cannot get secrets in namespace "<namespace>"`,
		"  3 Components: "+strings.Join(names, ", ")+"\n")
	if n := strings.Count(r.stderr, "Hint:"); n != 1 {
		t.Errorf("%d hints, want one:\n%s", n, r.stderr)
	}
	if !strings.HasSuffix(r.stderr, "3 Components: 0 pulled (0 from the cache), 3 failed; 0 B downloaded in "+lastField(r.stderr)) {
		t.Errorf("the summary is not the last line:\n%s", r.stderr)
	}
}

// lastField is the last " "-separated field of the last line but one, and
// what follows: "0.1 s\n".
func lastField(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	last := lines[len(lines)-1]
	i := strings.LastIndex(strings.TrimSuffix(last, " s"), " ")
	return last[i+1:] + "\n"
}

// TestDocumentWheneverTheRunFails: -o json prints a document that parses,
// whatever failed, with the exit code the failure has without -o json.
func TestDocumentWheneverTheRunFails(t *testing.T) {
	newHome(t)
	dir := t.TempDir()
	notYAML := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(notYAML, []byte("kind: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noComponent := filepath.Join(dir, "cm.yaml")
	if err := os.WriteFile(noComponent, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unreachable := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(unreachable, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\ncontexts: [{name: c, context: {cluster: c, user: u, namespace: team-a}}]\ncurrent-context: c\nusers: [{name: u, user: {token: x}}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		args   []string
		code   int
		reason string
	}{
		"the cluster cannot be reached": {[]string{"--kubeconfig", unreachable, "app", "--cluster-registry-policy=false"}, 1, "ClusterUnreachable"},
		"a file that is not YAML":       {[]string{"-f", notYAML, "-n", nsA}, 2, "InvalidFile"},
		"no object of kind Component":   {[]string{"-f", noComponent, "-n", nsA}, 2, "NoComponent"},
		"an unknown resource":           {[]string{"--all", "-n", nsA, "--resource", "nopes"}, 2, "ResourceNotFound"},
		"flags that do not go together": {[]string{"app", "--untar", "-n", nsA}, 2, "Invalid"},
		"a missing Component":           {[]string{"nope", "-n", nsA}, 1, ""},
	} {
		t.Run(name, func(t *testing.T) {
			for _, format := range []string{"json", "yaml"} {
				r := kubectl(t, append(c.args, "-o", format)...)
				wantCode(t, r, c.code)
				var doc struct {
					Results []struct {
						Component, Error, Reason string
						ExitCode                 int
					} `json:"results"`
					Errors []struct{ Reason, Message, Hint string } `json:"errors"`
				}
				var err error
				if format == "json" {
					err = json.Unmarshal([]byte(r.stdout), &doc)
				} else {
					err = yaml.Unmarshal([]byte(r.stdout), &doc)
				}
				if err != nil {
					t.Fatalf("-o %s: not a document (%v):\n%s", format, err, r)
				}
				if c.reason == "" {
					if len(doc.Results) != 1 || doc.Results[0].Reason != "ComponentNotFound" || doc.Results[0].ExitCode != 1 {
						t.Errorf("-o %s: %+v", format, doc)
					}
					continue
				}
				if len(doc.Errors) != 1 || doc.Errors[0].Reason != c.reason || doc.Errors[0].Message == "" || doc.Results == nil {
					t.Errorf("-o %s: %+v\n%s", format, doc, r.stdout)
				}
			}
		})
	}
}

// TestConcurrencyBoundsRequestsPerHost: --concurrency N is the most requests
// in flight to a registry host, counted at the registry.
func TestConcurrencyBoundsRequestsPerHost(t *testing.T) {
	reg, charts := bulkCharts(t, 6)
	ns := "in-flight"
	for i, p := range charts {
		putComponent(t, ns, fmt.Sprintf("app-%d", i), testenv.OCISource(p.Ref, "", ""))
	}
	// Each request is served slowly, so that requests sent together overlap.
	reg.Hook(func(*http.Request) { time.Sleep(30 * time.Millisecond) })
	defer reg.Hook(nil)
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			newHome(t)
			reg.ResetInFlight()
			r := kubectl(t, "--all", "-n", ns, "--registry-ca-file", stack.Open.CAFile, "--concurrency", strconv.Itoa(n))
			wantCode(t, r, 0)
			got := reg.MaxInFlight()
			if got > n || (n > 1 && got < 2) {
				t.Errorf("--concurrency %d: %d requests in flight at most", n, got)
			}
		})
	}
}

// TestSummaryBytesAreDownloaded: the summary counts the chart bytes the
// registry sent, not the charts' sizes: a warm run downloaded nothing.
func TestSummaryBytesAreDownloaded(t *testing.T) {
	reg, charts := bulkCharts(t, 3)
	ns := "bytes-downloaded"
	layers := map[string]bool{}
	for i, p := range charts {
		putComponent(t, ns, fmt.Sprintf("app-%d", i), testenv.OCISource(p.Ref, "", ""))
		layers["/blobs/"+p.LayerDigest] = true
	}
	newHome(t)
	reg.ResetLog()
	r := kubectl(t, "--all", "-n", ns, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 0)
	var served int64
	for _, q := range reg.Requests() {
		for l := range layers {
			if q.Method == http.MethodGet && strings.HasSuffix(q.Path, l) {
				served += q.Bytes
			}
		}
	}
	if served == 0 {
		t.Fatal("the registry served no chart bytes: the test counts nothing")
	}
	wantStderr(t, r, "3 Components: 3 pulled (0 from the cache); "+units.Bytes(served)+" downloaded in ")
	r = kubectl(t, "--all", "-n", ns, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 0)
	wantStderr(t, r, "3 Components: 3 pulled (3 from the cache); 0 B downloaded in ")
}

// TestListingHoldsBoundedComponents: a listing of Components that each
// carry 64 KiB of unknown fields under spec.source holds at most the pages
// ahead and the pulls in flight, never the whole list.
func TestListingHoldsBoundedComponents(t *testing.T) {
	h := newHome(t)
	ns := "large-sources"
	filler := strings.Repeat("x", 64<<10)
	var objs []testenv.ComponentObject
	for i := range 120 {
		src := testenv.OCISource(openApp.Ref, "", "")
		src["annotationsOfSomeTool"] = map[string]any{"blob": filler}
		objs = append(objs, testenv.ComponentObject{Namespace: ns, Name: fmt.Sprintf("big-%03d", i), Source: src})
	}
	if err := stack.Cluster.CreateComponents(context.Background(), objs, 8); err != nil {
		t.Fatal(err)
	}
	// The first pull waits a moment at the registry: a listing that did
	// not wait for the pulls would list everything meanwhile.
	var first atomic.Bool
	stack.Open.Hook(func(*http.Request) {
		if first.CompareAndSwap(false, true) {
			time.Sleep(time.Second)
		}
	})
	defer stack.Open.Hook(nil)
	r := runBinary(t, h, nil, "fetch", "--all", "-n", ns, "--kubeconfig", stack.Cluster.Kubeconfig, "--chunk-size", "10", "--concurrency", "2", "-v=2", "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 0)
	m := regexp.MustCompile(`listed (\d+) Components, held at most (\d+) at once`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no count of what was held:\n%s", tail(r.stderr))
	}
	listed, held := atoi(m[1]), atoi(m[2])
	// Two pages ahead (20), the two in flight, the one waiting for a pull
	// slot and the one the listing is handing on.
	if listed != 120 || held > 2*10+2+2 {
		t.Errorf("listed %d, held %d at once (want at most 24)", listed, held)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestRunOutlivesTimeout: --timeout bounds the whole run; a run that
// outlives it while still listing says so, with how far it got, prints its
// document, and exits 1.
func TestRunOutlivesTimeout(t *testing.T) {
	reg, charts := bulkCharts(t, 6)
	ns := "outlived"
	for i, p := range charts {
		putComponent(t, ns, fmt.Sprintf("app-%d", i), testenv.OCISource(p.Ref, "", ""))
	}
	// Every chart layer takes a second: one pull at a time and pages of one
	// Component keep the listing waiting past the deadline.
	reg.Hook(func(req *http.Request) {
		if strings.Contains(req.URL.Path, "/blobs/") {
			time.Sleep(time.Second)
		}
	})
	defer reg.Hook(nil)
	h := newHome(t)
	r := runBinary(t, h, nil, "fetch", "--all", "-n", ns, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Open.CAFile,
		"--chunk-size", "1", "--concurrency", "1", "--timeout", "2s", "-o", "json")
	wantCode(t, r, 1)
	wantStderr(t, r, "the run did not finish within --timeout (2s): ", "Hint: --timeout bounds the whole run: raise it for a run of many Components")
	var doc struct {
		Results []json.RawMessage `json:"results"`
		Errors  []struct{ Reason, Message string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not a document: %v\n%s", err, r.stdout)
	}
	if len(doc.Errors) != 1 || doc.Errors[0].Reason != "Timeout" || !strings.Contains(doc.Errors[0].Message, "Components had finished") && !strings.Contains(doc.Errors[0].Message, "Component had finished") {
		t.Errorf("errors %+v: want one Timeout that says how far the run got", doc.Errors)
	}
}
