package cmd

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/ocisrc/ocisrc/pkg/units"
)

// progress shows Components done/total and bytes pulled on stderr, only when
// stderr is a terminal: piped output gets nothing extra.
type progress struct {
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	bytes int64
}

// newProgress shows a bar of total Components (0: the total grows as
// Components are listed, see grow).
func newProgress(w io.Writer, total int, wanted bool) *progress {
	f, ok := w.(*os.File)
	if !wanted || total == 1 || !ok || !term.IsTerminal(int(f.Fd())) { //nolint:gosec // a file descriptor fits in an int
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("Pulling Components"),
		progressbar.OptionShowCount(),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)}
}

func (p *progress) done(size int64) {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes += size
	_ = p.bar.Add(1)
	p.bar.Describe(fmt.Sprintf("Pulling Components (%s)", units.Bytes(p.bytes)))
}

// grow adds n Components to the total, as a listing finds them.
func (p *progress) grow(n int) {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.ChangeMax(p.bar.GetMax() + n)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
