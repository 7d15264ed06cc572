package component

import "testing"

func TestLine(t *testing.T) {
	stream := []byte(`# a comment
apiVersion: v1
kind: ConfigMap
metadata: {name: app}
---
apiVersion: deploy.example.io/v1alpha1
kind: Component
metadata:
  name: app
  namespace: team-a
spec:
  source:
    type: oci
    chart: oci://r.io/charts/app:1.0.0
---
{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "deploy.example.io/v1alpha1", "kind": "Component",
   "metadata": {"name": "listed"},
   "spec": {"source": {"type": "oci", "chart": "x"}}}
]}
`)
	for _, tc := range []struct {
		name, ns, field string
		want            int
	}{
		{"app", "team-a", "spec.source.chart", 14},
		{"app", "", "spec.source.authentication.secretRef.namespace", 12},
		{"app", "team-b", "spec.source.chart", 0},
		{"listed", "default", "spec.source.chart", 19},
		{"missing", "", "spec", 0},
	} {
		if got := Line(stream, tc.name, tc.ns, tc.field); got != tc.want {
			t.Errorf("%s %s: line %d, want %d", tc.name, tc.field, got, tc.want)
		}
	}
}

func FuzzLine(f *testing.F) {
	f.Add([]byte("kind: Component\nmetadata: {name: a}\nspec: {source: {chart: x}}\n"), "a", "spec.source.chart")
	f.Add([]byte(`{"kind":"List","items":[{"kind":"Component","metadata":{"name":"a"}}]}`), "a", "spec")
	f.Fuzz(func(t *testing.T, data []byte, name, field string) {
		if n := Line(data, name, "", field); n < 0 {
			t.Fatalf("line %d", n)
		}
	})
}
