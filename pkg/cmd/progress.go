package cmd

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows Components done/total and bytes pulled on stderr, only when
// stderr is a terminal: piped output gets nothing extra.
type progress struct {
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	bytes int64
}

func newProgress(w io.Writer, total int, wanted bool) *progress {
	f, ok := w.(*os.File)
	if !wanted || total < 2 || !ok || !term.IsTerminal(int(f.Fd())) { //nolint:gosec // a file descriptor fits in an int
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
	p.bar.Describe(fmt.Sprintf("Pulling Components (%s)", humanBytes(p.bytes)))
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
