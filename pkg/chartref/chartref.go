// Package chartref parses the oci:// chart references a Component's
// spec.source.chart holds: oci://HOST[:PORT]/PATH/CHART:VERSION[@sha256:HEX].
//
// The parts are checked with oras-go's reference rules (the rules of the OCI
// distribution spec), after Helm's one rewrite: a "+" in a chart version is
// written "_" in the registry tag. The registry host and the repository are
// parsed into their canonical form (pkg/place): a Reference names the
// registry it dials, and every comparison is made on that form.
package chartref

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"oras.land/oras-go/v2/registry"

	"github.com/ocisrc/ocisrc/pkg/place"
)

// Scheme is the only scheme a chart reference may have.
const Scheme = "oci://"

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// Reference is a parsed chart reference.
type Reference struct {
	// Registry is the registry host, canonical (pkg/place).
	Registry place.Host
	// Repository is the path inside the registry; its last element is the chart name.
	Repository string
	// Chart is the chart name (the last element of Repository).
	Chart string
	// Version is the chart version as the user wrote it (with "+"), empty if only a digest was given.
	Version string
	// Digest is "sha256:<hex>", empty if only a version was given.
	Digest string
}

// Tag is the registry tag for Version: Helm writes "+" as "_" in tags.
func (r Reference) Tag() string { return strings.ReplaceAll(r.Version, "+", "_") }

// Repo is host/repository, canonical, with no scheme, tag or digest.
func (r Reference) Repo() string { return r.Registry.String() + "/" + r.Repository }

// Place is the reference's repository as a registry place: what the
// registry policy, Secret bindings and the cache's records compare.
func (r Reference) Place() place.Place {
	p, err := place.New(r.Registry, r.Repository)
	if err != nil {
		return place.Place{}
	}
	return p
}

// At is the reference moved to another repository (a mirror's), with the
// same version and digest.
func (r Reference) At(p place.Place) Reference {
	r.Registry, r.Repository = p.Host(), p.Path()
	r.Chart = p.Path()[strings.LastIndex(p.Path(), "/")+1:]
	return r
}

// TagRef is host/repository:tag; empty when there is no version.
func (r Reference) TagRef() string {
	if r.Version == "" {
		return ""
	}
	return r.Repo() + ":" + r.Tag()
}

// PullRef is the reference the registry is asked for: by digest when there is
// one (the digest is what was pinned), else by tag. It has no scheme.
func (r Reference) PullRef() string {
	if r.Digest != "" {
		return r.Repo() + "@" + r.Digest
	}
	return r.TagRef()
}

// String is the canonical oci:// form, with the version as written and the digest if any.
func (r Reference) String() string {
	s := Scheme + r.Repo()
	if r.Version != "" {
		s += ":" + r.Version
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Error is a reference that cannot be used. Its message says what was expected
// and never repeats more of the input than the part at fault.
type Error struct {
	// Reason is the sentence fragment that says what is wrong and what was expected.
	Reason string
}

func (e *Error) Error() string { return e.Reason }

func invalid(format string, a ...any) error { return &Error{Reason: fmt.Sprintf(format, a...)} }

// Parse parses an oci:// chart reference. The reference must name a registry
// host, a repository whose last element is the chart, and a version tag
// and/or a sha256 digest.
func Parse(s string) (Reference, error) {
	var r Reference
	if s == "" {
		return r, invalid("must be an oci:// chart reference, for example oci://registry.example.com/charts/app:1.2.3")
	}
	if strings.TrimSpace(s) != s || strings.ContainsAny(s, " \t\r\n") {
		return r, invalid("must not contain whitespace")
	}
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		if i := strings.Index(s, "://"); i > 0 {
			return r, invalid("must use the oci:// scheme, not %s://", s[:i])
		}
		return r, invalid("must start with oci://, for example oci://%s", s)
	}
	if strings.ContainsAny(rest, "?#") {
		return r, invalid("must not contain a query or fragment")
	}
	if strings.Contains(rest, "\\") {
		return r, invalid("must not contain a backslash")
	}

	host, path, ok := strings.Cut(rest, "/")
	if !ok || host == "" {
		return r, invalid("must name a registry host and a chart repository, as oci://HOST[:PORT]/PATH/CHART:VERSION")
	}
	if strings.Contains(host, "@") {
		return r, invalid("must not carry credentials in the registry host; use spec.source.authentication")
	}
	h, err := place.ParseHost(host)
	if err != nil {
		var he *place.Error
		if errors.As(err, &he) {
			return r, invalid("has an invalid registry host %+q: %s", host, he.Reason)
		}
		return r, invalid("has an invalid registry host %+q: expected HOST or HOST:PORT", host)
	}
	r.Registry = h
	if at := strings.LastIndex(path, "@"); at >= 0 {
		r.Digest = path[at+1:]
		path = path[:at]
		if !digestPattern.MatchString(r.Digest) {
			return r, invalid("has an invalid digest %q: expected sha256: followed by 64 lowercase hex characters", r.Digest)
		}
	}
	if colon := strings.LastIndex(path, ":"); colon >= 0 {
		r.Version = path[colon+1:]
		path = path[:colon]
		if r.Version == "" {
			return r, invalid("has an empty version after ':'")
		}
		if err := (registry.Reference{Registry: h.String(), Repository: "x", Reference: r.Tag()}).ValidateReferenceAsTag(); err != nil {
			return r, invalid("has an invalid version %q: expected a chart version such as 1.2.3 (letters, digits, '.', '-', '+' and '_', at most 128)", r.Version)
		}
	}
	if path == "" {
		return r, invalid("must name a chart repository after the registry host, as oci://HOST[:PORT]/PATH/CHART:VERSION")
	}
	r.Repository = path
	if err := place.ValidatePath(path); err != nil {
		return r, invalid("has an invalid repository path %q: expected lowercase path elements of letters, digits, '.', '_' and '-', separated by '/'", path)
	}
	r.Chart = path[strings.LastIndex(path, "/")+1:]
	if r.Version == "" && r.Digest == "" {
		return r, invalid("must pin a version or a digest: add :VERSION (for example oci://%s:1.2.3) or @sha256:DIGEST", r.Repo())
	}
	return r, nil
}

// IsError reports whether err is a reference error from Parse.
func IsError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
