// Command testsummary reads `go test -json` on stdin and prints what a person
// wants from a test run: the output of every failed test, one line per
// package, and the number of tests that passed, failed and skipped at each
// level (unit: pkg/ and cmd/, integration: test/integration, e2e: test/e2e).
// It exits 1 if anything failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

type counts struct{ pass, fail, skip int }

func level(pkg string) string {
	switch {
	case strings.Contains(pkg, "/test/e2e"):
		return "e2e"
	case strings.Contains(pkg, "/test/integration"):
		return "integration"
	default:
		return "unit"
	}
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	output := map[string][]string{} // package/test -> lines
	byLevel := map[string]*counts{"unit": {}, "integration": {}, "e2e": {}}
	var pkgLines []string
	failed := false
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(out, sc.Text()) // build errors arrive as plain text
			failed = true
			continue
		}
		key := e.Package + "/" + e.Test
		switch e.Action {
		case "output":
			output[key] = append(output[key], e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" {
				status := map[string]string{"pass": "ok  ", "fail": "FAIL", "skip": "--  "}[e.Action]
				line := fmt.Sprintf("%s %s %.1fs", status, e.Package, e.Elapsed)
				if e.Action == "skip" {
					line = status + " " + e.Package + " (no tests)"
				}
				pkgLines = append(pkgLines, line)
				if e.Action == "fail" {
					failed = true
					if len(output[key]) > 0 {
						fmt.Fprint(out, strings.Join(output[key], ""))
					}
				}
				continue
			}
			if strings.Contains(e.Test, "/") { // count top-level tests only
				continue
			}
			c := byLevel[level(e.Package)]
			switch e.Action {
			case "pass":
				c.pass++
			case "skip":
				c.skip++
			case "fail":
				c.fail++
				failed = true
				fmt.Fprintf(out, "=== FAIL %s %s\n%s", e.Package, e.Test, strings.Join(collect(output, e.Package+"/"+e.Test), ""))
			}
		}
	}
	sort.Strings(pkgLines)
	fmt.Fprintln(out, strings.Join(pkgLines, "\n"))
	fmt.Fprintln(out, "tests (top-level):")
	for _, l := range []string{"unit", "integration", "e2e"} {
		c := byLevel[l]
		fmt.Fprintf(out, "  %-12s %4d passed %4d failed %4d skipped\n", l, c.pass, c.fail, c.skip)
	}
	if failed {
		fmt.Fprintln(out, "FAIL")
		return 1
	}
	fmt.Fprintln(out, "PASS")
	return 0
}

// collect returns the output of a test and of its subtests.
func collect(output map[string][]string, prefix string) []string {
	var keys []string
	for k := range output {
		if k == prefix || strings.HasPrefix(k, prefix+"/") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var lines []string
	for _, k := range keys {
		lines = append(lines, output[k]...)
	}
	return lines
}
