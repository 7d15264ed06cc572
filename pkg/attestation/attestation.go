// Package attestation reads in-toto statements of SLSA provenance and
// checks them against a requirement: the subject is the chart's manifest,
// the predicate type is the required one, the builder and the source match.
// Its input is the payload of a signed envelope, verified by the caller
// before anything here is trusted; it is still read as hostile (sizes
// bounded, every field optional, nothing inferred).
package attestation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Statement and predicate types.
const (
	// StatementV1 is the in-toto statement type; StatementV01 is what
	// cosign's legacy .att attestations still write.
	StatementV1  = "https://in-toto.io/Statement/v1"
	StatementV01 = "https://in-toto.io/Statement/v0.1"
	// SLSAProvenanceV1 is the default predicate type of a requirement.
	SLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
	// SLSAProvenanceV02 is accepted when a requirement names it.
	SLSAProvenanceV02 = "https://slsa.dev/provenance/v0.2"
)

// MaxStatement bounds a statement's bytes.
const MaxStatement = 4 << 20

// Errors a check returns, wrapped with what was found.
var (
	ErrMalformed     = errors.New("not an in-toto statement")
	ErrOtherSubject  = errors.New("an attestation of another digest")
	ErrPredicateType = errors.New("another predicate type")
	ErrBuilder       = errors.New("built by another builder")
	ErrSource        = errors.New("built from another source")
)

// Statement is an in-toto statement as read: its subjects' SHA-256
// digests ("sha256:<hex>"), its predicate type and its predicate, unread.
type Statement struct {
	Type          string
	Subjects      []string
	PredicateType string
	Predicate     json.RawMessage
}

// Parse reads an in-toto statement (v1 or v0.1).
func Parse(payload []byte) (Statement, error) {
	if len(payload) > MaxStatement {
		return Statement{}, fmt.Errorf("%w: %d bytes (at most %d)", ErrMalformed, len(payload), MaxStatement)
	}
	var raw struct {
		Type    string `json:"_type"`
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return Statement{}, fmt.Errorf("%w: not JSON", ErrMalformed)
	}
	if raw.Type != StatementV1 && raw.Type != StatementV01 {
		return Statement{}, fmt.Errorf("%w: its _type is %s", ErrMalformed, strconv.QuoteToASCII(raw.Type))
	}
	st := Statement{Type: raw.Type, PredicateType: raw.PredicateType, Predicate: raw.Predicate}
	for _, s := range raw.Subject {
		if d := s.Digest["sha256"]; d != "" {
			st.Subjects = append(st.Subjects, "sha256:"+strings.ToLower(d))
		}
	}
	return st, nil
}

// Provenance is what a SLSA predicate says of a build: who built it, and
// from which repository and ref.
type Provenance struct {
	// Builder is the builder's id.
	Builder string
	// Repository and Ref are the source: for SLSA v1, the workflow's
	// repository and ref; for v0.2, the config source's URI, split at its
	// last "@" ("git+" removed).
	Repository string
	Ref        string
	// Dependencies are SLSA v1's resolved dependencies' URIs.
	Dependencies []string
}

// Source is the source as output shows it: repository@ref.
func (p Provenance) Source() string {
	if p.Ref == "" {
		return p.Repository
	}
	return p.Repository + "@" + p.Ref
}

// ReadProvenance reads the builder and the source of a SLSA v1 or v0.2
// predicate.
func ReadProvenance(st Statement) (Provenance, error) {
	switch st.PredicateType {
	case SLSAProvenanceV1:
		var p struct {
			BuildDefinition struct {
				ExternalParameters struct {
					Workflow struct {
						Repository string `json:"repository"`
						Ref        string `json:"ref"`
					} `json:"workflow"`
				} `json:"externalParameters"`
				ResolvedDependencies []struct {
					URI string `json:"uri"`
				} `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
			RunDetails struct {
				Builder struct {
					ID string `json:"id"`
				} `json:"builder"`
			} `json:"runDetails"`
		}
		if err := json.Unmarshal(orNull(st.Predicate), &p); err != nil {
			return Provenance{}, fmt.Errorf("%w: its SLSA v1 predicate cannot be read", ErrMalformed)
		}
		out := Provenance{
			Builder:    p.RunDetails.Builder.ID,
			Repository: p.BuildDefinition.ExternalParameters.Workflow.Repository,
			Ref:        p.BuildDefinition.ExternalParameters.Workflow.Ref,
		}
		for _, d := range p.BuildDefinition.ResolvedDependencies {
			if d.URI != "" {
				out.Dependencies = append(out.Dependencies, d.URI)
			}
		}
		return out, nil
	case SLSAProvenanceV02:
		var p struct {
			Builder struct {
				ID string `json:"id"`
			} `json:"builder"`
			Invocation struct {
				ConfigSource struct {
					URI        string `json:"uri"`
					EntryPoint string `json:"entryPoint"`
				} `json:"configSource"`
			} `json:"invocation"`
		}
		if err := json.Unmarshal(orNull(st.Predicate), &p); err != nil {
			return Provenance{}, fmt.Errorf("%w: its SLSA v0.2 predicate cannot be read", ErrMalformed)
		}
		repo, ref := splitGitURI(p.Invocation.ConfigSource.URI)
		return Provenance{Builder: p.Builder.ID, Repository: repo, Ref: ref}, nil
	}
	return Provenance{}, fmt.Errorf("%w: %s is not SLSA provenance", ErrPredicateType, strconv.QuoteToASCII(st.PredicateType))
}

func orNull(b json.RawMessage) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return []byte("null")
	}
	return b
}

// splitGitURI splits git+https://host/repo@ref into the repository URL and
// the ref (at the last "@", when what follows has no "://").
func splitGitURI(uri string) (string, string) {
	uri = strings.TrimPrefix(uri, "git+")
	if i := strings.LastIndex(uri, "@"); i > strings.Index(uri, "://")+2 && strings.Contains(uri, "://") {
		return uri[:i], uri[i+1:]
	}
	return uri, ""
}

// Match is a value a field must have: exact, or a regular expression
// matched whole.
type Match struct {
	Exact  string
	RegExp string
}

// IsZero reports whether m requires nothing.
func (m Match) IsZero() bool { return m.Exact == "" && m.RegExp == "" }

// String is the match as messages show it.
func (m Match) String() string {
	if m.RegExp != "" {
		return "~" + m.RegExp
	}
	return m.Exact
}

// Check validates m: not both forms; a regular expression that compiles
// by itself and anchored (as keyless identities are checked).
func (m Match) Check() error {
	if m.Exact != "" && m.RegExp != "" {
		return errors.New("gives both the exact value and the regular expression")
	}
	if m.RegExp == "" {
		return nil
	}
	if _, err := regexp.Compile(m.RegExp); err != nil {
		return fmt.Errorf("has a regular expression that is not valid by itself: %s", strconv.QuoteToASCII(m.RegExp))
	}
	if _, err := regexp.Compile(anchor(m.RegExp)); err != nil {
		return fmt.Errorf("has a regular expression that does not compile: %s", strconv.QuoteToASCII(m.RegExp))
	}
	return nil
}

func anchor(re string) string { return "^(?:" + re + ")$" }

// Matches reports whether v satisfies m (a zero m accepts anything).
func (m Match) Matches(v string) bool {
	switch {
	case m.Exact != "":
		return v == m.Exact
	case m.RegExp != "":
		re, err := regexp.Compile(anchor(m.RegExp))
		return err == nil && re.MatchString(v)
	}
	return true
}

// Requirement is what a provenance attestation must say.
type Requirement struct {
	// PredicateType is SLSAProvenanceV1 (the default, when empty) or
	// SLSAProvenanceV02.
	PredicateType string
	Builder       Match
	Repository    Match
	Ref           Match
}

// Type is the predicate type required.
func (r Requirement) Type() string {
	if r.PredicateType == "" {
		return SLSAProvenanceV1
	}
	return r.PredicateType
}

// Check validates r.
func (r Requirement) Check() error {
	if t := r.Type(); t != SLSAProvenanceV1 && t != SLSAProvenanceV02 {
		return fmt.Errorf("predicateType %s: expected %s or %s", strconv.QuoteToASCII(t), SLSAProvenanceV1, SLSAProvenanceV02)
	}
	for _, f := range []struct {
		name string
		m    Match
	}{{"builderID", r.Builder}, {"sourceRepository", r.Repository}, {"sourceRef", r.Ref}} {
		if err := f.m.Check(); err != nil {
			return fmt.Errorf("%s %w", f.name, err)
		}
	}
	if r.Repository.IsZero() {
		return errors.New("needs sourceRepository or sourceRepositoryRegExp: provenance from any repository proves nothing")
	}
	return nil
}

// String is the requirement as messages show it.
func (r Requirement) String() string {
	parts := []string{r.Type()}
	if !r.Builder.IsZero() {
		parts = append(parts, "builder "+r.Builder.String())
	}
	src := r.Repository.String()
	if !r.Ref.IsZero() {
		src += "@" + r.Ref.String()
	}
	return strings.Join(append(parts, "source "+src), ", ")
}

// Accept checks a statement against r for the chart whose manifest digest
// is digest, and returns what the predicate says. Each refusal names what
// was found.
func (r Requirement) Accept(st Statement, digest string) (Provenance, error) {
	if !contains(st.Subjects, digest) {
		return Provenance{}, fmt.Errorf("%w (its subject is %s)", ErrOtherSubject, strconv.QuoteToASCII(strings.Join(st.Subjects, ", ")))
	}
	if st.PredicateType != r.Type() {
		return Provenance{}, fmt.Errorf("%w: %s, expected %s", ErrPredicateType, strconv.QuoteToASCII(st.PredicateType), r.Type())
	}
	p, err := ReadProvenance(st)
	if err != nil {
		return Provenance{}, err
	}
	if !r.Builder.Matches(p.Builder) {
		return p, fmt.Errorf("%w: %s, expected %s", ErrBuilder, strconv.QuoteToASCII(p.Builder), r.Builder.String())
	}
	if p.Repository == "" {
		return p, fmt.Errorf("%w: the predicate names no source repository", ErrSource)
	}
	// A source the resolved dependencies contradict is not a source.
	for _, d := range p.Dependencies {
		if !strings.HasPrefix(d, "git+") {
			continue
		}
		if repo, _ := splitGitURI(d); repo != p.Repository {
			return p, fmt.Errorf("%w: the workflow names %s but a resolved dependency is %s", ErrSource, strconv.QuoteToASCII(p.Repository), strconv.QuoteToASCII(d))
		}
	}
	if !r.Repository.Matches(p.Repository) || !r.Ref.Matches(p.Ref) {
		want := r.Repository.String()
		if !r.Ref.IsZero() {
			want += "@" + r.Ref.String()
		}
		return p, fmt.Errorf("%w: %s, expected %s", ErrSource, strconv.QuoteToASCII(p.Source()), want)
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
