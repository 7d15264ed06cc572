package fetch

import (
	"strings"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
)

// Problem is one thing wrong with a Component, found without a cluster or
// a registry. Its JSON form is the output of `validate -o json|yaml`.
type Problem struct {
	File      string `json:"file"`
	Line      int    `json:"line,omitempty"`
	Component string `json:"component"`
	Field     string `json:"field"`
	Message   string `json:"message"`
}

// Check validates a Component offline, as fetch would before any request:
// its Decision (the source schema and the oci:// reference, the secretRef
// namespace rule, and the registry policy: blocked prefixes, a prefix that
// never contacts its origin needs a digest pin unless a mirror resolves
// tags). It reports every problem, reads no Secret and contacts nothing.
func (f *Fetcher) Check(c component.Component) []Problem {
	d := f.Decide(c)
	at := Problem{File: c.File, Component: c.Key()}
	problem := func(field, msg string) Problem {
		p := at
		p.Field = field
		p.Line = c.LineOf(field)
		p.Message = strings.TrimPrefix(strings.TrimPrefix(msg, field), " ")
		return p
	}
	if d.Invalid != nil {
		se := d.invalidSource
		if se == nil {
			return []Problem{problem("spec.source", d.Invalid.Error())}
		}
		// Every problem of the source, each with its own field and line.
		var out []Problem
		for i, msg := range se.Problems {
			field := "spec.source"
			if i < len(se.Fields) {
				field = se.Fields[i]
			}
			out = append(out, problem(field, msg))
		}
		return out
	}
	var out []Problem
	for _, r := range d.Refusals {
		msg := r.Err.Error()
		if hint := clierror.Hint(r.Err); hint != "" && r.Field != "spec.source.chart" {
			msg += " (" + hint + ")"
		}
		out = append(out, problem(r.Field, msg))
	}
	return out
}
