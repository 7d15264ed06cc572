package cache

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocisrc/ocisrc/pkg/place"
	"github.com/ocisrc/ocisrc/pkg/trust"
)

// chart is a chart as a registry serves it: archive, config, manifest.
type chart struct {
	archive, config, manifest, prov []byte
	digest                          string
}

func makeChart(t *testing.T, name, version string, archive, prov []byte) chart {
	t.Helper()
	config, err := json.Marshal(map[string]string{"apiVersion": "v2", "name": name, "version": version})
	if err != nil {
		t.Fatal(err)
	}
	desc := func(mediaType string, b []byte) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: desc(ConfigMediaType, config), Layers: []ocispec.Descriptor{desc(ChartLayerMediaType, archive)}}
	m.SchemaVersion = 2
	if prov != nil {
		m.Layers = append(m.Layers, desc(ProvLayerMediaType, prov))
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return chart{archive: archive, config: config, manifest: manifest, prov: prov, digest: sha256Digest(manifest)}
}

func mustPlace(t *testing.T, s string) place.Place {
	t.Helper()
	p, err := place.ParsePlace(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// put stores c the way a pull does: written to a file in the store's
// temporary directory, then PutFile.
func put(t *testing.T, s *ChartStore, c chart, access ...Access) (*Entry, string, error) {
	t.Helper()
	return s.PutFile(Stored{Ref: "oci://r.io/charts/app:1.0.0", Access: access}, tempFile(t, s, c.archive), Extras{Manifest: c.manifest, Config: c.config, Prov: c.prov})
}

func tempFile(t *testing.T, s *ChartStore, data []byte) string {
	t.Helper()
	f, name, err := s.CreateTemp(".tgz")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return name
}

// newStore opens a store in a new directory.
func newStore(t *testing.T) *ChartStore {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// entryPath is the directory of an entry, on disk.
func entryPath(s *ChartStore, digest string) string {
	return filepath.Join(s.Dir(), "sha256", strings.TrimPrefix(digest, "sha256:"))
}

// secretID is the identity of a Secret as read.
func secretID(name, uid, rv string) Identity {
	return Identity{Secret: name, UID: uid, ResourceVersion: rv}
}

func TestPutGet(t *testing.T) {
	s := newStore(t)
	c := makeChart(t, "app", "1.0.0", []byte("chart bytes"), []byte("prov bytes"))
	if _, _, err := s.Get(c.digest); !errors.Is(err, ErrMiss) {
		t.Fatalf("empty store: %v", err)
	}
	origin := Access{Repository: mustPlace(t, "r.io/charts/app"), Identity: secretID("team-a/creds", "u-a", "1")}
	e, path, err := put(t, s, c, origin)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(s.Dir(), "sha256", strings.TrimPrefix(c.digest, "sha256:"), "app-1.0.0.tgz")
	if path != want || e.Chart != "app" || e.Version != "1.0.0" || !e.Prov {
		t.Errorf("PutFile = %+v, %s; want path %s", e, path, want)
	}
	got, gotPath, err := s.Get(c.digest)
	if err != nil || gotPath != path || got.ChartDigest != sha256Digest(c.archive) || got.Size != int64(len(c.archive)) || !got.Prov {
		t.Fatalf("Get = %+v %s %v", got, gotPath, err)
	}
	if string(s.Prov(got)) != "prov bytes" {
		t.Errorf("Prov = %q", s.Prov(got))
	}
	if !got.Allows(origin.Repository, secretID("team-a/creds", "u-a", "1")) || got.Allows(origin.Repository, secretID("team-b/creds", "u-b", "1")) ||
		got.Allows(origin.Repository, secretID("team-a/creds", "u-a", "2")) || got.Allows(origin.Repository, secretID("team-a/creds", "u-a2", "1")) || !got.Served(origin.Repository) {
		t.Errorf("access = %+v", got.Access)
	}
	// Putting the same digest again keeps the entry and merges the record.
	mirror := Access{Repository: mustPlace(t, "mirror.internal/charts/app"), Identity: secretID("sys/mirror", "u-m", "7")}
	e2, p2, err := put(t, s, c, mirror)
	if err != nil || p2 != path || !e2.Served(mirror.Repository) || !e2.Served(origin.Repository) {
		t.Fatalf("second Put = %+v %s %v", e2, p2, err)
	}
	assertNoTemp(t, s)
}

func TestPutRefusesBytesThatDoNotMatch(t *testing.T) {
	s := newStore(t)
	c := makeChart(t, "app", "1.0.0", []byte("good"), nil)
	c.archive = []byte("baad")
	if _, _, err := put(t, s, c); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("Put = %v", err)
	}
	bad := makeChart(t, "../../etc", "1.0.0", []byte("x"), nil)
	if _, _, err := put(t, s, bad); err == nil || !strings.Contains(err.Error(), "not a valid chart name") {
		t.Fatalf("Put of a chart named ../../etc = %v", err)
	}
	if files := listAll(t, filepath.Join(s.Dir(), "sha256")); len(files) != 0 {
		t.Errorf("store holds %v", files)
	}
}

// TestGetProvesFromBytes: a writer of a shared cache who replaces an
// entry's archive and rewrites its record gets the entry ignored, not
// served; so does one who swaps the manifest, the config or plants links.
func TestGetProvesFromBytes(t *testing.T) {
	for name, tamper := range map[string]func(t *testing.T, dir string, c chart){
		"archive replaced, record rewritten": func(t *testing.T, dir string, _ chart) {
			sub := []byte("substitute")
			write(t, filepath.Join(dir, "app-1.0.0.tgz"), sub)
			rec, _ := os.ReadFile(filepath.Join(dir, entryFile))
			write(t, filepath.Join(dir, entryFile), []byte(strings.ReplaceAll(string(rec), sha256Digest([]byte("chart bytes")), sha256Digest(sub))))
		},
		"manifest replaced": func(t *testing.T, dir string, _ chart) {
			other := makeChart(t, "app", "1.0.0", []byte("substitute"), nil)
			write(t, filepath.Join(dir, manifestFile), other.manifest)
			write(t, filepath.Join(dir, "app-1.0.0.tgz"), other.archive)
		},
		"config renames the chart": func(t *testing.T, dir string, _ chart) {
			write(t, filepath.Join(dir, configFile), []byte(`{"apiVersion":"v2","name":"other","version":"1.0.0"}`))
		},
		"manifest missing": func(t *testing.T, dir string, _ chart) { _ = os.Remove(filepath.Join(dir, manifestFile)) },
		"archive is a link": func(t *testing.T, dir string, _ chart) {
			outside := filepath.Join(t.TempDir(), "x")
			write(t, outside, []byte("chart bytes"))
			_ = os.Remove(filepath.Join(dir, "app-1.0.0.tgz"))
			if err := os.Symlink(outside, filepath.Join(dir, "app-1.0.0.tgz")); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			c := makeChart(t, "app", "1.0.0", []byte("chart bytes"), nil)
			if _, _, err := put(t, s, c); err != nil {
				t.Fatal(err)
			}
			dir := entryPath(s, c.digest)
			tamper(t, dir, c)
			var bad *BadEntryError
			if _, _, err := s.Get(c.digest); !errors.As(err, &bad) {
				t.Fatalf("Get after tampering = %v, want a *BadEntryError", err)
			}
			inv, err := s.List()
			if err != nil || len(inv.Entries) != 0 || len(inv.Bad) != 1 {
				t.Fatalf("List = %+v, %v", inv, err)
			}
			// A download of the digest replaces the bad entry.
			if _, _, err := put(t, s, c); err != nil {
				t.Fatalf("Put over a bad entry: %v", err)
			}
			if _, _, err := s.Get(c.digest); err != nil {
				t.Fatalf("Get after the new Put: %v", err)
			}
		})
	}
}

func TestRecordsMustBeCanonical(t *testing.T) {
	s := newStore(t)
	c := makeChart(t, "app", "1.0.0", []byte("chart bytes"), nil)
	if _, _, err := put(t, s, c, Access{Repository: mustPlace(t, "r.io/charts/app")}); err != nil {
		t.Fatal(err)
	}
	dir := entryPath(s, c.digest)
	rec, _ := os.ReadFile(filepath.Join(dir, entryFile))
	// Another spelling of a place is not canonical: the record is ignored.
	write(t, filepath.Join(dir, entryFile), []byte(strings.ReplaceAll(string(rec), `"r.io/charts/app"`, `"R.IO:443/charts/app"`)))
	e, _, err := s.Get(c.digest)
	if err != nil || len(e.Access) != 0 {
		t.Fatalf("Get = %+v, %v; want the entry with no access records", e, err)
	}
}

func TestMaterial(t *testing.T) {
	s := newStore(t)
	c := makeChart(t, "app", "1.0.0", []byte("chart bytes"), nil)
	e, _, err := s.PutFile(Stored{Ref: "r"}, tempFile(t, s, c.archive), Extras{Manifest: c.manifest, Config: c.config,
		Signatures: trust.Material{Bundles: [][]byte{[]byte(`{"b":1}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	if m := s.Material(e); len(m.Bundles) != 1 {
		t.Fatalf("Material = %+v", m)
	}
	if _, err := s.Update(e, nil, trust.Material{Cosign: []trust.SimpleSigning{{Payload: []byte("p"), Signature: "s"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if m := s.Material(e); len(m.Bundles) != 1 || len(m.Cosign) != 1 {
		t.Fatalf("Material after Update = %+v", m)
	}
}

// TestWarmReadsWriteNothing: a read, and an update that changes nothing,
// leave every file as it was.
func TestWarmReadsWriteNothing(t *testing.T) {
	s := newStore(t)
	c := makeChart(t, "app", "1.0.0", []byte("chart bytes"), nil)
	a := Access{Repository: mustPlace(t, "r.io/charts/app"), Identity: secretID("team-a/creds", "u-a", "1")}
	e, _, err := put(t, s, c, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Record("r.io/charts/app:1.0.0", c.digest); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s.Dir())
	for i := 0; i < 3; i++ {
		if _, _, err := s.Get(c.digest); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(e, []Access{a}, trust.Material{}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Record("r.io/charts/app:1.0.0", c.digest); err != nil {
			t.Fatal(err)
		}
	}
	if after := snapshot(t, s.Dir()); after != before {
		t.Errorf("a warm read wrote to the cache:\nbefore %s\nafter  %s", before, after)
	}
}

// TestPruneStaysInside: entries whose records name paths outside the store,
// links planted where entries should be, and bad entries: prune removes
// what is under the store's root and nothing else.
func TestPruneStaysInside(t *testing.T) {
	s := newStore(t)
	outside := t.TempDir()
	write(t, filepath.Join(outside, "keep"), []byte("keep me"))
	c := makeChart(t, "app", "1.0.0", []byte("chart bytes"), nil)
	if _, _, err := put(t, s, c); err != nil {
		t.Fatal(err)
	}
	// A planted entry whose record claims a chart named ../../../outside.
	planted := filepath.Join(s.Dir(), "sha256", strings.Repeat("a", 64))
	if err := os.MkdirAll(planted, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(planted, entryFile), []byte(`{"chart":"../../../../`+outside+`","version":"x","manifestDigest":"sha256:`+strings.Repeat("a", 64)+`"}`))
	// A link where an entry should be.
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "sha256", strings.Repeat("b", 64))); err != nil {
		t.Fatal(err)
	}
	out, err := s.Prune(time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Entries) != 1 || len(out.Bad) != 2 {
		t.Errorf("Prune = %+v", out)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "keep")); err != nil || string(b) != "keep me" {
		t.Fatalf("prune touched a directory outside the cache: %v", err)
	}
	if files := listAll(t, filepath.Join(s.Dir(), "sha256")); len(files) != 0 {
		t.Errorf("left behind: %v", files)
	}
}

func TestConcurrentPuts(t *testing.T) {
	s := newStore(t)
	c := makeChart(t, "app", "1.0.0", []byte("same chart"), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		file := tempFile(t, s, c.archive)
		go func() {
			defer wg.Done()
			_, _, err := s.PutFile(Stored{Ref: "r"}, file, Extras{Manifest: c.manifest, Config: c.config})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if _, _, err := s.Get(c.digest); err != nil {
		t.Fatal(err)
	}
	assertNoTemp(t, s)
}

func TestRejectsBadDigest(t *testing.T) {
	s := newStore(t)
	for _, d := range []string{"sha256:../../x", "md5:00", "sha256:" + strings.Repeat("A", 64)} {
		if _, _, err := s.Get(d); err == nil || errors.Is(err, ErrMiss) {
			t.Errorf("Get(%q) = %v", d, err)
		}
	}
}

func TestRepositoryCache(t *testing.T) {
	t.Setenv("HELM_REPOSITORY_CACHE", "/x/repo")
	if got := RepositoryCache(); got != "/x/repo" {
		t.Errorf("RepositoryCache = %s", got)
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot names every file with its size and modification time.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b.WriteString(p + " " + info.ModTime().String() + "\n")
		}
		return nil
	})
	return b.String()
}

func listAll(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && p != root {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func assertNoTemp(t *testing.T, s *ChartStore) {
	t.Helper()
	for _, f := range listAll(t, s.Dir()) {
		if strings.Contains(filepath.Base(f), tempMark) {
			t.Errorf("temporary file left: %s", f)
		}
	}
}

// TestLinksForTheStoresDirectories: a link standing where index/, proofs/,
// hosts/ or sha256/ should be is never written through, read through or
// pruned through; prune removes the link itself.
func TestLinksForTheStoresDirectories(t *testing.T) {
	for _, dir := range []string{"index", "proofs", "hosts", "sha256"} {
		t.Run(dir, func(t *testing.T) {
			s := newStore(t)
			outside := t.TempDir()
			write(t, filepath.Join(outside, "keep.json"), []byte("keep me"))
			if err := os.Symlink(outside, filepath.Join(s.Dir(), dir)); err != nil {
				t.Fatal(err)
			}
			c := makeChart(t, "app", "1.0.0", []byte("chart bytes"), nil)
			var putErr error
			if dir == "sha256" {
				_, _, putErr = s.CreateTemp(".tgz")
			} else {
				_, _, putErr = put(t, s, c, Access{Repository: mustPlace(t, "r.io/charts/app")})
			}
			recErr := s.Record("r.io/charts/app:1.0.0", c.digest)
			proofErr := s.SaveProofs(mustPlace(t, "r.io/charts/app"), []Identity{secretID("a/b", "u", "1")})
			s.RememberScheme("r.io", "basic")
			switch dir {
			case "sha256":
				if putErr == nil {
					t.Error("CreateTemp wrote through a link")
				}
			case "index":
				if recErr == nil {
					t.Error("Record wrote through a link")
				}
			case "proofs":
				if proofErr == nil {
					t.Error("SaveProofs wrote through a link")
				}
			}
			if _, err := s.Prune(time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			got := listAll(t, outside)
			if len(got) != 1 || filepath.Base(got[0]) != "keep.json" {
				t.Errorf("outside the cache now holds %v", got)
			}
			if b, err := os.ReadFile(filepath.Join(outside, "keep.json")); err != nil || string(b) != "keep me" {
				t.Errorf("outside file: %q %v", b, err)
			}
		})
	}
}

// TestEarlierRecordsAreNotAnonymous: an access record written by an earlier
// ocisrc names a Secret by name only; it is not read as anonymous access.
func TestEarlierRecordsAreNotAnonymous(t *testing.T) {
	s := newStore(t)
	c := makeChart(t, "app", "1.0.0", []byte("chart bytes"), nil)
	if _, _, err := put(t, s, c); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(entryPath(s, c.digest), entryFile), []byte(`{"ref":"r","access":[{"repository":"r.io/charts/app","secret":"team-a/creds"},{"repository":"r.io/charts/app","secret":""}]}`))
	e, _, err := s.Get(c.digest)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Access) != 0 || e.Allows(mustPlace(t, "r.io/charts/app"), Identity{}) {
		t.Errorf("access = %+v", e.Access)
	}
}

// TestCertificateIsAnIdentity: a pull authenticated by a client
// certificate is not anonymous access.
func TestCertificateIsAnIdentity(t *testing.T) {
	s := newStore(t)
	c := makeChart(t, "app", "1.0.0", []byte("chart bytes"), nil)
	at := mustPlace(t, "r.io/charts/app")
	e, _, err := put(t, s, c, Access{Repository: at, Identity: Identity{Certificate: "SHA256:ab"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Allows(at, Identity{}) || e.Allows(at, secretID("a/b", "u", "1")) || !e.Allows(at, Identity{Certificate: "SHA256:ab"}) {
		t.Errorf("access = %+v", e.Access)
	}
}

// TestHugeSparseArchiveIsNotHashed: an archive whose size is not the chart
// layer's is refused from its size, before a byte is hashed.
func TestHugeSparseArchiveIsNotHashed(t *testing.T) {
	s := newStore(t)
	c := makeChart(t, "app", "1.0.0", []byte("chart bytes"), nil)
	if _, _, err := put(t, s, c); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(entryPath(s, c.digest), "app-1.0.0.tgz")
	if err := os.Truncate(archive, 1<<40); err != nil {
		t.Fatal(err)
	}
	var bad *BadEntryError
	if _, _, err := s.Get(c.digest); !errors.As(err, &bad) || !strings.Contains(bad.Reason, "its archive is 1099511627776 bytes, not the chart layer's 11") {
		t.Fatalf("Get = %v", err)
	}
}

// TestCopyArchiveHashesWhatItCopies: bytes renamed over the archive after
// the entry was proven do not leave the cache as the chart.
func TestCopyArchiveHashesWhatItCopies(t *testing.T) {
	s := newStore(t)
	c := makeChart(t, "app", "1.0.0", []byte("chart bytes"), nil)
	e, _, err := put(t, s, c)
	if err != nil {
		t.Fatal(err)
	}
	var good strings.Builder
	if err := s.CopyArchive(e, &good); err != nil || good.String() != "chart bytes" {
		t.Fatalf("CopyArchive = %q, %v", good.String(), err)
	}
	archive := filepath.Join(entryPath(s, c.digest), "app-1.0.0.tgz")
	swap := archive + ".new"
	write(t, swap, []byte("other bytes"))
	if err := os.Rename(swap, archive); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	if err := s.CopyArchive(e, &got); !errors.Is(err, ErrArchiveChanged) {
		t.Fatalf("CopyArchive after the swap = %v", err)
	}
	if err := os.Remove(archive); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(t.TempDir(), "x"), archive); err != nil {
		t.Fatal(err)
	}
	if err := s.CopyArchive(e, &got); err == nil {
		t.Fatal("CopyArchive followed a link")
	}
}
