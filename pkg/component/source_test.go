package component

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const goodChart = "oci://registry.example.com/charts/app:1.2.3"

func TestDecodeSource(t *testing.T) {
	auth := func(method, name, ns string) map[string]any {
		ref := map[string]any{}
		if name != "" {
			ref["name"] = name
		}
		if ns != "" {
			ref["namespace"] = ns
		}
		return map[string]any{"method": method, "secretRef": ref}
	}
	for name, tc := range map[string]struct {
		raw     any
		found   bool
		want    []string // problems, in order; nil means valid
		wantRef string
	}{
		"valid anonymous": {
			raw: map[string]any{"type": "oci", "chart": goodChart}, found: true, wantRef: "charts/app",
		},
		"valid with secret": {
			raw: map[string]any{"type": "oci", "chart": goodChart, "authentication": auth("registry", "creds", "team-a")}, found: true, wantRef: "charts/app",
		},
		"extra fields are ignored": {
			raw: map[string]any{"type": "oci", "chart": goodChart, "interval": "5m"}, found: true, wantRef: "charts/app",
		},
		"missing": {
			raw: nil, found: false, want: []string{"spec.source is missing: expected an oci source with type and chart"},
		},
		"not an object": {
			raw: "oci://x/y:1", found: true, want: []string{"spec.source must be an object, got a string"},
		},
		"other type": {
			raw: map[string]any{"type": "helm", "chart": "app"}, found: true, want: []string{`spec.source.type "helm" is not supported by ocisrc: only oci`},
		},
		"empty type": {
			raw: map[string]any{"type": "", "chart": goodChart}, found: true, want: []string{"spec.source.type must be oci, got an empty string"},
		},
		"missing type": {
			raw: map[string]any{"chart": goodChart}, found: true, want: []string{"spec.source.type must be oci, got nothing"},
		},
		"missing chart": {
			raw: map[string]any{"type": "oci"}, found: true, want: []string{"spec.source.chart is required: expected a non-empty string"},
		},
		"bad chart": {
			raw: map[string]any{"type": "oci", "chart": "https://x/y:1"}, found: true, want: []string{"spec.source.chart must use the oci:// scheme, not https://"},
		},
		"chart of the wrong JSON type": {
			raw: map[string]any{"type": "oci", "chart": []any{"a"}}, found: true, want: []string{"spec.source.chart must be a string, got a list"},
		},
		"authentication of the wrong JSON type": {
			raw: map[string]any{"type": "oci", "chart": goodChart, "authentication": "creds"}, found: true, want: []string{"spec.source.authentication must be an object, got a string"},
		},
		"secretRef name of the wrong JSON type": {
			raw: map[string]any{"type": "oci", "chart": goodChart, "authentication": map[string]any{"method": "registry", "secretRef": map[string]any{"name": true, "namespace": "x"}}}, found: true,
			want: []string{"spec.source.authentication.secretRef.name must be a string, got a bool"},
		},
		"wrong method": {
			raw: map[string]any{"type": "oci", "chart": goodChart, "authentication": auth("oidc", "creds", "team-a")}, found: true,
			want: []string{`spec.source.authentication.method must be registry, got "oidc"`},
		},
		"missing method": {
			raw: map[string]any{"type": "oci", "chart": goodChart, "authentication": auth("", "creds", "team-a")}, found: true,
			want: []string{"spec.source.authentication.method must be registry, got nothing"},
		},
		"missing secretRef": {
			raw: map[string]any{"type": "oci", "chart": goodChart, "authentication": map[string]any{"method": "registry"}}, found: true,
			want: []string{"spec.source.authentication.secretRef is required"},
		},
		"every problem at once": {
			raw: map[string]any{"type": "oci", "chart": "x", "authentication": auth("", "", "ns")}, found: true,
			want: []string{
				"spec.source.chart must start with oci://",
				"spec.source.authentication.method must be registry",
				"spec.source.authentication.secretRef.name is required",
			},
		},
		"empty secretRef": {
			raw: map[string]any{"type": "oci", "chart": goodChart, "authentication": auth("registry", "", "")}, found: true,
			want: []string{"spec.source.authentication.secretRef is required: expected name and namespace"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			src, ref, err := NewValidator().DecodeSource(tc.raw, tc.found)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if src.Chart != goodChart || ref.Repository != tc.wantRef {
					t.Fatalf("got %+v %+v", src, ref)
				}
				return
			}
			var se *SourceError
			if !errors.As(err, &se) {
				t.Fatalf("want a *SourceError, got %T %v", err, err)
			}
			if len(se.Problems) != len(tc.want) {
				t.Fatalf("problems = %q, want %d of them: %q", se.Problems, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(se.Problems[i], w) {
					t.Errorf("problem %d = %q, want prefix %q", i, se.Problems[i], w)
				}
			}
			for _, bad := range []string{"OCISource", "SecretRef", "Error:Field", "json:", "validate"} {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("message shows %q: %s", bad, err)
				}
			}
		})
	}
}

func FuzzDecodeSource(f *testing.F) {
	f.Add("oci", goodChart, "registry", "creds", "team-a")
	f.Add("git", "", "", "", "")
	f.Add("oci", "oci://h:1/a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "", "", "")
	v := NewValidator()
	f.Fuzz(func(t *testing.T, typ, chart, method, name, ns string) {
		raw := map[string]any{"type": typ, "chart": chart}
		if method != "" || name != "" || ns != "" {
			raw["authentication"] = map[string]any{"method": method, "secretRef": map[string]any{"name": name, "namespace": ns}}
		}
		src, ref, err := v.DecodeSource(raw, true)
		if err != nil {
			var se *SourceError
			if !errors.As(err, &se) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if src.Type != "oci" || ref.Chart == "" {
			t.Fatalf("accepted %+v as %+v", raw, ref)
		}
		if src.Authentication != nil && (src.Authentication.SecretRef.Name == "" || src.Authentication.SecretRef.Namespace == "") {
			t.Fatalf("accepted an incomplete secretRef: %+v", src.Authentication)
		}
	})
}

// TestRawAndMapAgree: a source as listed (raw JSON) and as read from a file
// (a map) decode to the same value, or fail with the same message.
func TestRawAndMapAgree(t *testing.T) {
	v := NewValidator()
	for _, doc := range []string{
		`{"type":"oci","chart":"` + goodChart + `"}`,
		`{"type":"oci","chart":"` + goodChart + `","extra":{"a":[1,2,3]},"authentication":{"method":"registry","secretRef":{"name":"creds","namespace":"team-a"}}}`,
		`{"type":"git"}`,
		`{"type":""}`,
		`{"type":"oci","chart":7}`,
		`{"type":"oci","chart":"https://x"}`,
		`{"type":"oci","chart":"` + goodChart + `","authentication":{"method":"basic","secretRef":{"name":"Bad_Name"}}}`,
		`"a string"`,
		`[1]`,
	} {
		var m any
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		s1, r1, e1 := v.DecodeSource(json.RawMessage(doc), true)
		s2, r2, e2 := v.DecodeSource(m, true)
		if fmt.Sprint(e1) != fmt.Sprint(e2) || r1 != r2 || !reflect.DeepEqual(s1, s2) {
			t.Errorf("%s:\nraw: %+v %v %v\nmap: %+v %v %v", doc, s1, r1, e1, s2, r2, e2)
		}
	}
}

// FuzzDecodeList: any response body is read without a panic, and every
// Component it yields has a name and namespace Kubernetes accepts.
func FuzzDecodeList(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"v1","items":[{"metadata":{"name":"a","namespace":"b"},"spec":{"source":{"type":"oci"}}}],"kind":"List","metadata":{"continue":"x"}}`))
	f.Add([]byte(`{"items":[{"metadata":{"name":"A_B","namespace":"b"}}]}`))
	f.Add([]byte(`{"metadata":{"continue":7},"items":null}`))
	f.Add([]byte(`[]`))
	v := NewValidator()
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _, _ = decodeList(bytes.NewReader(body), "components", func(c Component) error {
			if !ValidName(c.Name) || !ValidNamespace(c.Namespace) {
				t.Fatalf("yielded %q/%q", c.Namespace, c.Name)
			}
			_, _, _ = v.DecodeSource(c.Source, c.SourceFound)
			return nil
		})
	})
}
