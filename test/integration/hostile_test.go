package integration

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// TestHostileRegistry: a registry that serves crafted charts — a tenant's, a
// compromised mirror — controls what it sends, never what ocisrc stores or
// prints. Every case runs against the real registry.
func TestHostileRegistry(t *testing.T) {
	ctx := context.Background()
	good, err := testenv.BuildChart("app", "0.1.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	config := func(edit func(m map[string]any)) []byte {
		m := good.Metadata()
		if edit != nil {
			edit(m)
		}
		b, _ := json.Marshal(m)
		return b
	}
	manyLayers := []testenv.Layer{good.ChartLayer()}
	for i := 0; i < 300; i++ {
		manyLayers = append(manyLayers, testenv.Layer{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Data: []byte{byte(i), byte(i >> 8)}})
	}
	for name, tc := range map[string]struct {
		crafted testenv.Crafted
		want    []string
	}{
		"a version that is not SemVer": {
			crafted: testenv.Crafted{Config: config(func(m map[string]any) { m["version"] = "0.1.0\nWarning: injected" }), Layers: []testenv.Layer{good.ChartLayer()}},
			want:    []string{`served a chart (sha256:`, `whose version "0.1.0\nWarning: injected" is not a SemVer version`},
		},
		"ANSI escapes in the version": {
			crafted: testenv.Crafted{Config: config(func(m map[string]any) { m["version"] = "1.0.0-\x1b[2J\x1b[31mred" }), Layers: []testenv.Layer{good.ChartLayer()}},
			want:    []string{`whose version "1.0.0-\x1b[2J\x1b[31mred" is not a SemVer version`},
		},
		"a version that is a path": {
			crafted: testenv.Crafted{Config: config(func(m map[string]any) { m["version"] = "../../../x" }), Layers: []testenv.Layer{good.ChartLayer()}},
			want:    []string{`whose version "../../../x" is not a SemVer version`},
		},
		"a config that is not JSON": {
			crafted: testenv.Crafted{Config: []byte("version: 1.0.0\nname: app\n"), Layers: []testenv.Layer{good.ChartLayer()}},
			want:    []string{"served a chart whose config is not a chart's metadata as JSON"},
		},
		"an oversized config blob": {
			crafted: testenv.Crafted{Config: []byte(`{"name":"app","version":"0.1.0","apiVersion":"v2","description":"` + strings.Repeat("x", 2<<20) + `"}`), Layers: []testenv.Layer{good.ChartLayer()}},
			want:    []string{"served a manifest whose config claims 2097", "(a Helm chart's config is at most 1048576)"},
		},
		"a manifest with hundreds of layers": {
			crafted: testenv.Crafted{Config: config(nil), Layers: manyLayers},
			want:    []string{"served a manifest with 301 layers (a Helm chart has at most 16)"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHome(t)
			repo := "hostile/" + strings.ReplaceAll(strings.ToLower(strings.NewReplacer("'", "", " ", "-").Replace(name)), "--", "-") + "/app"
			p, err := stack.Open.PushCrafted(ctx, repo, "0.1.0", tc.crafted)
			if err != nil {
				t.Fatal(err)
			}
			chart := "oci://" + stack.Open.Host + "/" + repo + "@" + p.Digest
			putComponent(t, nsA, "hostile", testenv.OCISource(chart, "", ""))
			dest := t.TempDir()
			stack.Open.ResetLog()
			for _, output := range []string{"text", "json"} {
				r := kubectl(t, "hostile", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "-d", dest, "-o", output)
				wantCode(t, r, 1)
				wantStderr(t, r, tc.want...)
				checkNoControlCharacters(t, r)
				if output == "json" {
					if got := decodeJSON(t, r).Results[0]; got.Path != "" || got.Error == "" {
						t.Errorf("unexpected result %+v", got)
					}
				}
			}
			assertNoCacheEntries(t, h)
			if entries, _ := os.ReadDir(dest); len(entries) != 0 {
				t.Errorf("--destination holds %v, want nothing", entries)
			}
			if name == "a manifest with hundreds of layers" || name == "an oversized config blob" {
				if n := countRequests(stack.Open.Requests(), "GET", ""); n != countRequests(stack.Open.Requests(), "GET", "/manifests/"+p.Digest) {
					t.Errorf("blobs were downloaded: %+v", stack.Open.Requests())
				}
			}
		})
	}
}

// TestHostileRegistryMessages: what a registry says in an error is printed
// escaped.
func TestHostileRegistryMessages(t *testing.T) {
	newHome(t)
	fp, err := testenv.NewFaultProxy(stack.Open, stack.Open.CA)
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	fp.Set(&testenv.Rule{PathContains: "/manifests/", Fault: testenv.Fault{Status: 400, Message: "bad\n\x1b[2KWarning: injected \x1b]0;title\a\u202eevil"}})
	putComponent(t, nsA, "web", testenv.OCISource("oci://"+fp.Host+"/charts/web:0.1.0", "", ""))
	r := kubectl(t, "web", "-n", nsA, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 1)
	wantStderr(t, r, `answered 400 Bad Request`, `"bad\n\x1b[2KWarning: injected \x1b]0;title\a\u202eevil"`)
	checkNoControlCharacters(t, r)
	if strings.Contains(r.stderr, "\nWarning: injected") {
		t.Errorf("the registry started a line of its own:\n%s", r.stderr)
	}
}

// checkNoControlCharacters: stdout and stderr hold no control character but
// the line breaks, and no bidirectional control.
func checkNoControlCharacters(t *testing.T, r result) {
	t.Helper()
	for where, s := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
		for _, c := range s {
			if (c < 0x20 && c != '\n') || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\u202e' {
				t.Errorf("%s holds the control character %U:\n%q", where, c, s)
				break
			}
		}
	}
}
