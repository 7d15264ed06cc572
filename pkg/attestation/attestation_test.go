package attestation

import (
	"encoding/json"
	"errors"
	"testing"
)

const digest = "sha256:3a9a6b8e2f0d7c1b5e4a3f2d1c0b9a8f7e6d5c4b3a291807f6e5d4c3b2a19080"

func statement(t testing.TB, typ, predicateType string, subject string, predicate any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"_type":         typ,
		"subject":       []any{map[string]any{"name": "r.io/charts/app", "digest": map[string]string{"sha256": subject[len("sha256:"):]}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func slsaV1(builder, repo, ref string, deps ...string) map[string]any {
	var rd []any
	for _, d := range deps {
		rd = append(rd, map[string]any{"uri": d})
	}
	return map[string]any{
		"buildDefinition": map[string]any{
			"buildType":            "https://actions.github.io/buildtypes/workflow/v1",
			"externalParameters":   map[string]any{"workflow": map[string]any{"repository": repo, "ref": ref, "path": ".github/workflows/release.yml"}},
			"resolvedDependencies": rd,
		},
		"runDetails": map[string]any{"builder": map[string]any{"id": builder}},
	}
}

func slsaV02(builder, uri string) map[string]any {
	return map[string]any{
		"builder":    map[string]any{"id": builder},
		"invocation": map[string]any{"configSource": map[string]any{"uri": uri, "entryPoint": ".github/workflows/release.yml"}},
	}
}

const (
	gh   = "https://github.com/actions/runner/github-hosted"
	repo = "https://github.com/example/charts"
)

func TestAccept(t *testing.T) {
	other := "sha256:" + "00" + digest[len("sha256:")+2:]
	req := Requirement{Builder: Match{Exact: gh}, Repository: Match{Exact: repo}, Ref: Match{Exact: "refs/heads/main"}}
	for name, tc := range map[string]struct {
		req     Requirement
		payload []byte
		want    error
		source  string
	}{
		"v1":             {req: req, payload: statement(t, StatementV1, SLSAProvenanceV1, digest, slsaV1(gh, repo, "refs/heads/main", "git+"+repo+"@refs/heads/main")), source: repo + "@refs/heads/main"},
		"v0.1 statement": {req: req, payload: statement(t, StatementV01, SLSAProvenanceV1, digest, slsaV1(gh, repo, "refs/heads/main")), source: repo + "@refs/heads/main"},
		"v0.2 named": {req: Requirement{PredicateType: SLSAProvenanceV02, Builder: Match{Exact: gh}, Repository: Match{Exact: repo}},
			payload: statement(t, StatementV01, SLSAProvenanceV02, digest, slsaV02(gh, "git+"+repo+"@refs/heads/main")), source: repo + "@refs/heads/main"},
		"v0.2 not named":  {req: req, payload: statement(t, StatementV1, SLSAProvenanceV02, digest, slsaV02(gh, "git+"+repo+"@refs/heads/main")), want: ErrPredicateType},
		"another digest":  {req: req, payload: statement(t, StatementV1, SLSAProvenanceV1, other, slsaV1(gh, repo, "refs/heads/main")), want: ErrOtherSubject},
		"another builder": {req: req, payload: statement(t, StatementV1, SLSAProvenanceV1, digest, slsaV1("https://ci.example.com", repo, "refs/heads/main")), want: ErrBuilder},
		"another repo":    {req: req, payload: statement(t, StatementV1, SLSAProvenanceV1, digest, slsaV1(gh, repo+"-fork", "refs/heads/main")), want: ErrSource},
		"another ref":     {req: req, payload: statement(t, StatementV1, SLSAProvenanceV1, digest, slsaV1(gh, repo, "refs/heads/dev")), want: ErrSource},
		"a prefix is not the repo": {req: Requirement{Repository: Match{RegExp: `https://github\.com/example/charts`}},
			payload: statement(t, StatementV1, SLSAProvenanceV1, digest, slsaV1(gh, repo+"-evil", "refs/heads/main")), want: ErrSource},
		"regexps": {req: Requirement{Builder: Match{RegExp: `https://github\.com/actions/runner/.*`}, Repository: Match{RegExp: `https://github\.com/example/.*`}, Ref: Match{RegExp: `refs/tags/v.*`}},
			payload: statement(t, StatementV1, SLSAProvenanceV1, digest, slsaV1(gh, repo, "refs/tags/v1.2.0")), source: repo + "@refs/tags/v1.2.0"},
		"a dependency contradicts the workflow": {req: req, payload: statement(t, StatementV1, SLSAProvenanceV1, digest, slsaV1(gh, repo, "refs/heads/main", "git+https://github.com/evil/charts@refs/heads/main")), want: ErrSource},
		"no source":                             {req: req, payload: statement(t, StatementV1, SLSAProvenanceV1, digest, map[string]any{"runDetails": map[string]any{"builder": map[string]any{"id": gh}}}), want: ErrSource},
		"not a statement":                       {req: req, payload: []byte(`{"_type":"https://example.com/x"}`), want: ErrMalformed},
		"cosign's signing":                      {req: req, payload: statement(t, StatementV1, "https://sigstore.dev/cosign/sign/v1", digest, map[string]any{}), want: ErrPredicateType},
		"predicate not an object":               {req: req, payload: statement(t, StatementV1, SLSAProvenanceV1, digest, "x"), want: ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			st, err := Parse(tc.payload)
			var p Provenance
			if err == nil {
				p, err = tc.req.Accept(st, digest)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want == nil && p.Source() != tc.source {
				t.Errorf("source %q, want %q", p.Source(), tc.source)
			}
		})
	}
}

func TestRequirementCheck(t *testing.T) {
	for name, tc := range map[string]struct {
		req Requirement
		ok  bool
	}{
		"repository":       {req: Requirement{Repository: Match{Exact: repo}}, ok: true},
		"no repository":    {req: Requirement{Builder: Match{Exact: gh}}},
		"both forms":       {req: Requirement{Repository: Match{Exact: repo, RegExp: ".*"}}},
		"escaping anchors": {req: Requirement{Repository: Match{RegExp: `x)|(.*`}}},
		"unknown type":     {req: Requirement{PredicateType: "https://slsa.dev/provenance/v9", Repository: Match{Exact: repo}}},
		"v0.2":             {req: Requirement{PredicateType: SLSAProvenanceV02, Repository: Match{Exact: repo}}, ok: true},
	} {
		if err := tc.req.Check(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(statement(f, StatementV1, SLSAProvenanceV1, digest, slsaV1(gh, repo, "refs/heads/main", "git+"+repo+"@refs/heads/main")))
	f.Add(statement(f, StatementV01, SLSAProvenanceV02, digest, slsaV02(gh, "git+"+repo+"@refs/heads/main")))
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","predicate":null}`))
	req := Requirement{Builder: Match{RegExp: ".*"}, Repository: Match{RegExp: ".*"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse(data)
		if err != nil {
			return
		}
		for _, s := range st.Subjects {
			p, err := req.Accept(st, s)
			if err == nil && p.Repository == "" {
				t.Fatalf("accepted a predicate without a source: %s", data)
			}
		}
	})
}
