// Command bench is `make bench`: it measures ocisrc against the helm CLI doing
// the same work, in the same run, against the same local registry (TLS +
// htpasswd) and the same control plane, and prints the ratios. It writes the
// table to docs/benchmarks.md with a description of the machine.
//
// Times are medians of several runs of whole processes; memory is the peak
// resident set of the process (getrusage); requests are counted in the
// registry's access log. Nothing here is asserted: `make test` checks
// behaviour, this reports speed.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ocisrc/ocisrc/internal/testenv"
	"github.com/ocisrc/ocisrc/pkg/units"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == measureArg {
		os.Exit(measureChild(os.Args[2], os.Args[3:]))
	}
	binary := flag.String("binary", "bin/ocisrc", "the ocisrc binary to measure")
	out := flag.String("out", "docs/benchmarks.md", "where to write the report")
	runs := flag.Int("runs", 7, "runs per single-pull measurement (the median is reported)")
	bulkRuns := flag.Int("bulk-runs", 3, "runs per bulk measurement")
	rtt := flag.Duration("rtt", 20*time.Millisecond, "the round-trip time of the second run (env BENCH_RTT)")
	onceOnly := flag.Bool("once-only", false, "measure only start-up, size, memory, validate and bundles (for quick iterations; writes no report)")
	scale := flag.Bool("scale", false, "run the scale scenario (10,000 Components; make bench-scale) and put its section into the report")
	var extra baselines
	flag.Var(&extra, "baseline", "another ocisrc build to measure beside this one, as LABEL=PATH (repeatable; env BENCH_BASELINE, comma-separated)")
	flag.Parse()
	if v := os.Getenv("BENCH_RTT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: BENCH_RTT %q: %v\n", v, err)
			os.Exit(2)
		}
		*rtt = d
	}
	if v := os.Getenv("BENCH_BASELINE"); v != "" {
		for _, one := range strings.Split(v, ",") {
			if err := extra.Set(one); err != nil {
				fmt.Fprintf(os.Stderr, "bench: BENCH_BASELINE: %v\n", err)
				os.Exit(2)
			}
		}
	}
	if *scale {
		if err := runScale(*binary, *out, *rtt); err != nil {
			fmt.Fprintf(os.Stderr, "bench-scale: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if *onceOnly {
		*out = ""
	}
	if err := run(*binary, *out, *runs, *bulkRuns, *rtt, *onceOnly, extra); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// bench holds the environment every measurement runs in.
type bench struct {
	dir     string
	ocisrc  string
	helm    string
	stack   *testenv.Stack
	pathEnv string
	n       int
}

// sample is one process run (or a sequence of them).
type sample struct {
	wall     time.Duration
	maxRSSKB int64
	requests int
}

// outDir is a new, empty directory for helm pull -d (which wants it to exist).
func (b *bench) outDir() string {
	d, err := os.MkdirTemp(b.dir, "out-")
	if err != nil {
		panic(err)
	}
	return d
}

func (b *bench) home(name string) (*testenv.Home, error) {
	return testenv.NewHome(filepath.Join(b.dir, "homes", fmt.Sprintf("%s-%d", name, time.Now().UnixNano())))
}

// measureArg makes this program run a command and report its peak memory.
// A child's ru_maxrss counts the memory of the process that forked it (this
// one, holding the in-memory registry); a small wrapper process in between
// makes the figure the command's own.
const measureArg = "__measure"

func measureChild(report string, argv []string) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		_ = os.WriteFile(report, []byte(fmt.Sprint(ru.Maxrss)), 0o644)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}

// execMem runs one process through the wrapper and returns its peak memory.
func (b *bench) execMem(h *testenv.Home, name string, args ...string) (sample, error) {
	self, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	report := filepath.Join(b.dir, fmt.Sprintf("rss-%d", time.Now().UnixNano()))
	s, err := b.exec(h, "", self, append([]string{measureArg, report, name}, args...)...)
	if err != nil {
		return s, err
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		return s, err
	}
	_, err = fmt.Sscan(string(raw), &s.maxRSSKB)
	return s, err
}

// exec runs one process with h's environment and returns its time. All runs
// share one kube discovery cache, as a user's ~/.kube/cache would be.
func (b *bench) exec(h *testenv.Home, stdin string, name string, args ...string) (sample, error) {
	return b.execEnv(h, nil, stdin, name, args...)
}

func (b *bench) execEnv(h *testenv.Home, extra map[string]string, stdin string, name string, args ...string) (sample, error) {
	env := map[string]string{"PATH": b.pathEnv, "KUBECONFIG": b.stack.Cluster.Kubeconfig, "KUBECACHEDIR": filepath.Join(b.dir, "kube-cache")}
	for k, v := range extra {
		env[k] = v
	}
	cmd := exec.Command(name, args...)
	cmd.Env = h.Environ(env)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	s := sample{wall: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.maxRSSKB = ru.Maxrss
	}
	if err != nil {
		return s, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return s, nil
}

// measure runs fn n times (each with its own setup) and returns the median
// wall time, the highest peak memory and the median request count.
func (b *bench) measure(n int, fn func() (sample, error)) (sample, error) {
	var walls []time.Duration
	var reqs []int
	var peak int64
	for range n {
		b.stack.Secure.ResetLog()
		s, err := fn()
		if err != nil {
			return sample{}, err
		}
		s.requests = len(b.stack.Secure.Requests())
		walls = append(walls, s.wall)
		reqs = append(reqs, s.requests)
		peak = max(peak, s.maxRSSKB)
	}
	sort.Slice(walls, func(i, j int) bool { return walls[i] < walls[j] })
	sort.Ints(reqs)
	return sample{wall: walls[len(walls)/2], maxRSSKB: peak, requests: reqs[len(reqs)/2]}, nil
}

type row struct {
	scenario, ours, theirs string
	ratio                  string
}

// mode is one network the scenarios run over: loopback, or a round-trip
// time added by latency proxies in front of the registry and the API server.
type mode struct {
	name       string
	rtt        time.Duration
	reg        string // the registry's host:port as the Components name it
	kubeconfig string
	ns         string // the namespace of app, app-pinned
	bulkLabel  string
	loggedIn   *testenv.Home
}

// results of one mode, for the targets.
type modeResult struct {
	rows                                                 []row
	apiRows                                              []row
	cold, manual, helmPull                               sample
	warmDigest, warmOwn, warmTag, warmDirect, coldDirect sample
	bulk, loop                                           sample
}

// newBench starts what a bench runs against, in a new temporary directory:
// the registry and the control plane, with helmTool's helm beside ocisrc.
// stop stops them and removes the directory.
func newBench(binary, helmTool, name string) (b *bench, stop func(), err error) {
	ocisrc, err := filepath.Abs(binary)
	if err != nil {
		return nil, nil, err
	}
	helm, err := testenv.ToolPath(helmTool, "helm")
	if err != nil {
		return nil, nil, err
	}
	if _, err := testenv.UseKubectl(); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "ocisrc-"+name+"-")
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "%s: starting the registry and the control plane\n", name)
	stack, err := testenv.StartStack(filepath.Join(dir, "stack"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	b = &bench{dir: dir, ocisrc: ocisrc, helm: helm, stack: stack, pathEnv: os.Getenv("PATH")}
	return b, func() { _ = stack.Stop(); _ = os.RemoveAll(dir) }, nil
}

// latency is a pair of latency proxies, in front of the stack's registry
// and its API server, and a kubeconfig that goes through the second.
type latency struct {
	reg, api   *testenv.LatencyProxy
	kubeconfig string
}

// latency puts proxies adding rtt in front of the registry and the API
// server; the kubeconfig's context is called kubeContext.
func (b *bench) latency(rtt time.Duration, kubeContext string) (*latency, error) {
	apiURL, err := url.Parse(b.stack.Cluster.Host())
	if err != nil {
		return nil, err
	}
	l := &latency{}
	if l.reg, err = testenv.NewLatencyProxy(b.stack.Secure.Host, rtt); err != nil {
		return nil, err
	}
	if l.api, err = testenv.NewLatencyProxy(apiURL.Host, rtt); err != nil {
		l.reg.Close()
		return nil, err
	}
	if l.kubeconfig, err = b.stack.Cluster.KubeconfigVia(kubeContext, l.api.Addr); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *latency) setRTT(rtt time.Duration) { l.reg.SetRTT(rtt); l.api.SetRTT(rtt) }

func (l *latency) Close() { l.reg.Close(); l.api.Close() }

func run(binary, out string, runs, bulkRuns int, rtt time.Duration, onceOnly bool, extra []baseline) error {
	b, stop, err := newBench(binary, "helm3", "bench")
	if err != nil {
		return err
	}
	defer stop()
	b.n = runs
	binDir := filepath.Join(b.dir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	if err := os.Symlink(b.ocisrc, filepath.Join(binDir, "kubectl-component_pull")); err != nil {
		return err
	}
	b.pathEnv = binDir + string(os.PathListSeparator) + b.pathEnv
	stack, helm := b.stack, b.helm
	ctx := context.Background()
	reg := stack.Secure

	app, err := stack.PushChart(ctx, reg, "app", "1.2.3")
	if err != nil {
		return err
	}
	var refs []*testenv.Pushed
	for i := range 20 {
		p, err := stack.PushChart(ctx, reg, fmt.Sprintf("svc%02d", i), "1.0.0")
		if err != nil {
			return err
		}
		refs = append(refs, p)
	}

	slow, err := b.latency(rtt, "rtt")
	if err != nil {
		return err
	}
	defer slow.Close()
	modes := []*mode{
		{name: "loopback", reg: reg.Host, kubeconfig: stack.Cluster.Kubeconfig, ns: "bench-lo", bulkLabel: "lo"},
		{name: fmt.Sprintf("%d ms RTT", rtt.Milliseconds()), rtt: rtt, reg: slow.reg.Addr, kubeconfig: slow.kubeconfig, ns: "bench-rtt", bulkLabel: "rtt"},
	}
	fmt.Fprintln(os.Stderr, "bench: creating the Components (2 × 202)")
	for _, m := range modes {
		if err := b.seed(ctx, m, app, refs); err != nil {
			return err
		}
	}

	var all []*modeResult
	for _, m := range modes {
		if onceOnly {
			break
		}
		fmt.Fprintf(os.Stderr, "bench: == %s ==\n", m.name)
		r, err := b.scenarios(m, runs, bulkRuns)
		if err != nil {
			return err
		}
		all = append(all, r)
	}

	once, err := b.once(ctx, modes[0], runs)
	if err != nil {
		return err
	}

	fmt.Fprintln(os.Stderr, "bench: builds and helm versions")
	figs, err := b.versions(ctx, modes[0], runs, extra)
	if err != nil {
		return err
	}
	if onceOnly {
		fmt.Print(renderVersions(figs))
		return nil
	}
	report := render(modes, all, once, runs, bulkRuns, helmVersion(helm)) + "\n" + renderVersions(figs)
	fmt.Print(report)
	if out != "" {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		// Keep the scale section make bench-scale wrote.
		if prev, err := os.ReadFile(out); err == nil {
			if i, j := bytes.Index(prev, []byte(scaleBegin)), bytes.Index(prev, []byte(scaleEnd)); i >= 0 && j > i {
				report = strings.TrimRight(report, "\n") + "\n\n" + string(prev[i:j+len(scaleEnd)]) + "\n"
			}
		}
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s\n", out)
	}
	return nil
}

// seed creates a mode's Secrets (bound to the host the mode names the
// registry by) and Components, and a home logged in for helm.
func (b *bench) seed(ctx context.Context, m *mode, app *testenv.Pushed, refs []*testenv.Pushed) error {
	c := b.stack.Cluster
	at := func(p *testenv.Pushed) string { return strings.Replace(p.Ref, b.stack.Secure.Host, m.reg, 1) }
	creds := map[string]string{"username": testenv.RegistryUser, "password": testenv.RegistryPassword, "registry": m.reg}
	if err := c.PutSecret(ctx, "deployment-system", "registry-credentials-"+m.bulkLabel, creds); err != nil {
		return err
	}
	secret := "registry-credentials-" + m.bulkLabel
	if err := c.PutComponent(ctx, m.ns, "app", testenv.OCISource(at(app), secret, "deployment-system")); err != nil {
		return err
	}
	if err := c.PutComponent(ctx, m.ns, "app-pinned", testenv.OCISource(at(app)+"@"+app.Digest, secret, "deployment-system")); err != nil {
		return err
	}
	// The same pin with a Secret of the Component's own namespace: a warm pin
	// reads it (to know it is the Secret the cache recorded), with no NotFound first.
	if err := c.PutSecret(ctx, m.ns, "own-credentials", creds); err != nil {
		return err
	}
	if err := c.PutComponent(ctx, m.ns, "app-pinned-own", testenv.OCISource(at(app)+"@"+app.Digest, "own-credentials", m.ns)); err != nil {
		return err
	}
	for i := range 200 {
		ns := fmt.Sprintf("bulk-%s-%d", m.bulkLabel, i%10)
		if i < 10 {
			if err := c.PutSecret(ctx, ns, "registry-credentials", creds); err != nil {
				return err
			}
		}
		name := fmt.Sprintf("c%03d", i)
		if err := c.PutComponent(ctx, ns, name, testenv.OCISource(at(refs[i%20]), "registry-credentials", ns)); err != nil {
			return err
		}
		if err := c.Label(ctx, ns, name, map[string]string{"bench": m.bulkLabel}); err != nil {
			return err
		}
	}
	h, err := b.home("logged-in-" + m.bulkLabel)
	if err != nil {
		return err
	}
	if _, err := b.exec(h, testenv.RegistryPassword, b.helm, "registry", "login", m.reg, "-u", testenv.RegistryUser, "--password-stdin", "--ca-file", b.stack.Secure.CAFile); err != nil {
		return err
	}
	m.loggedIn = h
	return nil
}

// apiRequests runs the command once more at -v=6 and counts the API
// server's responses in client-go's log.
func (b *bench) apiRequests(h *testenv.Home, m *mode, name string, args ...string) int {
	var out bytes.Buffer
	cmd := exec.Command(name, append(args, "-v=6")...)
	cmd.Env = h.Environ(map[string]string{"PATH": b.pathEnv, "KUBECONFIG": m.kubeconfig, "KUBECACHEDIR": filepath.Join(b.dir, "kube-cache")})
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	return len(responseLine.FindAllString(out.String(), -1))
}

// responseLine is one API response in client-go's -v=6 log: the structured
// form (ocisrc) or kubectl's "GET https://… 200 OK in 3 milliseconds".
var responseLine = regexp.MustCompile(`"Response" verb="[A-Z]+" url=|\] (GET|POST|PUT|PATCH|DELETE) https?://\S+ \d{3} `)

func (b *bench) scenarios(m *mode, runs, bulkRuns int) (*modeResult, error) {
	r := &modeResult{}
	ca := b.stack.Secure.CAFile
	kube := func(h *testenv.Home, args ...string) (sample, error) {
		return b.execWith(h, m, "", "kubectl", args...)
	}
	add := func(scenario string, ours, theirs sample, unit string) {
		row := row{scenario: scenario, ours: fmtSample(ours, unit), theirs: fmtSample(theirs, unit)}
		switch unit {
		case "time":
			row.ratio = fmt.Sprintf("%.2f×", ours.wall.Seconds()/theirs.wall.Seconds())
		case "memory":
			row.ratio = fmt.Sprintf("%.2f×", float64(ours.maxRSSKB)/float64(theirs.maxRSSKB))
		}
		r.rows = append(r.rows, row)
		fmt.Fprintf(os.Stderr, "bench: %-60s ours %-22s helm %-22s %s\n", scenario, row.ours, row.theirs, row.ratio)
	}
	chartURL := "oci://" + m.reg + "/charts/app"
	pull := []string{"component-pull", "app", "-n", m.ns, "--registry-ca-file", ca}
	var err error

	fmt.Fprintln(os.Stderr, "bench: cold single pull")
	if r.cold, err = b.measure(runs, func() (sample, error) {
		h, err := b.home("cold")
		if err != nil {
			return sample{}, err
		}
		return kube(h, pull...)
	}); err != nil {
		return nil, err
	}
	if r.manual, err = b.measure(runs, func() (sample, error) {
		h, err := b.home("manual")
		if err != nil {
			return sample{}, err
		}
		var total sample
		for _, key := range []string{"username", "password"} {
			one, err := kube(h, "get", "secret", "registry-credentials-"+m.bulkLabel, "-n", "deployment-system", "-o", "jsonpath={.data."+key+"}")
			if err != nil {
				return sample{}, err
			}
			total.wall += one.wall
		}
		one, err := b.execWith(h, m, base64.StdEncoding.EncodeToString([]byte(testenv.RegistryPassword)), "base64", "-d")
		if err != nil {
			return sample{}, err
		}
		total.wall += one.wall
		one, err = b.execWith(h, m, testenv.RegistryPassword, b.helm, "registry", "login", m.reg, "-u", testenv.RegistryUser, "--password-stdin", "--ca-file", ca)
		if err != nil {
			return sample{}, err
		}
		total.wall += one.wall
		one, err = b.execWith(h, m, "", b.helm, "pull", chartURL, "--version", "1.2.3", "--ca-file", ca, "-d", b.outDir())
		if err != nil {
			return sample{}, err
		}
		total.wall += one.wall
		return total, nil
	}); err != nil {
		return nil, err
	}
	add("cold pull by tag: `kubectl component-pull` vs manual path (get secret ×2, base64, registry login, pull)", r.cold, r.manual, "time")
	if r.helmPull, err = b.measure(runs, func() (sample, error) {
		return b.execWith(m.loggedIn, m, "", b.helm, "pull", chartURL, "--version", "1.2.3", "--ca-file", ca, "-d", b.outDir())
	}); err != nil {
		return nil, err
	}
	add("cold pull by tag: `kubectl component-pull` vs `helm pull` with stored credentials", r.cold, r.helmPull, "time")

	fmt.Fprintln(os.Stderr, "bench: warm pulls")
	warm, err := b.home("warm")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"app", "app-pinned", "app-pinned-own"} {
		if _, err := kube(warm, "component-pull", name, "-n", m.ns, "--registry-ca-file", ca); err != nil {
			return nil, err
		}
	}
	if r.warmDigest, err = b.measure(runs, func() (sample, error) {
		return kube(warm, "component-pull", "app-pinned", "-n", m.ns, "--registry-ca-file", ca)
	}); err != nil {
		return nil, err
	}
	if r.warmOwn, err = b.measure(runs, func() (sample, error) {
		return kube(warm, "component-pull", "app-pinned-own", "-n", m.ns, "--registry-ca-file", ca)
	}); err != nil {
		return nil, err
	}
	if r.warmTag, err = b.measure(runs, func() (sample, error) {
		return kube(warm, "component-pull", "app", "-n", m.ns, "--registry-ca-file", ca)
	}); err != nil {
		return nil, err
	}
	if r.coldDirect, err = b.measure(runs, func() (sample, error) {
		h, err := b.home("cold-direct")
		if err != nil {
			return sample{}, err
		}
		return b.execWith(h, m, "", b.ocisrc, "fetch", "app", "-n", m.ns, "--registry-ca-file", ca)
	}); err != nil {
		return nil, err
	}
	if r.warmDirect, err = b.measure(runs, func() (sample, error) {
		return b.execWith(warm, m, "", b.ocisrc, "fetch", "app-pinned", "-n", m.ns, "--registry-ca-file", ca)
	}); err != nil {
		return nil, err
	}
	add("warm pull by digest (the system namespace's shared Secret, read on every run) vs our cold pull", r.warmDigest, r.cold, "time")
	add("the same, run as `ocisrc fetch` (no kubectl plugin dispatch)", r.warmDirect, r.coldDirect, "time")
	add("warm pull by digest, the Secret in the Component's namespace (read once: no NotFound first) vs our cold pull", r.warmOwn, r.cold, "time")
	add("warm pull by tag vs our cold pull", r.warmTag, r.cold, "time")
	add("warm pull by tag vs `helm pull` (Helm 3 never reads its cache back)", r.warmTag, r.helmPull, "time")

	fmt.Fprintln(os.Stderr, "bench: bulk (200 Components, 20 charts)")
	if r.bulk, err = b.measure(bulkRuns, func() (sample, error) {
		h, err := b.home("bulk")
		if err != nil {
			return sample{}, err
		}
		return kube(h, "component-pull", "-l", "bench="+m.bulkLabel, "-A", "--registry-ca-file", ca)
	}); err != nil {
		return nil, err
	}
	if r.loop, err = b.measure(bulkRuns, func() (sample, error) {
		var total sample
		for i := range 200 {
			one, err := b.execWith(m.loggedIn, m, "", b.helm, "pull", fmt.Sprintf("oci://%s/charts/svc%02d", m.reg, i%20), "--version", "1.0.0", "--ca-file", ca, "-d", b.outDir())
			if err != nil {
				return sample{}, err
			}
			total.wall += one.wall
		}
		return total, nil
	}); err != nil {
		return nil, err
	}
	add("bulk: 200 Components, 10 namespaces, 20 charts vs a loop of 200 `helm pull`", r.bulk, r.loop, "time")

	fmt.Fprintln(os.Stderr, "bench: API server requests")
	fresh, _ := b.home("api-cold")
	apiCold := b.apiRequests(fresh, m, b.ocisrc, "fetch", "app", "-n", m.ns, "--registry-ca-file", ca)
	apiWarmDigest := b.apiRequests(warm, m, b.ocisrc, "fetch", "app-pinned", "-n", m.ns, "--registry-ca-file", ca)
	apiWarmOwn := b.apiRequests(warm, m, b.ocisrc, "fetch", "app-pinned-own", "-n", m.ns, "--registry-ca-file", ca)
	apiWarmTag := b.apiRequests(warm, m, b.ocisrc, "fetch", "app", "-n", m.ns, "--registry-ca-file", ca)
	bulkHome, _ := b.home("api-bulk")
	apiBulk := b.apiRequests(bulkHome, m, b.ocisrc, "fetch", "-l", "bench="+m.bulkLabel, "-A", "--registry-ca-file", ca)
	manualHome, _ := b.home("api-manual")
	apiManual := b.apiRequests(manualHome, m, "kubectl", "get", "secret", "registry-credentials-"+m.bulkLabel, "-n", "deployment-system", "-o", "name") * 2
	r.apiRows = []row{
		{scenario: "cold pull by tag (ours) vs the manual path's 2 × `kubectl get secret`", ours: fmt.Sprintf("%d API, %d registry", apiCold, r.cold.requests), theirs: fmt.Sprintf("%d API, %d registry (login + pull)", apiManual, r.manual.requests)},
		{scenario: "warm pull by digest, shared Secret", ours: fmt.Sprintf("%d API, %d registry", apiWarmDigest, r.warmDigest.requests), theirs: fmt.Sprintf("0 API, %d registry (`helm pull`)", r.helmPull.requests)},
		{scenario: "warm pull by digest, Secret in the Component's namespace", ours: fmt.Sprintf("%d API, %d registry", apiWarmOwn, r.warmOwn.requests), theirs: fmt.Sprintf("0 API, %d registry (`helm pull`)", r.helmPull.requests)},
		{scenario: "warm pull by tag", ours: fmt.Sprintf("%d API, %d registry", apiWarmTag, r.warmTag.requests), theirs: fmt.Sprintf("0 API, %d registry (`helm pull`)", r.helmPull.requests)},
		{scenario: "bulk, 200 Components over 20 charts", ours: fmt.Sprintf("%d API, %d registry", apiBulk, r.bulk.requests), theirs: fmt.Sprintf("0 API, %d registry (200 × `helm pull`)", r.loop.requests)},
	}
	for _, row := range r.apiRows {
		fmt.Fprintf(os.Stderr, "bench: %-60s ours %-24s theirs %s\n", row.scenario, row.ours, row.theirs)
	}
	return r, nil
}

// extras are the measurements made once, on loopback.
type extras struct {
	rows             []row
	memNote          string
	memOurs, memHelm sample
	startRatio       float64
	inits            initCost
	releaseSize      int64
}

// initCost is what the package initialisers of a start cost: the median
// of their total clock and allocated bytes, and the five largest by bytes.
type initCost struct {
	ms      float64
	bytes   int64
	largest []string
}

// initTrace runs `binary --help` runs times with GODEBUG=inittrace=1.
func initTrace(binary string, runs int) (initCost, error) {
	var c initCost
	var times []float64
	var sizes []int64
	for range runs {
		cmd := exec.Command(binary, "--help")
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return c, fmt.Errorf("%s --help: %w", binary, err)
		}
		var ms float64
		var total int64
		type pkg struct {
			name  string
			bytes int64
		}
		var pkgs []pkg
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 9 || f[0] != "init" || f[8] != "bytes," {
				continue
			}
			clock, _ := strconv.ParseFloat(f[4], 64)
			n, _ := strconv.ParseInt(f[7], 10, 64)
			ms += clock
			total += n
			pkgs = append(pkgs, pkg{f[1], n})
		}
		times, sizes = append(times, ms), append(sizes, total)
		sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].bytes > pkgs[j].bytes })
		c.largest = c.largest[:0]
		for _, p := range pkgs[:min(5, len(pkgs))] {
			c.largest = append(c.largest, fmt.Sprintf("%s (%s)", p.name, units.Bytes(p.bytes)))
		}
	}
	sort.Float64s(times)
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	c.ms, c.bytes = times[len(times)/2], sizes[len(sizes)/2]
	return c, nil
}

// releaseBinary builds the binary as `make dist` does.
func (b *bench) releaseBinary() (string, error) {
	out := filepath.Join(b.dir, "release", "ocisrc")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/ocisrc")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if data, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the release binary: %w\n%s", err, data)
	}
	return out, nil
}

func (b *bench) once(ctx context.Context, m *mode, runs int) (*extras, error) {
	e := &extras{}
	ca := b.stack.Secure.CAFile
	c := b.stack.Cluster
	add := func(r row) {
		e.rows = append(e.rows, r)
		fmt.Fprintf(os.Stderr, "bench: %-60s ours %-22s theirs %-22s %s\n", r.scenario, r.ours, r.theirs, r.ratio)
	}
	fmt.Fprintln(os.Stderr, "bench: start-up")
	idle, err := b.home("idle")
	if err != nil {
		return nil, err
	}
	help, err := b.measure(runs*2, func() (sample, error) { return b.execWith(idle, m, "", b.ocisrc, "--help") })
	if err != nil {
		return nil, err
	}
	version, err := b.measure(runs*2, func() (sample, error) { return b.execWith(idle, m, "", b.helm, "version") })
	if err != nil {
		return nil, err
	}
	add(row{scenario: "start-up: `ocisrc --help` vs `helm version`", ours: fmtSample(help, "time"), theirs: fmtSample(version, "time"), ratio: fmt.Sprintf("%.2f×", help.wall.Seconds()/version.wall.Seconds())})
	e.startRatio = help.wall.Seconds() / version.wall.Seconds()
	if e.inits, err = initTrace(b.ocisrc, runs*2); err != nil {
		return nil, err
	}
	add(row{scenario: "package initialisers of `ocisrc --help` (GODEBUG=inittrace=1, median)", ours: fmt.Sprintf("%.1f ms, %s", e.inits.ms, units.Bytes(e.inits.bytes)), theirs: "—", ratio: "—"})
	ourSize, helmSize := fileSize(b.ocisrc), fileSize(b.helm)
	add(row{scenario: "binary size (both unstripped, -trimpath for ours)", ours: mib(ourSize), theirs: mib(helmSize), ratio: fmt.Sprintf("%.2f×", float64(ourSize)/float64(helmSize))})
	release, err := b.releaseBinary()
	if err != nil {
		return nil, err
	}
	e.releaseSize = fileSize(release)
	add(row{scenario: "release binary (`make dist`: -trimpath -ldflags=-s -w) vs helm as built here", ours: mib(e.releaseSize), theirs: mib(helmSize), ratio: fmt.Sprintf("%.2f×", float64(e.releaseSize)/float64(helmSize))})

	fmt.Fprintln(os.Stderr, "bench: memory (20 MiB chart)")
	big, err := testenv.BuildChart("big", "1.0.0", 20<<20)
	if err != nil {
		return nil, err
	}
	bigPushed, err := b.stack.Secure.PushChart(ctx, "charts/big", big, testenv.RegistryUser, testenv.RegistryPassword)
	if err != nil {
		return nil, err
	}
	if err := c.PutComponent(ctx, m.ns, "big", testenv.OCISource(bigPushed.Ref, "registry-credentials-"+m.bulkLabel, "deployment-system")); err != nil {
		return nil, err
	}
	if e.memOurs, err = b.measure(3, func() (sample, error) {
		h, err := b.home("big")
		if err != nil {
			return sample{}, err
		}
		return b.execMem(h, b.ocisrc, "fetch", "big", "-n", m.ns, "--registry-ca-file", ca)
	}); err != nil {
		return nil, err
	}
	if e.memHelm, err = b.measure(3, func() (sample, error) {
		return b.execMem(m.loggedIn, b.helm, "pull", "oci://"+m.reg+"/charts/big", "--version", "1.0.0", "--ca-file", ca, "-d", b.outDir())
	}); err != nil {
		return nil, err
	}
	chartMiB := float64(len(big.Archive)) / (1 << 20)
	add(row{scenario: fmt.Sprintf("peak memory pulling a %.0f MiB chart", chartMiB), ours: fmtSample(e.memOurs, "memory"), theirs: fmtSample(e.memHelm, "memory"), ratio: fmt.Sprintf("%.2f×", float64(e.memOurs.maxRSSKB)/float64(e.memHelm.maxRSSKB))})
	e.memNote = fmt.Sprintf("ours %.1f× the chart size, helm %.1f×", float64(e.memOurs.maxRSSKB)/1024/chartMiB, float64(e.memHelm.maxRSSKB)/1024/chartMiB)

	fmt.Fprintln(os.Stderr, "bench: validate on 500 Components")
	files := filepath.Join(b.dir, "gitops")
	if err := os.MkdirAll(files, 0o755); err != nil {
		return nil, err
	}
	for i := range 500 {
		doc := fmt.Sprintf("apiVersion: deploy.example.io/v1alpha1\nkind: Component\nmetadata: {name: c%03d, namespace: team-%d}\nspec:\n  source:\n    type: oci\n    chart: oci://registry.example.com/charts/svc%02d:1.0.%d\n    authentication: {method: registry, secretRef: {name: registry-credentials, namespace: deployment-system}}\n", i, i%10, i%20, i)
		if err := os.WriteFile(filepath.Join(files, fmt.Sprintf("c%03d.yaml", i)), []byte(doc), 0o644); err != nil {
			return nil, err
		}
	}
	validate, err := b.measure(runs, func() (sample, error) {
		return b.execWith(idle, m, "", b.ocisrc, "validate", "-f", files, "-R")
	})
	if err != nil {
		return nil, err
	}
	add(row{scenario: "`ocisrc validate -f` on 500 Components (one file each), offline", ours: fmtSample(validate, "time"), theirs: "—", ratio: "—"})

	fmt.Fprintln(os.Stderr, "bench: bundle of 20 charts")
	bundleHome, err := b.home("bundle")
	if err != nil {
		return nil, err
	}
	out := filepath.Join(b.dir, "charts.tar")
	if _, err := b.execWith(bundleHome, m, "", b.ocisrc, "fetch", "-l", "bench="+m.bulkLabel, "-A", "--registry-ca-file", ca); err != nil {
		return nil, err
	}
	create, err := b.measure(3, func() (sample, error) {
		return b.execWith(bundleHome, m, "", b.ocisrc, "bundle", "create", out, "-l", "bench="+m.bulkLabel, "-A", "--registry-ca-file", ca)
	})
	if err != nil {
		return nil, err
	}
	add(row{scenario: fmt.Sprintf("`bundle create` of 20 charts from a warm cache (200 Components; a tag resolved per Secret, signatures looked up per chart): %s", mib(fileSize(out))), ours: fmtSample(create, "time"), theirs: "—", ratio: "—"})
	if err := os.MkdirAll(filepath.Join(b.dir, "target"), 0o755); err != nil {
		return nil, err
	}
	target, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: filepath.Join(b.dir, "target"), CA: b.stack.Secure.CA})
	if err != nil {
		return nil, err
	}
	defer target.Close()
	pushed, err := b.measure(1, func() (sample, error) {
		return b.execWith(bundleHome, m, "", b.ocisrc, "bundle", "push", out, "--to", target.Host+"/mirror", "--registry-ca-file", ca, "--cluster-registry-policy=false")
	})
	if err != nil {
		return nil, err
	}
	add(row{scenario: "`bundle push` of those 20 charts to another registry (requests not counted: a second registry)", ours: fmt.Sprintf("%.3fs", pushed.wall.Seconds()), theirs: "—", ratio: "—"})
	return e, nil
}

// execWith runs one process with the mode's kubeconfig.
func (b *bench) execWith(h *testenv.Home, m *mode, stdin, name string, args ...string) (sample, error) {
	return b.execEnv(h, map[string]string{"KUBECONFIG": m.kubeconfig}, stdin, name, args...)
}

func fmtSample(s sample, unit string) string {
	if unit == "memory" {
		return fmt.Sprintf("%.1f MiB", float64(s.maxRSSKB)/1024)
	}
	return fmt.Sprintf("%.3fs (%d req)", s.wall.Seconds(), s.requests)
}

func fileSize(p string) int64 {
	info, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return info.Size()
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(l[strings.Index(l, ":")+1:])
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(strings.SplitN(string(data), "\n", 2)[0], "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	kubectl := "kubectl"
	if out, err := exec.Command("kubectl", "version", "--client").Output(); err == nil {
		kubectl = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	return fmt.Sprintf("%s/%s, %d cores (%s)%s, %s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu, mem, runtime.Version(), kubectl)
}

func render(modes []*mode, all []*modeResult, e *extras, runs, bulkRuns int, helmVer string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "`make bench`, %s, on %s. helm is %s built from its module (tools/helm3); the Helm 3 and 4 section adds helm 4 (tools/helm4).\n", time.Now().UTC().Format("2006-01-02"), machine(), helmVer)
	fmt.Fprintf(&b, "Registry: distribution v3 in-process, TLS + htpasswd; control plane: envtest (kube-apiserver + etcd).\n")
	fmt.Fprintf(&b, "Every scenario runs twice in the same run: on loopback, and through latency proxies in front of the registry and the API server\n"+
		"(internal/testenv/latency.go: one RTT per new connection, half an RTT on every chunk each way, as netem's delay; `BENCH_RTT` sets it).\n"+
		"ocisrc, kubectl and helm go through the same proxies. Times are medians of %d runs (bulk: %d) of whole processes; cold runs start\n"+
		"with an empty cache; a ratio below 1 means ocisrc is faster. Requests are counted at the registry (access log) and at the API server\n"+
		"(client-go's -v=6 log of one extra run).\n\n", runs, bulkRuns)
	for i, m := range modes {
		r := all[i]
		fmt.Fprintf(&b, "## %s\n\n| scenario | ocisrc | helm / manual | ratio |\n|---|---|---|---|\n", m.name)
		for _, row := range r.rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.scenario, row.ours, row.theirs, row.ratio)
		}
		fmt.Fprintf(&b, "\n| requests | ocisrc | helm / manual |\n|---|---|---|\n")
		for _, row := range r.apiRows {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", row.scenario, row.ours, row.theirs)
		}
		fmt.Fprintf(&b, "\n")
	}
	fmt.Fprintf(&b, "## Once, on loopback\n\n| scenario | ocisrc | helm | ratio |\n|---|---|---|---|\n")
	for _, row := range e.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.scenario, row.ours, row.theirs, row.ratio)
	}
	fmt.Fprintf(&b, "\nPeak memory: %s.\n\n", e.memNote)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	rtt := all[len(all)-1]
	fmt.Fprintf(&b, "## Targets at %s (issue 13)\n\n", modes[len(modes)-1].name)
	ratio := func(a, b sample) float64 { return a.wall.Seconds() / b.wall.Seconds() }
	for _, t := range []string{
		fmt.Sprintf("cold pull by tag ≤ 0.5× the manual path: %.2f× — %s", ratio(rtt.cold, rtt.manual), verdict(ratio(rtt.cold, rtt.manual) <= 0.5)),
		fmt.Sprintf("cold pull by tag no slower than `helm pull` with stored credentials: %.2f× — %s", ratio(rtt.cold, rtt.helmPull), verdict(ratio(rtt.cold, rtt.helmPull) <= 1)),
		fmt.Sprintf("warm digest hit: %d registry requests, %.2f× our cold pull through kubectl (%.2f× as `ocisrc fetch`; %.2f× with the Secret in the Component's namespace) — %s", rtt.warmDigest.requests, ratio(rtt.warmDigest, rtt.cold), ratio(rtt.warmDirect, rtt.coldDirect), ratio(rtt.warmOwn, rtt.cold), verdict(rtt.warmDigest.requests == 0 && ratio(rtt.warmDigest, rtt.cold) <= 0.3)),
		fmt.Sprintf("warm tag hit: %d registry request, %.2f× our cold pull — %s", rtt.warmTag.requests, ratio(rtt.warmTag, rtt.cold), verdict(rtt.warmTag.requests == 1 && ratio(rtt.warmTag, rtt.cold) <= 0.5)),
		fmt.Sprintf("bulk ≥ 5× faster than the sequential helm loop: %.1f× — %s", 1/ratio(rtt.bulk, rtt.loop), verdict(1/ratio(rtt.bulk, rtt.loop) >= 5)),
		fmt.Sprintf("peak memory on a 20 MiB chart ≤ `helm pull`'s: %.1f vs %.1f MiB — %s", float64(e.memOurs.maxRSSKB)/1024, float64(e.memHelm.maxRSSKB)/1024, verdict(e.memOurs.maxRSSKB <= e.memHelm.maxRSSKB)),
	} {
		fmt.Fprintf(&b, "- %s\n", t)
	}
	memRatio := float64(e.memOurs.maxRSSKB) / float64(e.memHelm.maxRSSKB)
	fmt.Fprintf(&b, "\n## Targets of issue 30 (start-up and memory on loopback)\n\n")
	for _, t := range []string{
		fmt.Sprintf("package initialisers allocate ≤ 5.5 MB: %s — %s", units.Bytes(e.inits.bytes), verdict(e.inits.bytes <= 5_500_000)),
		fmt.Sprintf("package initialisers take ≤ 15 ms: %.1f ms — %s", e.inits.ms, verdict(e.inits.ms <= 15)),
		fmt.Sprintf("the five largest initialisers: %s", strings.Join(e.inits.largest, ", ")),
		fmt.Sprintf("`ocisrc --help` ≤ 0.5× `helm version`: %.2f× — %s", e.startRatio, verdict(e.startRatio <= 0.5)),
		fmt.Sprintf("peak memory on the 20 MiB chart ≤ 0.55× helm's: %.2f× — %s", memRatio, verdict(memRatio <= 0.55)),
		fmt.Sprintf("release binary (-s -w): %s", mib(e.releaseSize)),
	} {
		fmt.Fprintf(&b, "- %s\n", t)
	}
	if len(all) == 2 && modes[1].rtt > 0 {
		b.WriteString(renderCriticalPath(all[0], all[1], modes[1].rtt))
	}
	fmt.Fprintf(&b, "\nWhat a warm digest hit still pays, on either network: process start (~25 ms: the Go runtime and client-go's\n"+
		"init), kubectl's plugin dispatch (the pinned kubectl, tools/kubernetes, finds the plugin on PATH and execs it: its own start-up, no network), one TCP + TLS connection to the API server and two\n"+
		"round trips on it (the Component, and in parallel the registry policy's ConfigMap), then the Secret: the Components\n"+
		"here use the system namespace's shared Secret, read on every run (its binding decides whether it may be used, and the cache's record\n"+
		"names the Secret it was made with): the Component's namespace first, the system namespace after its NotFound, two round trips in turn. A pin whose Secret is in the Component's own namespace reads it with no NotFound first. A cold pull adds the Secret, a TCP + TLS connection to the registry (opened while the\n"+
		"Secret is read), the first 401 and the downloads: the manifest, then the config and the chart layer in parallel, the layer\n"+
		"streamed to a file in the cache (which is why peak memory no longer grows with the chart).\n")
	return b.String()
}

// renderCriticalPath turns the two networks' times of each single pull into
// the round trips on its critical path, (time at RTT − time on loopback) /
// RTT, beside the floor issue 21 gives: a warm digest hit needs a connection
// to the API server (TCP + TLS) and one GET; a warm tag hit adds a
// connection to the registry and its HEAD; a cold pull by tag (auth scheme
// known) adds the manifest and the blobs.
func renderCriticalPath(lo, rtt *modeResult, d time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Critical path at %d ms RTT (issue 21)\n\n", d.Milliseconds())
	fmt.Fprintf(&b, "Round trips = (time at %d ms − time on loopback) / %d ms, from the medians above.\n\n", d.Milliseconds(), d.Milliseconds())
	fmt.Fprintf(&b, "| single pull | loopback | %d ms RTT | round trips | floor | target (≤ floor + 1) |\n|---|---|---|---|---|---|\n", d.Milliseconds())
	for _, p := range []struct {
		name      string
		lo, rtt   sample
		floor     int
		floorNote string
	}{
		{"warm by digest, the Secret in the Component's namespace (`kubectl component-pull`)", lo.warmOwn, rtt.warmOwn, 4, "API connect 2 + Component 1 + the Secret 1 (read to know it is the one the cache recorded)"},
		{"warm by digest, the system namespace's shared Secret (`kubectl component-pull`)", lo.warmDigest, rtt.warmDigest, 5, "as above, the Component's namespace answering NotFound first"},
		{"warm by digest, the shared Secret (`ocisrc fetch`)", lo.warmDirect, rtt.warmDirect, 5, "as above, without kubectl's dispatch"},
		{"warm by tag, the shared Secret (`kubectl component-pull`)", lo.warmTag, rtt.warmTag, 6, "+ HEAD of the tag (the registry's connection opened meanwhile)"},
		{"cold by tag, the shared Secret (`kubectl component-pull`)", lo.cold, rtt.cold, 8, "API connect 2 + Component 1 + two Secret reads 2 + auth challenge 1 + manifest 1 + config and layer 1"},
		{"cold by tag, the shared Secret (`ocisrc fetch`)", lo.coldDirect, rtt.coldDirect, 8, "as above, without kubectl's dispatch"},
	} {
		trips := (p.rtt.wall - p.lo.wall).Seconds() / d.Seconds()
		met := "met"
		if trips > float64(p.floor)+1 {
			met = "**not met**"
		}
		fmt.Fprintf(&b, "| %s | %.3fs | %.3fs | %.1f | %d (%s) | %s |\n", p.name, p.lo.wall.Seconds(), p.rtt.wall.Seconds(), trips, p.floor, p.floorNote, met)
	}
	return b.String()
}
