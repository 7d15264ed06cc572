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
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == measureArg {
		os.Exit(measureChild(os.Args[2], os.Args[3:]))
	}
	binary := flag.String("binary", "bin/ocisrc", "the ocisrc binary to measure")
	out := flag.String("out", "docs/benchmarks.md", "where to write the report")
	runs := flag.Int("runs", 7, "runs per single-pull measurement (the median is reported)")
	bulkRuns := flag.Int("bulk-runs", 3, "runs per bulk measurement")
	flag.Parse()
	if err := run(*binary, *out, *runs, *bulkRuns); err != nil {
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
	cmd := exec.Command(name, args...)
	cmd.Env = h.Environ(map[string]string{"PATH": b.pathEnv, "KUBECONFIG": b.stack.Cluster.Kubeconfig, "KUBECACHEDIR": filepath.Join(b.dir, "kube-cache")})
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

func run(binary, out string, runs, bulkRuns int) error {
	ocisrc, err := filepath.Abs(binary)
	if err != nil {
		return err
	}
	helm, err := testenv.ToolPath("helm3", "helm")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ocisrc-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "bench: starting the registry and the control plane")
	stack, err := testenv.StartStack(filepath.Join(dir, "stack"))
	if err != nil {
		return err
	}
	defer func() { _ = stack.Stop() }()

	binDir := filepath.Join(dir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	if err := os.Symlink(ocisrc, filepath.Join(binDir, "kubectl-component_pull")); err != nil {
		return err
	}
	b := &bench{dir: dir, ocisrc: ocisrc, helm: helm, stack: stack, pathEnv: binDir + string(os.PathListSeparator) + os.Getenv("PATH"), n: runs}
	ctx := context.Background()
	c := stack.Cluster
	reg := stack.Secure
	ca := reg.CAFile

	app, err := stack.PushChart(ctx, reg, "app", "1.2.3")
	if err != nil {
		return err
	}
	creds := map[string]string{"username": testenv.RegistryUser, "password": testenv.RegistryPassword, "registry": reg.Host}
	if err := c.PutSecret(ctx, "deployment-system", "registry-credentials", creds); err != nil {
		return err
	}
	if err := c.PutComponent(ctx, "team-a", "app", testenv.OCISource(app.Ref, "registry-credentials", "deployment-system")); err != nil {
		return err
	}
	if err := c.PutComponent(ctx, "team-a", "app-pinned", testenv.OCISource(app.Ref+"@"+app.Digest, "registry-credentials", "deployment-system")); err != nil {
		return err
	}
	chartURL := "oci://" + reg.Host + "/charts/app"
	var rows []row
	add := func(scenario string, ours, theirs sample, unit string) {
		r := row{scenario: scenario, ours: fmtSample(ours, unit), theirs: fmtSample(theirs, unit)}
		switch unit {
		case "time":
			r.ratio = fmt.Sprintf("%.2f×", ours.wall.Seconds()/theirs.wall.Seconds())
		case "memory":
			r.ratio = fmt.Sprintf("%.2f×", float64(ours.maxRSSKB)/float64(theirs.maxRSSKB))
		}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "bench: %-60s ours %-22s helm %-22s %s\n", scenario, r.ours, r.theirs, r.ratio)
	}

	// 1. Cold single pull.
	fmt.Fprintln(os.Stderr, "bench: 1. cold single pull")
	pull := []string{"component-pull", "app", "-n", "team-a", "--registry-ca-file", ca}
	cold, err := b.measure(runs, func() (sample, error) {
		h, err := b.home("cold")
		if err != nil {
			return sample{}, err
		}
		return b.exec(h, "", "kubectl", pull...)
	})
	if err != nil {
		return err
	}
	// The manual path: read the Secret, decode it, log in, pull.
	manual, err := b.measure(runs, func() (sample, error) {
		h, err := b.home("manual")
		if err != nil {
			return sample{}, err
		}
		var total sample
		steps := [][]string{
			{"kubectl", "get", "secret", "registry-credentials", "-n", "deployment-system", "-o", "jsonpath={.data.username}"},
			{"kubectl", "get", "secret", "registry-credentials", "-n", "deployment-system", "-o", "jsonpath={.data.password}"},
			{"base64", "-d"},
		}
		for _, s := range steps {
			stdin := ""
			if s[0] == "base64" {
				stdin = base64.StdEncoding.EncodeToString([]byte(testenv.RegistryPassword)) // what the previous step printed
			}
			one, err := b.exec(h, stdin, s[0], s[1:]...)
			if err != nil {
				return sample{}, err
			}
			total.wall += one.wall
		}
		one, err := b.exec(h, testenv.RegistryPassword, helm, "registry", "login", reg.Host, "-u", testenv.RegistryUser, "--password-stdin", "--ca-file", ca)
		if err != nil {
			return sample{}, err
		}
		total.wall += one.wall
		one, err = b.exec(h, "", helm, "pull", chartURL, "--version", "1.2.3", "--ca-file", ca, "-d", b.outDir())
		if err != nil {
			return sample{}, err
		}
		total.wall += one.wall
		return total, nil
	})
	if err != nil {
		return err
	}
	add("cold pull: `kubectl component-pull` vs manual path (get secret ×2, base64, registry login, pull)", cold, manual, "time")
	loggedIn, err := b.home("logged-in")
	if err != nil {
		return err
	}
	if _, err := b.exec(loggedIn, testenv.RegistryPassword, helm, "registry", "login", reg.Host, "-u", testenv.RegistryUser, "--password-stdin", "--ca-file", ca); err != nil {
		return err
	}
	helmPull, err := b.measure(runs, func() (sample, error) {
		return b.exec(loggedIn, "", helm, "pull", chartURL, "--version", "1.2.3", "--ca-file", ca, "-d", b.outDir())
	})
	if err != nil {
		return err
	}
	add("cold pull: `kubectl component-pull` vs `helm pull` with stored credentials", cold, helmPull, "time")

	// 2. Warm pulls.
	fmt.Fprintln(os.Stderr, "bench: 2. warm pulls")
	warmHome, err := b.home("warm")
	if err != nil {
		return err
	}
	for _, name := range []string{"app", "app-pinned"} {
		if _, err := b.exec(warmHome, "", "kubectl", "component-pull", name, "-n", "team-a", "--registry-ca-file", ca); err != nil {
			return err
		}
	}
	warmDigest, err := b.measure(runs, func() (sample, error) {
		return b.exec(warmHome, "", "kubectl", "component-pull", "app-pinned", "-n", "team-a", "--registry-ca-file", ca)
	})
	if err != nil {
		return err
	}
	warmTag, err := b.measure(runs, func() (sample, error) {
		return b.exec(warmHome, "", "kubectl", "component-pull", "app", "-n", "team-a", "--registry-ca-file", ca)
	})
	if err != nil {
		return err
	}
	coldDirect, err := b.measure(runs, func() (sample, error) {
		h, err := b.home("cold-direct")
		if err != nil {
			return sample{}, err
		}
		return b.exec(h, "", ocisrc, "fetch", "app", "-n", "team-a", "--registry-ca-file", ca)
	})
	if err != nil {
		return err
	}
	warmDirect, err := b.measure(runs, func() (sample, error) {
		return b.exec(warmHome, "", ocisrc, "fetch", "app-pinned", "-n", "team-a", "--registry-ca-file", ca)
	})
	if err != nil {
		return err
	}
	add("warm pull by digest vs our cold pull", warmDigest, cold, "time")
	add("the same, run as `ocisrc fetch` (no kubectl plugin dispatch)", warmDirect, coldDirect, "time")
	add("warm pull by tag vs our cold pull", warmTag, cold, "time")
	add("warm pull by tag vs `helm pull` (Helm 3 never reads its cache back)", warmTag, helmPull, "time")

	// 3. Bulk: 200 Components in 10 namespaces over 20 charts.
	fmt.Fprintln(os.Stderr, "bench: 3. bulk (pushing 20 charts, creating 200 Components)")
	var refs []string
	for i := range 20 {
		p, err := stack.PushChart(ctx, reg, fmt.Sprintf("svc%02d", i), "1.0.0")
		if err != nil {
			return err
		}
		refs = append(refs, p.Ref)
	}
	for i := range 200 {
		ns := fmt.Sprintf("bulk-%d", i%10)
		if i < 10 {
			if err := c.PutSecret(ctx, ns, "registry-credentials", creds); err != nil {
				return err
			}
		}
		name := fmt.Sprintf("c%03d", i)
		if err := c.PutComponent(ctx, ns, name, testenv.OCISource(refs[i%20], "registry-credentials", ns)); err != nil {
			return err
		}
		if err := c.Label(ctx, ns, name, map[string]string{"bench": "bulk"}); err != nil {
			return err
		}
	}
	bulk, err := b.measure(bulkRuns, func() (sample, error) {
		h, err := b.home("bulk")
		if err != nil {
			return sample{}, err
		}
		return b.exec(h, "", "kubectl", "component-pull", "-l", "bench=bulk", "-A", "--registry-ca-file", ca)
	})
	if err != nil {
		return err
	}
	loop, err := b.measure(bulkRuns, func() (sample, error) {
		var total sample
		for i := range 200 {
			name := fmt.Sprintf("svc%02d", i%20)
			one, err := b.exec(loggedIn, "", helm, "pull", "oci://"+reg.Host+"/charts/"+name, "--version", "1.0.0", "--ca-file", ca, "-d", b.outDir())
			if err != nil {
				return sample{}, err
			}
			total.wall += one.wall
			total.maxRSSKB = max(total.maxRSSKB, one.maxRSSKB)
		}
		return total, nil
	})
	if err != nil {
		return err
	}
	add("bulk: 200 Components, 10 namespaces, 20 charts vs a loop of 200 `helm pull`", bulk, loop, "time")

	// 4. Start-up and size.
	fmt.Fprintln(os.Stderr, "bench: 4. start-up")
	idle, err := b.home("idle")
	if err != nil {
		return err
	}
	help, err := b.measure(runs*2, func() (sample, error) { return b.exec(idle, "", ocisrc, "--help") })
	if err != nil {
		return err
	}
	version, err := b.measure(runs*2, func() (sample, error) { return b.exec(idle, "", helm, "version") })
	if err != nil {
		return err
	}
	add("start-up: `ocisrc --help` vs `helm version`", help, version, "time")
	ourSize, helmSize := fileSize(ocisrc), fileSize(helm)
	rows = append(rows, row{scenario: "binary size (both unstripped, -trimpath for ours)", ours: mib(ourSize), theirs: mib(helmSize), ratio: fmt.Sprintf("%.2f×", float64(ourSize)/float64(helmSize))})

	// 5. Peak memory on a 20 MiB chart.
	fmt.Fprintln(os.Stderr, "bench: 5. memory (20 MiB chart)")
	big, err := testenv.BuildChart("big", "1.0.0", 20<<20)
	if err != nil {
		return err
	}
	bigPushed, err := reg.PushChart(ctx, "charts/big", big, testenv.RegistryUser, testenv.RegistryPassword)
	if err != nil {
		return err
	}
	if err := c.PutComponent(ctx, "team-a", "big", testenv.OCISource(bigPushed.Ref, "registry-credentials", "deployment-system")); err != nil {
		return err
	}
	bigOurs, err := b.measure(3, func() (sample, error) {
		h, err := b.home("big")
		if err != nil {
			return sample{}, err
		}
		return b.execMem(h, ocisrc, "fetch", "big", "-n", "team-a", "--registry-ca-file", ca)
	})
	if err != nil {
		return err
	}
	bigHelm, err := b.measure(3, func() (sample, error) {
		return b.execMem(loggedIn, helm, "pull", "oci://"+reg.Host+"/charts/big", "--version", "1.0.0", "--ca-file", ca, "-d", b.outDir())
	})
	if err != nil {
		return err
	}
	chartMiB := float64(len(big.Archive)) / (1 << 20)
	add(fmt.Sprintf("peak memory pulling a %.0f MiB chart", chartMiB), bigOurs, bigHelm, "memory")
	memNote := fmt.Sprintf("ours %.1f× the chart size, helm %.1f×", float64(bigOurs.maxRSSKB)/1024/chartMiB, float64(bigHelm.maxRSSKB)/1024/chartMiB)

	// 6. Requests.
	fmt.Fprintln(os.Stderr, "bench: 6. registry requests")
	manualReqs, err := b.measure(1, func() (sample, error) {
		h, err := b.home("manual-requests")
		if err != nil {
			return sample{}, err
		}
		if _, err := b.exec(h, testenv.RegistryPassword, helm, "registry", "login", reg.Host, "-u", testenv.RegistryUser, "--password-stdin", "--ca-file", ca); err != nil {
			return sample{}, err
		}
		return b.exec(h, "", helm, "pull", chartURL, "--version", "1.2.3", "--ca-file", ca, "-d", b.outDir())
	})
	if err != nil {
		return err
	}
	knownHome, err := b.home("known")
	if err != nil {
		return err
	}
	if _, err := b.exec(knownHome, "", ocisrc, "fetch", "big", "-n", "team-a", "--registry-ca-file", ca); err != nil {
		return err
	}
	coldKnown, err := b.measure(1, func() (sample, error) {
		return b.exec(knownHome, "", "kubectl", pull...)
	})
	if err != nil {
		return err
	}
	reqRows := []row{
		{scenario: "cold pull by tag, first contact (ours) vs login + pull (manual path)", ours: fmt.Sprint(cold.requests), theirs: fmt.Sprint(manualReqs.requests)},
		{scenario: "cold pull by tag, registry known to use basic auth (ours) vs `helm pull` with stored credentials", ours: fmt.Sprint(coldKnown.requests), theirs: fmt.Sprint(helmPull.requests)},
		{scenario: "warm pull by tag (ours) vs `helm pull`", ours: fmt.Sprint(warmTag.requests), theirs: fmt.Sprint(helmPull.requests)},
		{scenario: "warm pull by digest (ours) vs `helm pull`", ours: fmt.Sprint(warmDigest.requests), theirs: fmt.Sprint(helmPull.requests)},
		{scenario: "bulk, 200 Components over 20 charts (ours) vs 200 × `helm pull`", ours: fmt.Sprint(bulk.requests), theirs: fmt.Sprint(loop.requests)},
	}
	for _, r := range reqRows {
		fmt.Fprintf(os.Stderr, "bench: %-60s ours %-6s helm %s\n", r.scenario, r.ours, r.theirs)
	}

	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "not met"
	}
	targets := []string{
		fmt.Sprintf("cold pull ≤ 0.5× the manual path: %.2f× — %s", cold.wall.Seconds()/manual.wall.Seconds(), verdict(cold.wall.Seconds() <= 0.5*manual.wall.Seconds())),
		fmt.Sprintf("warm digest hit makes 0 requests: %d — %s", warmDigest.requests, verdict(warmDigest.requests == 0)),
		fmt.Sprintf("warm digest hit ≤ 0.1× cold: %.2f× through kubectl, %.2f× as `ocisrc fetch` — %s", warmDigest.wall.Seconds()/cold.wall.Seconds(), warmDirect.wall.Seconds()/coldDirect.wall.Seconds(), verdict(warmDigest.wall.Seconds() <= 0.1*cold.wall.Seconds())),
		fmt.Sprintf("bulk ≥ 5× faster than the sequential loop: %.1f× — %s", loop.wall.Seconds()/bulk.wall.Seconds(), verdict(loop.wall.Seconds() >= 5*bulk.wall.Seconds())),
	}
	for _, t := range targets {
		fmt.Fprintf(os.Stderr, "bench: target %s\n", t)
	}
	report := render(rows, reqRows, memNote, runs, bulkRuns, targets)
	fmt.Print(report)
	if out != "" {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s\n", out)
	}
	return nil
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

func render(rows, reqRows []row, memNote string, runs, bulkRuns int, targets []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "`make bench`, %s, on %s. helm is v3.22.0 built from its module (tools/helm3).\n", time.Now().UTC().Format("2006-01-02"), machine())
	fmt.Fprintf(&b, "Registry: distribution v3 in-process, TLS + htpasswd, on loopback; control plane: envtest (kube-apiserver + etcd).\n")
	fmt.Fprintf(&b, "Times are medians of %d runs (bulk: %d) of whole processes, cold runs each with an empty cache; a ratio below 1 means ocisrc is faster.\n\n", runs, bulkRuns)
	fmt.Fprintf(&b, "| scenario | ocisrc | helm / manual | ratio |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.scenario, r.ours, r.theirs, r.ratio)
	}
	fmt.Fprintf(&b, "\nPeak memory: %s.\n\n## Targets (issue 4)\n\n", memNote)
	for _, t := range targets {
		fmt.Fprintf(&b, "- %s\n", t)
	}
	fmt.Fprintf(&b, "\nOn loopback a registry round trip costs well under a millisecond, so a warm hit saves little\n"+
		"against what every run pays anyway: process start (~25 ms: Go runtime and client-go init),\n"+
		"kubectl's plugin dispatch, and the API server (discovery from the disk cache, the Component, the\n"+
		"Secret). The 0.1× target assumes a remote registry, where a cold pull pays TLS handshakes, a 401\n"+
		"and three downloads over real latency that a warm hit does not.\n\n")
	fmt.Fprintf(&b, "## Registry requests (access log)\n\n| scenario | ocisrc | helm |\n|---|---|---|\n")
	for _, r := range reqRows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.scenario, r.ours, r.theirs)
	}
	fmt.Fprintf(&b, "\nA cold pull by tag is manifest + config + chart: Helm's client always fetches the config\n"+
		"(the chart's metadata). The first contact with a registry pays one 401 to learn its auth scheme;\n"+
		"ocisrc remembers a basic-auth registry's scheme in its cache and sends credentials on the first\n"+
		"request afterwards. A token realm costs one token request per process.\n")
	return b.String()
}
