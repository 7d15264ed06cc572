package fetch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/credentials"
	"github.com/ocisrc/ocisrc/pkg/policy"
)

// Decision is what the rules decide for one Component before any Secret is
// read or any registry is asked: its source, decoded and validated once;
// the registry policy's settings for its chart (blocked, origin, mirrors,
// verify, TLS, each from the longest prefix that sets it); and every
// refusal (the policy's, the secretRef namespace rule's). It is computed
// once, by Decide, and every path reads it: the read-ahead of Secrets, the
// dry run, the pull, validate and policy explain. It keeps only what a pull
// needs: the Component's raw spec.source is dropped once decoded.
type Decision struct {
	// Component is the Component, its Source dropped.
	Component component.Component
	// Source and Ref are spec.source decoded; nil and zero when Invalid.
	Source *component.OCISource
	Ref    chartref.Reference
	// Settings is the registry policy for Ref.
	Settings policy.Settings
	// Invalid is why the source cannot be used at all (exit 2).
	Invalid error
	// Refusals are what the rules refuse, each naming its field.
	Refusals []Refusal

	// invalidSource is Invalid's problems, field by field.
	invalidSource *component.SourceError
}

// Refusal is one rule refusing a Component, before any request.
type Refusal struct {
	// Field is the Component's field at fault (spec.source.chart).
	Field string
	Err   error
}

// Err is the first reason the Component cannot be pulled: its invalid
// source, else its first refusal; nil when it may be.
func (d *Decision) Err() error {
	if d.Invalid != nil {
		return d.Invalid
	}
	if len(d.Refusals) > 0 {
		return d.Refusals[0].Err
	}
	return nil
}

// ReadsOriginSecret reports whether a pull may read the Secret the
// Component names: it has one, nothing refuses it, and its origin may be
// contacted. A Component under a blocked prefix or under origin: never
// has no use for its own credentials, and they are never read.
func (d *Decision) ReadsOriginSecret() bool {
	return d.Err() == nil && d.Source != nil && d.Source.Authentication != nil && d.Settings.Origin != policy.OriginNever
}

// Key is the Component's namespace/name.
func (d *Decision) Key() string { return d.Component.Key() }

// Decide computes the Decision for c. It reads nothing and contacts nothing.
func (f *Fetcher) Decide(c component.Component) *Decision {
	d := &Decision{Component: c}
	d.Component.Source = nil
	src, ref, err := f.Validator.DecodeSource(c.Source, c.SourceFound)
	if err != nil {
		var se *component.SourceError
		if errors.As(err, &se) {
			field := "spec.source"
			if len(se.Fields) > 0 {
				field = se.Fields[0]
			}
			what := fmt.Sprintf("%s %q", c.Resource, c.Key())
			if at := c.At(field); at != "" {
				what += " (" + at + ")"
			}
			d.Invalid = clierror.WithReason(clierror.InvalidWithHint(fmt.Errorf("invalid %s: %w", what, err), fixHint(c, field)), ReasonInvalidSource)
			d.invalidSource = se
		} else {
			d.Invalid = err
		}
		return d
	}
	d.Source, d.Ref = src, ref
	d.Settings = f.Policy.For(ref.Place())
	if src.Authentication != nil {
		if err := credentials.CheckNamespace(c.Namespace, f.SystemNamespace, src.Authentication.SecretRef.Namespace); err != nil {
			d.Refusals = append(d.Refusals, Refusal{Field: "spec.source.authentication.secretRef.namespace", Err: err})
		}
	}
	if err := PolicyRefusal(ref, d.Settings); err != nil {
		d.Refusals = append(d.Refusals, Refusal{Field: "spec.source.chart", Err: err})
	}
	return d
}

// fixHint says where to fix a Component: its file (and the line of
// field), or the cluster object.
func fixHint(c component.Component, field string) string {
	if c.File != "" {
		if n := c.LineOf(field); n > 0 {
			return fmt.Sprintf("fix the Component in %s (line %d)", strings.TrimSpace(c.File), n)
		}
		return fmt.Sprintf("fix the Component in %s", strings.TrimSpace(c.File))
	}
	return fmt.Sprintf("fix the Component (kubectl edit %s %s -n %s)", c.Resource, c.Name, c.Namespace)
}

// PolicyRefusal is the registry policy's refusal of ref, before any
// request: a blocked prefix, or a tag that can never be resolved (origin:
// never, and no mirror that resolves tags). nil when the policy allows it.
func PolicyRefusal(ref chartref.Reference, st policy.Settings) error {
	if st.Blocked {
		return clierror.WithReason(clierror.InvalidWithHint(
			fmt.Errorf("refused by the registry policy: %s is under a blocked prefix (%s)", ref.String(), strings.Join(st.BlockedBy, ", ")),
			"ask the platform team which registry serves this chart; see: ocisrc policy explain "+ref.String()), ReasonBlocked)
	}
	if ref.Digest != "" || st.Origin != policy.OriginNever {
		return nil
	}
	for _, m := range st.Mirrors {
		if m.ResolveTags {
			return nil
		}
	}
	return clierror.WithReason(clierror.InvalidWithHint(
		fmt.Errorf("refused by the registry policy: %s needs a digest pin: its registry is never contacted (origin: never, %s) and no mirror resolves tags", ref.String(), st.OriginFrom),
		"pin the digest in spec.source.chart, as oci://HOST/PATH/CHART:VERSION@sha256:DIGEST"), ReasonDigestPinRequired)
}

// Reasons of the failures this package reports (the "reason" of -o json).
const (
	ReasonInvalidSource      = "InvalidSource"
	ReasonBlocked            = "Blocked"
	ReasonDigestPinRequired  = "DigestPinRequired"
	ReasonUnsigned           = "Unsigned"
	ReasonNoProvenance       = "ProvenanceNotMet"
	ReasonNotInCache         = "NotInCache"
	ReasonCacheEntryBad      = "CacheEntryBad"
	ReasonAccessNotConfirmed = "AccessNotConfirmed"
)
