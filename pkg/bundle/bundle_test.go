package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// chart is a chart artifact as a registry would serve it.
func chart(t testing.TB, name, version string) Artifact {
	t.Helper()
	config := []byte(`{"apiVersion":"v2","name":"` + name + `","version":"` + version + `"}`)
	layer := []byte("archive of " + name + "-" + version)
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: "application/vnd.cncf.helm.config.v1+json", Digest: digest.Digest(sha(config)), Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Digest: digest.Digest(sha(layer)), Size: int64(len(layer))}},
	}
	m.SchemaVersion = 2
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return Artifact{MediaType: ocispec.MediaTypeImageManifest, Manifest: data, Blobs: [][]byte{config, layer}}
}

// signature is a cosign .sig artifact for the chart's manifest.
func signature(t testing.TB, of Artifact) Artifact {
	t.Helper()
	config := []byte("{}")
	payload := []byte(`{"critical":{"image":{"docker-manifest-digest":"` + sha(of.Manifest) + `"}}}`)
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digest.Digest(sha(config)), Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{{MediaType: "application/vnd.dev.cosign.simplesigning.v1+json", Digest: digest.Digest(sha(payload)), Size: int64(len(payload))}},
	}
	m.SchemaVersion = 2
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return Artifact{MediaType: ocispec.MediaTypeImageManifest, Manifest: data, Blobs: [][]byte{config, payload}, Tag: strings.Replace(sha(of.Manifest), ":", "-", 1) + ".sig"}
}

func write(t testing.TB, charts ...Chart) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "charts.tar")
	if _, err := Write(context.Background(), path, charts); err != nil {
		t.Fatal(err)
	}
	return path
}

func twoCharts(t testing.TB) []Chart {
	app, web := chart(t, "app", "1.2.3"), chart(t, "web", "0.1.0")
	return []Chart{
		{Reference: "oci://registry.example.com/charts/app:1.2.3", Repository: "registry.example.com/charts/app", Tag: "1.2.3", Artifact: app, Signatures: []Artifact{signature(t, app)}},
		{Reference: "oci://registry.example.com:5000/team/web@" + sha(web.Manifest), Repository: "registry.example.com:5000/team/web", Tag: "0.1.0", Artifact: web},
	}
}

func TestWriteOpenPush(t *testing.T) {
	charts := twoCharts(t)
	path := write(t, charts...)
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".ocisrc-bundle-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	b, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := b.Entries()
	sort.Slice(got, func(i, j int) bool { return got[i].Repository < got[j].Repository })
	if len(got) != 2 {
		t.Fatalf("entries: %+v", got)
	}
	want := []Entry{
		{Reference: charts[0].Reference, Repository: charts[0].Repository, Tag: "1.2.3", Digest: sha(charts[0].Manifest), Chart: "app", Version: "1.2.3", Signatures: 1},
		{Reference: charts[1].Reference, Repository: charts[1].Repository, Tag: "0.1.0", Digest: sha(charts[1].Manifest), Chart: "web", Version: "0.1.0"},
	}
	for i, w := range want {
		g := got[i]
		g.Size = 0
		g.desc = ocispec.Descriptor{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], w)
		}
	}

	// Push keeps each repository's path under --to, and every manifest byte
	// for byte.
	targets := map[string]*memory.Store{}
	pushed, err := b.Push(context.Background(), "mirror.internal:5000/base/", func(repository string) (oras.Target, error) {
		s := memory.New()
		targets[repository] = s
		return s, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(pushed, func(i, j int) bool { return pushed[i].Target < pushed[j].Target })
	if len(pushed) != 2 || pushed[0].Target != "mirror.internal:5000/base/charts/app:1.2.3@"+sha(charts[0].Manifest) || pushed[0].Signatures != 1 ||
		pushed[1].Target != "mirror.internal:5000/base/team/web:0.1.0@"+sha(charts[1].Manifest) {
		t.Fatalf("pushed %+v", pushed)
	}
	app := targets["mirror.internal:5000/base/charts/app"]
	for _, tag := range []string{"1.2.3", charts[0].Signatures[0].Tag} {
		desc, err := app.Resolve(context.Background(), tag)
		if err != nil {
			t.Fatalf("tag %s not pushed: %v", tag, err)
		}
		rc, err := app.Fetch(context.Background(), desc)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		_ = rc.Close()
		if tag == "1.2.3" && !bytes.Equal(data, charts[0].Manifest) {
			t.Errorf("the manifest changed on the way")
		}
	}
}

// rewrite copies the tar at path, letting edit change or drop each entry.
func rewrite(t *testing.T, path string, edit func(h *tar.Header, data []byte) (*tar.Header, []byte)) string {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		h, data = edit(h, data)
		if h == nil {
			continue
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(data)
	}
	_ = tw.Close()
	dst := filepath.Join(t.TempDir(), "edited.tar")
	if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestOpenRefuses(t *testing.T) {
	charts := twoCharts(t)
	path := write(t, charts...)
	layer := strings.TrimPrefix(sha(charts[0].Blobs[1]), "sha256:")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "truncated.tar")
	if err := os.WriteFile(truncated, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	index := func(edit func(ix *ocispec.Index)) string {
		return rewrite(t, path, func(h *tar.Header, data []byte) (*tar.Header, []byte) {
			if h.Name != "index.json" {
				return h, data
			}
			var ix ocispec.Index
			if err := json.Unmarshal(data, &ix); err != nil {
				t.Fatal(err)
			}
			edit(&ix)
			data, _ = json.Marshal(ix)
			return h, data
		})
	}
	annotate := func(key, value string) string {
		return index(func(ix *ocispec.Index) {
			for i := range ix.Manifests {
				if ix.Manifests[i].Annotations[AnnotationKind] == KindChart {
					ix.Manifests[i].Annotations[key] = value
				}
			}
		})
	}
	for name, tc := range map[string]struct {
		path string
		want string
	}{
		"truncated": {truncated, "truncated"},
		"a blob tampered with": {rewrite(t, path, func(h *tar.Header, data []byte) (*tar.Header, []byte) {
			if strings.HasSuffix(h.Name, layer) {
				return h, []byte("evil")
			}
			return h, data
		}), "is damaged: blob sha256:" + layer + " hashes to"},
		"a blob missing": {rewrite(t, path, func(h *tar.Header, data []byte) (*tar.Header, []byte) {
			if strings.HasSuffix(h.Name, layer) {
				return nil, nil
			}
			return h, data
		}), "blob sha256:" + layer + " of manifest"},
		"no index": {rewrite(t, path, func(h *tar.Header, data []byte) (*tar.Header, []byte) {
			if h.Name == "index.json" {
				return nil, nil
			}
			return h, data
		}), "it has no index.json"},
		"a path outside the layout": {rewrite(t, path, func(h *tar.Header, data []byte) (*tar.Header, []byte) {
			if h.Name == "oci-layout" {
				h.Name = "../../oci-layout"
			}
			return h, data
		}), `holds "../../oci-layout", which is not part of an OCI image layout`},
		"a symlink": {rewrite(t, path, func(h *tar.Header, data []byte) (*tar.Header, []byte) {
			if h.Name == "oci-layout" {
				h.Typeflag, h.Linkname = tar.TypeSymlink, "/etc/passwd"
				return h, nil
			}
			return h, data
		}), "which is not part of an OCI image layout"},
		"a repository that climbs":         {annotate(AnnotationRepository, "registry.example.com/../../etc"), "not host/path in canonical form"},
		"a repository without a path":      {annotate(AnnotationRepository, "registry.example.com"), "not host/path"},
		"a repository in another spelling": {annotate(AnnotationRepository, "Registry.Example.com:443/charts/app"), "not host/path in canonical form"},
		"a reference forging a line":       {annotate(AnnotationReference, "oci://r.io/a:1\nWarning: x"), "which is not an oci:// chart reference"},
		"a sparse entry":                   {sparseBundle(t), "as a sparse file"},
		"a tag with a newline":             {annotate(AnnotationTag, "1.2.3\nWarning: x"), "not a valid repository and tag"},
		"a manifest digest that climbs": {index(func(ix *ocispec.Index) {
			ix.Manifests[0].Digest = "sha256:../../../../etc/passwd"
		}), "is missing"},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := Open(context.Background(), tc.path)
			if err == nil {
				b.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
		})
	}
}

// TestOpenRefusesForgedNames: a chart whose config name would forge a row
// of bundle list (a tab, a newline) is refused when the bundle is opened.
func TestOpenRefusesForgedNames(t *testing.T) {
	for _, name := range []string{"app\tforged-column", "app\nforged-row", "../../etc"} {
		c := chart(t, name, "1.0.0")
		path := write(t, Chart{Reference: "oci://registry.example.com/charts/app:1.0.0", Repository: "registry.example.com/charts/app", Tag: "1.0.0", Artifact: c})
		b, err := Open(context.Background(), path)
		if err == nil {
			b.Close()
			t.Fatalf("opened a bundle whose chart is named %q", name)
		}
		if !strings.Contains(err.Error(), "is not a chart Helm would load") {
			t.Errorf("%q: %v", name, err)
		}
	}
}

// sparseBundle is a tar whose one entry is a PAX 1.0 sparse file: a few
// bytes in the file that a reader would expand to a megabyte.
func sparseBundle(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sparse.tar")
	if err := testenv.WriteSparseTar(path, "blobs/sha256/"+strings.Repeat("a", 64), 1<<20); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWriteCancelledLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	if _, err := Write(ctx, filepath.Join(dir, "charts.tar"), twoCharts(t)); err == nil {
		t.Fatal("wrote a bundle with a cancelled context")
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("left %v", files)
	}
}

// FuzzOpen: a bundle is a file from elsewhere. Whatever it holds, Open
// returns an error or a bundle whose entries name valid places, and never
// writes outside its own directory.
func FuzzOpen(f *testing.F) {
	raw, err := os.ReadFile(write(f, twoCharts(f)...))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/3])
	f.Add([]byte{})
	tmp := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(tmp, "fuzz.tar")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := Open(context.Background(), path)
		if err != nil {
			return
		}
		defer b.Close()
		for _, e := range b.Entries() {
			if err := checkPlace(e.Repository, e.Tag, false); err != nil {
				t.Fatalf("entry %+v: %v", e, err)
			}
		}
		if files, _ := os.ReadDir(tmp); len(files) != 1 {
			t.Fatalf("files beside the bundle: %v", files)
		}
	})
}
