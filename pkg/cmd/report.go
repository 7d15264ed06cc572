package cmd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/fetch"
	"github.com/ocisrc/ocisrc/pkg/termsafe"
	"github.com/ocisrc/ocisrc/pkg/units"
)

// Output formats of fetch beside text, json and yaml.
const (
	OutputWide = "wide"
	OutputName = "name"
)

var fetchOutputFormats = []string{OutputText, OutputWide, OutputName, OutputJSON, OutputYAML}

// report is what a fetch run shows, as it happens: a line per Component as
// it finishes (text, wide, name), or the -o json|yaml document at the end;
// for a run of several Components, a failed line per failure on stderr
// as it happens, the failures grouped by cause at the end, and a summary as
// the last line on stderr. It keeps the results only for -o json|yaml.
type report struct {
	output  string
	dryRun  bool
	bulk    bool
	verbose bool
	out     *termsafe.Printer
	errOut  *termsafe.Printer

	start   time.Time
	results []fetch.Result
	// json streams -o json result by result, in input order (nil for
	// other outputs).
	json       *jsonStream
	total      int
	ok, cached int
	// failed groups the failures by cause as they come; first is the
	// first failure (a run of one Component returns it as it is).
	failed     *causeGroups
	first      error
	downloaded int64
}

// failedResult is one Component's failure.
type failedResult struct {
	key string
	err error
}

func newReport(o *FetchOptions, bulk bool) *report {
	r := &report{
		output: o.Output, dryRun: o.DryRun, bulk: bulk, verbose: klog.V(1).Enabled(),
		out: termsafe.NewPrinter(o.Out), errOut: termsafe.NewPrinter(o.ErrOut), start: time.Now(),
	}
	if o.Output == OutputJSON {
		r.json = &jsonStream{w: bufio.NewWriter(o.Out), pending: map[int]fetch.Result{}}
	}
	return r
}

// jsonStream writes the -o json document as results come: each result as
// soon as every earlier one (in input order) is written, so that a run
// holds only the results that finished ahead of a slower one, not all of
// them. The bytes are those of the whole document printed at once.
type jsonStream struct {
	w       *bufio.Writer
	pending map[int]fetch.Result
	next    int
	written int
	err     error
}

// add takes the result of the seq-th Component and writes what it can.
func (j *jsonStream) add(seq int, res fetch.Result) {
	j.pending[seq] = res
	for {
		res, ok := j.pending[j.next]
		if !ok {
			break
		}
		delete(j.pending, j.next)
		j.next++
		j.write(res)
	}
	if j.err == nil {
		j.err = j.w.Flush()
	}
}

func (j *jsonStream) write(res fetch.Result) {
	data, err := json.MarshalIndent(res, "    ", "  ")
	if err != nil {
		j.err = err
		return
	}
	if j.written == 0 {
		_, _ = j.w.WriteString("{\n  \"results\": [\n    ")
	} else {
		_, _ = j.w.WriteString(",\n    ")
	}
	_, _ = j.w.Write(data)
	j.written++
}

// close writes what is left, in input order, and the end of the document.
func (j *jsonStream) close(errs []runError) error {
	seqs := make([]int, 0, len(j.pending))
	for seq := range j.pending {
		seqs = append(seqs, seq)
	}
	sort.Ints(seqs)
	for _, seq := range seqs {
		j.write(j.pending[seq])
	}
	j.pending = nil
	if j.written == 0 {
		_, _ = j.w.WriteString("{\n  \"results\": []")
	} else {
		_, _ = j.w.WriteString("\n  ]")
	}
	if len(errs) > 0 {
		data, err := json.MarshalIndent(errs, "  ", "  ")
		if err != nil {
			return err
		}
		_, _ = j.w.WriteString(",\n  \"errors\": ")
		_, _ = j.w.Write(data)
	}
	_, _ = j.w.WriteString("\n}\n")
	if j.err != nil {
		return j.err
	}
	return j.w.Flush()
}

func (r *report) structured() bool { return r.output == OutputJSON || r.output == OutputYAML }

// add takes one Component's end (one call at a time).
func (r *report) add(fin finished) {
	r.total++
	res := fin.res
	if fin.err != nil {
		if r.failed == nil {
			r.failed, r.first = newCauseGroups(r.verbose), fin.err
		}
		r.failed.add(res.Component, fin.err)
		res.Reason, res.Hint, res.ExitCode = clierror.Reason(fin.err), clierror.Hint(fin.err), clierror.ExitCode(fin.err)
		if r.bulk && !r.structured() {
			r.errOut.Printf("%s  failed\n", res.Component)
		}
	} else {
		r.ok++
		if res.Cached {
			r.cached++
		}
		r.downloaded += res.Downloaded()
		switch r.output {
		case OutputName:
			r.out.Printf("component/%s\n", res.Component)
		case OutputText, OutputWide:
			printLine(r.out, res, r.dryRun, r.output == OutputWide)
		}
	}
	switch {
	case r.json != nil:
		r.json.add(fin.seq, res)
	case r.structured():
		for len(r.results) <= fin.seq {
			r.results = append(r.results, fetch.Result{})
		}
		r.results[fin.seq] = res
	}
}

// printLine prints one result as a short line, as kubectl apply does:
//
//	team-a/app  pulled  app 1.2.3  sha256:9968…1a1e  (deployment-system/registry-credentials)
//
// Everything in it that came from the cluster or a registry is escaped by
// the printer.
func printLine(p *termsafe.Printer, r fetch.Result, dryRun, wide bool) {
	creds := "anonymous"
	if r.Credentials != "" {
		creds = r.Credentials
	}
	if dryRun {
		p.Printf("%s  would pull  %s  (%s)\n", r.Component, r.Chart, creds)
		return
	}
	verb := "pulled"
	if r.Cached {
		verb = "cached"
	}
	p.Printf("%s  %s  %s %s  %s  (%s)", r.Component, verb, chartName(r), r.Version, shortDigestMiddle(r.Digest), creds)
	for _, v := range r.Verified {
		switch {
		case v.Provider == "provenance":
			p.Printf("  verified by provenance from %s built by %s", v.Source, v.Builder)
		case v.Issuer != "":
			p.Printf("  verified by %s identity %s %s", v.Provider, v.Issuer, v.Subject)
		case v.Subject != "":
			p.Printf("  verified by %s certificate %q", v.Provider, v.Subject)
		default:
			p.Printf("  verified by %s key %s", v.Provider, v.Key)
		}
	}
	if r.FromMirror() {
		p.Printf("  from the mirror %s", r.Source)
	}
	if r.Destination != "" {
		p.Printf("  -> %s", r.Destination)
	}
	if wide {
		source := r.Source
		if source == "" {
			source = "cache"
		}
		p.Printf("  %s  %s  %s", source, r.Chart, r.Path)
	}
	p.Printf("\n")
}

// chartName is the chart's name: from its cache entry, else its reference.
func chartName(r fetch.Result) string {
	if e := r.Entry(); e != nil {
		return e.Chart
	}
	if ref, err := chartref.Parse(r.Chart); err == nil {
		return ref.Chart
	}
	return r.Chart
}

// shortDigestMiddle is a digest as sha256:9968…1a1e.
func shortDigestMiddle(d string) string {
	hex := strings.TrimPrefix(d, "sha256:")
	if len(hex) <= 8 {
		return d
	}
	return "sha256:" + hex[:4] + "…" + hex[len(hex)-4:]
}

// fetchDocument is the -o json|yaml document of fetch: a result per
// Component, and, when the run itself failed (the cluster, a file, the
// policy), its errors.
type fetchDocument struct {
	Results []fetch.Result `json:"results"`
	Errors  []runError     `json:"errors,omitempty"`
}

// runError is a failure of the run itself, in -o json|yaml.
type runError struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// finish ends the run: the document for -o json|yaml (printed whatever
// happened), the summary of a run of several Components, and the error the
// run exits with: runErr, else the Components' failures grouped by cause.
func (r *report) finish(runErr error, w io.Writer) error {
	var errs []runError
	if runErr != nil {
		errs = []runError{{Reason: clierror.Reason(runErr), Message: runErr.Error(), Hint: clierror.Hint(runErr)}}
	}
	switch {
	case r.json != nil:
		if err := r.json.close(errs); err != nil {
			return err
		}
	case r.structured():
		doc := fetchDocument{Results: r.results, Errors: errs}
		if doc.Results == nil {
			doc.Results = []fetch.Result{}
		}
		if err := printStructured(w, r.output, doc); err != nil {
			return err
		}
	}
	if err := r.out.Err(); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	summary := r.summary()
	if r.failed == nil {
		if r.bulk && r.total > 0 {
			r.errOut.Printf("%s\n", summary)
		}
		return nil
	}
	if !r.bulk && r.failed.failed == 1 {
		return r.first
	}
	return r.failed.bulkError(r.total, summary)
}

// summary is the run's last line:
// 10000 Components: 9997 pulled (9000 from the cache), 3 failed; 812 MiB downloaded in 24.1 s
func (r *report) summary() string {
	parts := []string{fmt.Sprintf("%d %s: ", r.total, plural(r.total, "Component", "Components"))}
	if r.dryRun {
		parts = append(parts, fmt.Sprintf("%d would be pulled", r.ok))
	} else {
		parts = append(parts, fmt.Sprintf("%d pulled (%d from the cache)", r.ok, r.cached))
	}
	if r.failed != nil {
		parts = append(parts, fmt.Sprintf(", %d failed", r.failed.failed))
	}
	parts = append(parts, "; ")
	if !r.dryRun {
		parts = append(parts, units.Bytes(r.downloaded)+" downloaded ")
	}
	parts = append(parts, fmt.Sprintf("in %.1f s", time.Since(r.start).Seconds()))
	return strings.Join(parts, "")
}

// BulkError is the failure of some Components of a run, grouped by cause:
// each cause once (its message, the Components it hit, its hint).
type BulkError struct {
	Failed, Total int
	Causes        []FailureCause
	// Summary is the run's summary, the last line shown.
	Summary string
	code    int
	verbose bool
}

// FailureCause is one distinct cause of failure and the Components it hit.
type FailureCause struct {
	// Message is the cause's message: the first Component's, with its
	// namespace written <namespace> when the Components are in several.
	Message string
	Hint    []string
	// Count is how many Components it hit; Components names them in
	// order, the first ten (all with -v).
	Count      int
	Components []string
}

// causeLimit is how many Components a cause names (all with -v).
const causeLimit = 10

func newBulkError(failed []failedResult, total int, summary string, verbose bool) *BulkError {
	g := newCauseGroups(verbose)
	for _, f := range failed {
		g.add(f.key, f.err)
	}
	return g.bulkError(total, summary)
}

// causeGroups groups a run's failures by cause as they come, keeping of
// each cause its message, its hint, how many Components it hit and the
// names to show (the first ten by name; all with -v), so that a run of
// 100,000 failing Components holds its causes, not its failures.
type causeGroups struct {
	verbose bool
	failed  int
	code    int
	index   map[string]int
	// originals are each cause's first message, before generalizing.
	originals []string
	causes    []FailureCause
}

func newCauseGroups(verbose bool) *causeGroups {
	return &causeGroups{verbose: verbose, code: clierror.CodeInvalid, index: map[string]int{}}
}

// add takes one Component's failure.
func (g *causeGroups) add(key string, err error) {
	g.failed++
	if clierror.ExitCode(err) != clierror.CodeInvalid {
		g.code = clierror.CodeRuntime
	}
	inner := err
	var ce *fetch.ComponentError
	if errors.As(err, &ce) {
		inner = ce.Err
	}
	msg := strings.Join(terminalLines(inner), "\n")
	hint := clierror.HintLines(err)
	ns, _, _ := strings.Cut(key, "/")
	gmsg, ghint := generalize(msg, key, ns), make([]string, len(hint))
	for i, h := range hint {
		ghint[i] = generalize(h, key, ns)
	}
	k := gmsg + "\x00" + strings.Join(ghint, "\n")
	i, ok := g.index[k]
	if !ok {
		i = len(g.causes)
		g.index[k] = i
		g.originals = append(g.originals, msg)
		g.causes = append(g.causes, FailureCause{Message: msg, Hint: hint})
	} else if g.originals[i] != msg {
		// The same cause in another namespace: say it once, generally.
		g.causes[i].Message, g.causes[i].Hint = gmsg, ghint
	}
	c := &g.causes[i]
	c.Count++
	// The names in order; beyond the ten shown, only with -v.
	at := sort.SearchStrings(c.Components, key)
	if !g.verbose && at >= causeLimit {
		return
	}
	c.Components = slices.Insert(c.Components, at, key)
	if !g.verbose && len(c.Components) > causeLimit {
		c.Components = c.Components[:causeLimit]
	}
}

// bulkError is the run's error: the largest cause first.
func (g *causeGroups) bulkError(total int, summary string) *BulkError {
	e := &BulkError{Failed: g.failed, Total: total, Summary: summary, code: g.code, verbose: g.verbose, Causes: slices.Clone(g.causes)}
	sort.SliceStable(e.Causes, func(i, j int) bool {
		if a, b := e.Causes[i].Count, e.Causes[j].Count; a != b {
			return a > b
		}
		return e.Causes[i].Message < e.Causes[j].Message
	})
	return e
}

// generalize writes the Component's namespace/name and namespace in msg as
// placeholders, so that one cause in many namespaces is one cause.
func generalize(msg, key, ns string) string {
	msg = strings.ReplaceAll(msg, key, "<namespace>/<name>")
	re := regexp.MustCompile(`(^|[^a-z0-9-])` + regexp.QuoteMeta(ns) + `($|[^a-z0-9-])`)
	for range 3 { // adjacent matches share a boundary character
		msg = re.ReplaceAllString(msg, "${1}<namespace>${2}")
	}
	return msg
}

// ExitCode is 2 when every failure is invalid input, else 1.
func (e *BulkError) ExitCode() int { return e.code }

func (e *BulkError) Error() string {
	return strings.Join(e.TerminalLines(), "\n")
}

// TerminalLines is the message for a terminal: the count, then each cause
// with the Components it hit, and the summary last. Hints are Blocks'.
func (e *BulkError) TerminalLines() []string {
	causes := plural(len(e.Causes), "cause", "causes")
	lines := []string{fmt.Sprintf("%d of %d %s failed (%d %s):", e.Failed, e.Total, plural(e.Total, "Component", "Components"), len(e.Causes), causes)}
	for _, c := range e.Causes {
		msg := strings.Split(c.Message, "\n")
		lines = append(lines, "  "+msg[0])
		for _, l := range msg[1:] {
			lines = append(lines, "  "+l)
		}
		lines = append(lines, "  "+e.hit(c))
	}
	return lines
}

// hit names the Components a cause hit: the first ten and how many more,
// or all of them with -v.
func (e *BulkError) hit(c FailureCause) string {
	names := c.Components
	if !e.verbose && len(names) > causeLimit {
		names = names[:causeLimit]
	}
	more := ""
	if n := c.Count - len(names); n > 0 {
		more = fmt.Sprintf(" and %d more (-v lists them all)", n)
	}
	return fmt.Sprintf("%d %s: %s%s", c.Count, plural(c.Count, "Component", "Components"), strings.Join(names, ", "), more)
}

// print writes the error as printError does, each cause's hint under it,
// and the summary last.
func (e *BulkError) print(p *termsafe.Printer, words func(string) string) {
	causes := plural(len(e.Causes), "cause", "causes")
	p.Printf("Error: %d of %d %s failed (%d %s):\n", e.Failed, e.Total, plural(e.Total, "Component", "Components"), len(e.Causes), causes)
	for _, c := range e.Causes {
		for _, l := range strings.Split(c.Message, "\n") {
			p.Printf("  %s\n", l)
		}
		p.Printf("  %s\n", e.hit(c))
		if len(c.Hint) > 0 {
			p.Printf("  Hint: %s\n", words(c.Hint[0]))
			for _, l := range c.Hint[1:] {
				p.Printf("  %s\n", words(l))
			}
		}
	}
	if e.Summary != "" {
		p.Printf("%s\n", e.Summary)
	}
}
