package termsafe

import (
	"fmt"
	"io"
)

// Printer writes text for a terminal: the one way ocisrc's commands write
// to stdout and stderr (a lint rule forbids fmt.Fprint* in pkg/cmd). Its
// format strings are ocisrc's own text and keep their newlines and tabs;
// every argument is taken for outside text — a name, a reference, a path,
// a registry's message — and escaped (see Escape) after it is formatted, so
// no argument can end a line, start one, move the cursor or forge a column
// of a table: the unescaped path cannot be written by accident.
type Printer struct {
	w   io.Writer
	err error
}

// NewPrinter returns a Printer writing to w (a tabwriter for tables).
func NewPrinter(w io.Writer) *Printer { return &Printer{w: w} }

// Printf writes format with every argument escaped. The first write error
// is kept (Err) and later writes are skipped.
func (p *Printer) Printf(format string, args ...any) {
	if p.err != nil {
		return
	}
	safe := make([]any, len(args))
	for i, a := range args {
		safe[i] = outside{a}
	}
	_, p.err = fmt.Fprintf(p.w, format, safe...)
}

// Err is the first write error.
func (p *Printer) Err() error { return p.err }

// outside is an argument of a Printer: formatted with its verb, then escaped.
type outside struct{ v any }

func (o outside) Format(f fmt.State, verb rune) {
	_, _ = io.WriteString(f, Escape(fmt.Sprintf(fmt.FormatString(f, verb), o.v)))
}
