package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// badInput is one fixture of testdata/bad-input: a Component's spec.source,
// the Secrets around it, the command line, and what must come out.
type badInput struct {
	What string `json:"what"`
	// Args default to ["app"]; -n and --kubeconfig are added.
	Args *[]string `json:"args"`
	// Component is spec.source of Component "app" (null: no spec.source).
	Component any `json:"component"`
	Secrets   []struct {
		Name       string            `json:"name"`
		Namespace  string            `json:"namespace"`
		Type       string            `json:"type"`
		StringData map[string]string `json:"stringData"`
	} `json:"secrets"`
	Exit    int    `json:"exit"`
	Message string `json:"message"`
}

// TestBadInputCatalogue runs every fixture in testdata/bad-input against the
// real API server: each must exit with its code and a message that contains
// its text, and never write to the cache or reach the registry.
func TestBadInputCatalogue(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "bad-input")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) < 30 {
		t.Fatalf("the catalogue has %d cases, want at least 30", len(files))
	}
	ctx := context.Background()
	for i, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ns := fmt.Sprintf("bad-%02d", i+1)
			text := strings.NewReplacer("{{registry}}", stack.Secure.Host, "{{ns}}", ns).Replace(string(raw))
			var tc badInput
			if err := yaml.UnmarshalStrict([]byte(text), &tc); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			h := newHome(t)
			for _, s := range tc.Secrets {
				typ := s.Type
				if typ == "" {
					typ = "Opaque"
				}
				if err := stack.Cluster.PutTypedSecret(ctx, s.Namespace, s.Name, typ, s.StringData); err != nil {
					t.Fatal(err)
				}
			}
			if err := stack.Cluster.PutComponent(ctx, ns, "app", tc.Component); err != nil {
				t.Fatal(err)
			}
			args := []string{"app"}
			if tc.Args != nil {
				args = *tc.Args
			}
			stack.Secure.ResetLog()
			r := kubectl(t, append(args, "-n", ns, "--system-namespace", ns+"-sys")...)
			if r.code != tc.Exit {
				t.Errorf("%s: exit %d, want %d\n%s", tc.What, r.code, tc.Exit, r)
			}
			if !strings.Contains(r.stderr, tc.Message) {
				t.Errorf("%s: stderr lacks %q\n%s", tc.What, tc.Message, r)
			}
			if !strings.HasPrefix(r.stderr, "Error: ") || r.stdout != "" {
				t.Errorf("%s: want only an Error: on stderr\n%s", tc.What, r)
			}
			if n := requests(stack.Secure); n != 0 {
				t.Errorf("%s: %d registry requests, want none", tc.What, n)
			}
			assertNoCacheEntries(t, h)
		})
	}
}
