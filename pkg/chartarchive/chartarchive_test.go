package chartarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type file struct {
	name, body string
	typ        byte
	link       string
}

func archive(t testing.TB, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		typ := f.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: f.name, Typeflag: typ, Mode: 0o644, Size: int64(len(f.body)), Linkname: f.link}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(f.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func openRoot(t testing.TB) (*os.Root, string) {
	t.Helper()
	dir := t.TempDir()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, dir
}

func TestExpand(t *testing.T) {
	root, dir := openRoot(t)
	a := archive(t, file{name: "app/Chart.yaml", body: "name: app\n"}, file{name: "app/templates/", typ: tar.TypeDir}, file{name: "app/templates/x.yaml", body: "kind: X\n"})
	if err := Expand(bytes.NewReader(a), root, 1<<20); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "templates", "x.yaml")); err != nil || string(b) != "kind: X\n" {
		t.Fatalf("templates/x.yaml = %q, %v", b, err)
	}
}

func TestExpandRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		files []file
		limit int64
		want  string
	}{
		"a link":             {files: []file{{name: "app/Chart.yaml", body: "x"}, {name: "app/l", typ: tar.TypeSymlink, link: "/etc/passwd"}}, want: "not a regular file"},
		"a path out":         {files: []file{{name: "app/Chart.yaml", body: "x"}, {name: "app/../../x", body: "x"}}, want: "leaves its directory"},
		"an absolute path":   {files: []file{{name: "/app/Chart.yaml", body: "x"}}, want: "absolute path"},
		"two tops":           {files: []file{{name: "app/Chart.yaml", body: "x"}, {name: "other/x", body: "x"}}, want: "one top directory"},
		"no Chart.yaml":      {files: []file{{name: "app/values.yaml", body: "x"}}, want: "no Chart.yaml"},
		"over the limit":     {files: []file{{name: "app/Chart.yaml", body: strings.Repeat("x", 100)}}, limit: 10, want: "more than 10 bytes"},
		"a file twice":       {files: []file{{name: "app/Chart.yaml", body: "x"}, {name: "app/Chart.yaml", body: "y"}}, want: "twice"},
		"a device":           {files: []file{{name: "app/Chart.yaml", body: "x"}, {name: "app/d", typ: tar.TypeChar}}, want: "not a regular file"},
		"a link to a parent": {files: []file{{name: "app/Chart.yaml", body: "x"}, {name: "app/h", typ: tar.TypeLink, link: "app/Chart.yaml"}}, want: "not a regular file"},
	} {
		t.Run(name, func(t *testing.T) {
			root, _ := openRoot(t)
			limit := c.limit
			if limit == 0 {
				limit = 1 << 20
			}
			err := Expand(bytes.NewReader(archive(t, c.files...)), root, limit)
			var ae *Error
			if !errors.As(err, &ae) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Expand = %v, want %q", err, c.want)
			}
		})
	}
}

func FuzzExpand(f *testing.F) {
	f.Add(archive(f, file{name: "app/Chart.yaml", body: "name: app\n"}, file{name: "app/templates/x.yaml", body: "x"}))
	f.Add(archive(f, file{name: "app/../x", body: "x"}))
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, data []byte) {
		outer := t.TempDir()
		inner := filepath.Join(outer, "in")
		if err := os.Mkdir(inner, 0o755); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(inner)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		_ = Expand(bytes.NewReader(data), root, 1<<20)
		// Nothing is ever written beside the directory.
		items, err := os.ReadDir(outer)
		if err != nil || len(items) != 1 {
			t.Fatalf("outside the directory: %v %v", items, err)
		}
	})
}
