package fetch

import (
	"errors"
	"strings"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/credentials"
)

// Problem is one thing wrong with a Component, found without a cluster or
// a registry. Its JSON form is the output of `validate -o json|yaml`.
type Problem struct {
	File      string `json:"file"`
	Component string `json:"component"`
	Field     string `json:"field"`
	Message   string `json:"message"`
}

// Check validates a Component offline, as fetch would before any request:
// the source schema and the oci:// reference, the secretRef namespace rule,
// and the registry policy (blocked prefixes; a prefix that never contacts
// its origin needs a digest pin unless a mirror resolves tags). It reads no
// Secret and contacts nothing.
func (f *Fetcher) Check(c component.Component) []Problem {
	at := Problem{File: c.File, Component: c.Key()}
	problem := func(field, msg string) Problem {
		p := at
		p.Field = field
		p.Message = strings.TrimPrefix(strings.TrimPrefix(msg, field), " ")
		return p
	}
	src, ref, err := f.Validator.DecodeSource(c.Source, c.SourceFound)
	if err != nil {
		var se *component.SourceError
		if !errors.As(err, &se) {
			return []Problem{problem("spec.source", err.Error())}
		}
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
	if src.Authentication != nil {
		if err := credentials.CheckNamespace(c.Namespace, f.SystemNamespace, src.Authentication.SecretRef.Namespace); err != nil {
			field := "spec.source.authentication.secretRef.namespace"
			out = append(out, problem(field, err.Error()+" ("+clierror.Hint(err)+")"))
		}
	}
	if err := refusedByPolicy(ref, f.Policy.For(ref.Place())); err != nil {
		out = append(out, problem("spec.source.chart", err.Error()))
	}
	return out
}
