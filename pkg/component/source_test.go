package component

import (
	"errors"
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
