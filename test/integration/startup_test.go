package integration

import (
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// maxInitBytes bounds what the package initialisers of `ocisrc --help`
// allocate, which, unlike their clock, does not vary from run to run.
const maxInitBytes = 5_500_000

// TestStartupBudget runs `ocisrc --help` with GODEBUG=inittrace=1 and
// bounds the bytes its package initialisers allocate, naming the largest
// when it fails: start-up pays for every package linked in, used or not.
func TestStartupBudget(t *testing.T) {
	cmd := exec.Command(binary, "--help")
	cmd.Env = []string{"GODEBUG=inittrace=1", "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ocisrc --help: %v\n%s", err, out)
	}
	type pkg struct {
		name  string
		bytes int
	}
	var pkgs []pkg
	total := 0
	for _, line := range strings.Split(string(out), "\n") {
		// init PACKAGE @T ms, C ms clock, B bytes, A allocs
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "init" || f[8] != "bytes," {
			continue
		}
		n, err := strconv.Atoi(f[7])
		if err != nil {
			t.Fatalf("cannot read %q", line)
		}
		pkgs = append(pkgs, pkg{f[1], n})
		total += n
	}
	if len(pkgs) < 100 {
		t.Fatalf("only %d initialisers traced: is GODEBUG=inittrace=1 still Go's?\n%s", len(pkgs), out)
	}
	if total > maxInitBytes {
		sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].bytes > pkgs[j].bytes })
		var top []string
		for _, p := range pkgs[:5] {
			top = append(top, fmt.Sprintf("%s %d", p.name, p.bytes))
		}
		t.Errorf("the initialisers of %d packages allocate %d bytes, more than %d; the largest: %s", len(pkgs), total, maxInitBytes, strings.Join(top, ", "))
	}
}
