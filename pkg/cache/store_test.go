package cache

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// putBytes stores data as the entry e the way a pull does: written to a
// file in the store's temporary directory, then PutFile.
func putBytes(t *testing.T, s *ChartStore, e Entry, data []byte) (string, error) {
	t.Helper()
	return s.PutFile(e, tempFile(t, s, data), Extras{})
}

func tempFile(t *testing.T, s *ChartStore, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(s.TempDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(s.TempDir(), tempPrefix()+"*.tgz")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func entryFor(data []byte) Entry {
	return Entry{Ref: "oci://r/app:1.0.0", Chart: "app", Version: "1.0.0", ManifestDigest: "sha256:" + strings.Repeat("1", 64), ChartDigest: sha256Digest(data)}
}

func TestPutGet(t *testing.T) {
	s := &ChartStore{Root: t.TempDir()}
	data := []byte("chart bytes")
	e := entryFor(data)
	if _, _, err := s.Get(e.ManifestDigest); !errors.Is(err, ErrMiss) {
		t.Fatalf("empty store: %v", err)
	}
	path, err := putBytes(t, s, e, data)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(s.Root, "sha256", strings.Repeat("1", 64), "app-1.0.0.tgz")
	if path != want {
		t.Errorf("path = %s, want %s", path, want)
	}
	got, gotPath, err := s.Get(e.ManifestDigest)
	if err != nil || gotPath != path || got.ChartDigest != e.ChartDigest || got.Size != int64(len(data)) {
		t.Fatalf("Get = %+v %s %v", got, gotPath, err)
	}
	// Putting the same digest again keeps the entry.
	if p2, err := putBytes(t, s, e, data); err != nil || p2 != path {
		t.Fatalf("second Put = %s %v", p2, err)
	}
	assertNoTemp(t, s)
}

func TestPutRefusesBytesThatDoNotMatch(t *testing.T) {
	s := &ChartStore{Root: t.TempDir()}
	e := entryFor([]byte("good"))
	if _, err := putBytes(t, s, e, []byte("bad")); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("Put = %v", err)
	}
	if files := listAll(t, s.Root); len(files) != 0 {
		t.Errorf("store holds %v", files)
	}
}

func TestGetRemovesCorruptEntries(t *testing.T) {
	for name, corrupt := range map[string]func(dir, archive string){
		"archive changed":  func(_, a string) { _ = os.WriteFile(a, []byte("tampered"), 0o644) },
		"archive missing":  func(_, a string) { _ = os.Remove(a) },
		"entry not JSON":   func(d, _ string) { _ = os.WriteFile(filepath.Join(d, entryFile), []byte("{"), 0o644) },
		"entry other name": func(d, _ string) { _ = os.WriteFile(filepath.Join(d, entryFile), []byte(`{"chart":"../x"}`), 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			s := &ChartStore{Root: t.TempDir()}
			data := []byte("chart bytes")
			e := entryFor(data)
			path, err := putBytes(t, s, e, data)
			if err != nil {
				t.Fatal(err)
			}
			corrupt(filepath.Dir(path), path)
			_, _, err = s.Get(e.ManifestDigest)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Get = %v, want a CorruptError", err)
			}
			if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
				t.Errorf("corrupt entry still there")
			}
			if _, err := putBytes(t, s, e, data); err != nil {
				t.Fatalf("re-Put after corruption: %v", err)
			}
		})
	}
}

func TestConcurrentPuts(t *testing.T) {
	s := &ChartStore{Root: t.TempDir()}
	data := []byte("chart bytes")
	e := entryFor(data)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := putBytes(t, s, e, data); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if files := listAll(t, s.Root); len(files) != 2 {
		t.Errorf("store holds %v, want one archive and its entry", files)
	}
	assertNoTemp(t, s)
}

func TestRejectsBadDigest(t *testing.T) {
	s := &ChartStore{Root: t.TempDir()}
	if _, _, err := s.Get("sha256:../../etc"); err == nil {
		t.Error("Get accepted a path in the digest")
	}
}

func TestRepositoryCache(t *testing.T) {
	t.Setenv("HELM_REPOSITORY_CACHE", "/x/repo")
	if got := RepositoryCache(); got != "/x/repo" {
		t.Errorf("HELM_REPOSITORY_CACHE: %s", got)
	}
	t.Setenv("HELM_REPOSITORY_CACHE", "")
	t.Setenv("HELM_CACHE_HOME", "/y")
	if got := RepositoryCache(); got != filepath.Join("/y", "repository") {
		t.Errorf("HELM_CACHE_HOME: %s", got)
	}
	t.Setenv("HELM_CACHE_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "/z")
	if got := RepositoryCache(); got != filepath.Join("/z", "helm", "repository") {
		t.Errorf("XDG_CACHE_HOME: %s", got)
	}
}

func listAll(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func assertNoTemp(t *testing.T, s *ChartStore) {
	t.Helper()
	for _, f := range listAll(t, s.Root) {
		if strings.Contains(f, ".tmp-") {
			t.Errorf("temp file left: %s", f)
		}
	}
}

func TestPutFile(t *testing.T) {
	s := &ChartStore{Root: t.TempDir()}
	data := []byte("chart bytes")
	e := entryFor(data)
	write := func(b []byte) string { return tempFile(t, s, b) }
	// A file that does not hash to the entry's digest is refused and removed.
	bad := write([]byte("evil"))
	if _, err := s.PutFile(e, bad, Extras{}); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("PutFile = %v", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("refused file still there: %v", err)
	}
	good := write(data)
	path, err := s.PutFile(e, good, Extras{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != string(data) {
		t.Fatalf("stored %q %v", got, err)
	}
	if _, err := os.Stat(good); !os.IsNotExist(err) {
		t.Errorf("moved file still there: %v", err)
	}
	// Putting it again keeps the entry and removes the new file.
	again := write(data)
	if p2, err := s.PutFile(e, again, Extras{}); err != nil || p2 != path {
		t.Fatalf("second PutFile = %s %v", p2, err)
	}
	if _, err := os.Stat(again); !os.IsNotExist(err) {
		t.Errorf("second file still there: %v", err)
	}
	if got, _, err := s.Get(e.ManifestDigest); err != nil || got.Size != int64(len(data)) {
		t.Fatalf("Get = %+v %v", got, err)
	}
	assertNoTemp(t, s)
}
