// Package cache is the digest-addressed chart store inside Helm's repository
// cache. Each chart lives under the digest of its OCI manifest, so the same
// chart name and version from two registries never collide:
//
//	<helm repository cache>/ocisrc/sha256/<manifest hex>/<chart>-<version>.tgz
//	<helm repository cache>/ocisrc/sha256/<manifest hex>/entry.json   (its mtime: last used)
//	<helm repository cache>/ocisrc/index/<hash of host/repo:tag>.json   (tag -> digest, when)
//	<helm repository cache>/ocisrc/hosts/<hash of host>                 ("basic" or "bearer")
//
// An entry appears whole or not at all: it is written into a temporary
// directory beside the store and renamed into place.
package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/helmpath"
)

// DirName is the store's directory inside Helm's repository cache.
const DirName = "ocisrc"

const (
	entryFile    = "entry.json"
	manifestFile = "manifest.json"
	configFile   = "config.json"
)

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// RepositoryCache is Helm's repository cache directory, resolved as Helm does:
// HELM_REPOSITORY_CACHE, else HELM_CACHE_HOME/repository, else
// XDG_CACHE_HOME/helm/repository, else the platform default.
func RepositoryCache() string {
	if d := os.Getenv("HELM_REPOSITORY_CACHE"); d != "" {
		return d
	}
	return helmpath.CachePath("repository")
}

// ChartStore is the digest-addressed store rooted at Root.
type ChartStore struct {
	Root string
}

// NewChartStore returns the store inside Helm's repository cache.
func NewChartStore() *ChartStore {
	return &ChartStore{Root: filepath.Join(RepositoryCache(), DirName)}
}

// Entry describes one stored chart.
type Entry struct {
	// Ref is the reference the chart was first stored for (oci://…).
	Ref string `json:"ref"`
	// Chart and Version are the chart's name and version.
	Chart   string `json:"chart"`
	Version string `json:"version"`
	// ManifestDigest addresses the entry; ChartDigest is the archive's digest.
	ManifestDigest string    `json:"manifestDigest"`
	ChartDigest    string    `json:"chartDigest"`
	Size           int64     `json:"size"`
	Created        time.Time `json:"created"`
	// Access records where the chart was verified and with which Secret: a
	// cached chart is served without asking a registry only for a place and a
	// Secret recorded here.
	Access []Access `json:"access,omitempty"`
	// Verified records the signatures the chart was verified with.
	Verified []Verification `json:"verified,omitempty"`
	// Prov is true when the chart's .prov is stored beside it.
	Prov bool `json:"prov,omitempty"`
	// Blobs is true when the manifest and config are stored too
	// (manifest.json, config.json), as bundles need them.
	Blobs bool `json:"blobs,omitempty"`
}

// Extras are what may be stored with a chart: its .prov, and its manifest
// and config as served.
type Extras struct {
	Prov, Manifest, Config []byte
}

// Verification is a signature a chart was verified with: the provider
// (cosign, helm) and the key's fingerprint. It is also the "verified" field
// of fetch's output.
type Verification struct {
	Provider string `json:"provider"`
	Key      string `json:"key"`
}

// VerifiedBy reports whether the entry was verified by one of the keys
// (fingerprints).
func (e *Entry) VerifiedBy(keys map[string]bool) []Verification {
	var out []Verification
	for _, v := range e.Verified {
		if keys[v.Key] {
			out = append(out, v)
		}
	}
	return out
}

// Access is one place a chart was read at, and the Secret that read it.
type Access struct {
	// Repository is host[:port]/path, the chart's repository at that registry.
	Repository string `json:"repository"`
	// Secret is namespace/name of the Secret whose credentials read the chart
	// there; "" when the registry served it anonymously.
	Secret string `json:"secret"`
}

// Allows reports whether the entry records that secret may read the chart at
// repository: that exact pair, or the repository serving it anonymously.
func (e *Entry) Allows(repository, secret string) bool {
	for _, a := range e.Access {
		if a.Repository == repository && (a.Secret == secret || a.Secret == "") {
			return true
		}
	}
	return false
}

func (e *Entry) addAccess(a Access) bool {
	for _, have := range e.Access {
		if have == a {
			return false
		}
	}
	e.Access = append(e.Access, a)
	sort.Slice(e.Access, func(i, j int) bool {
		if e.Access[i].Repository != e.Access[j].Repository {
			return e.Access[i].Repository < e.Access[j].Repository
		}
		return e.Access[i].Secret < e.Access[j].Secret
	})
	return true
}

// FileName is the archive's file name, as helm pull names it.
func (e Entry) FileName() string { return e.Chart + "-" + e.Version + ".tgz" }

func (s *ChartStore) dir(manifestDigest string) (string, error) {
	if !digestPattern.MatchString(manifestDigest) {
		return "", fmt.Errorf("invalid manifest digest %q", manifestDigest)
	}
	return filepath.Join(s.Root, "sha256", strings.TrimPrefix(manifestDigest, "sha256:")), nil
}

// ErrMiss is returned by Get when there is no usable entry.
var ErrMiss = errors.New("not in the cache")

// CorruptError is an entry whose archive no longer hashes to its digest. Get
// removes such an entry before it returns this error.
type CorruptError struct{ Path string }

func (e *CorruptError) Error() string {
	return fmt.Sprintf("cache entry %q was corrupt and has been removed", e.Path)
}

// Get returns the entry for manifestDigest and the path of its archive, after
// checking that the archive still hashes to the recorded digest. A missing
// entry is ErrMiss; a corrupt one is removed and reported as *CorruptError.
func (s *ChartStore) Get(manifestDigest string) (*Entry, string, error) {
	dir, e, err := s.readEntry(manifestDigest)
	switch {
	case errors.Is(err, ErrMiss):
		return nil, "", err
	case errors.Is(err, errBadEntry):
		return nil, "", s.remove(dir)
	case err != nil:
		return nil, "", err
	}
	path := filepath.Join(dir, e.FileName())
	if got, _, err := hashFile(path); err != nil || got != e.ChartDigest {
		return nil, "", s.remove(dir)
	}
	touch(dir)
	return e, path, nil
}

// Peek returns the recorded entry for manifestDigest without reading the
// archive, or nil: for decisions that Get confirms later.
func (s *ChartStore) Peek(manifestDigest string) *Entry {
	_, e, err := s.readEntry(manifestDigest)
	if err != nil {
		return nil
	}
	return e
}

// errBadEntry is an entry.json that cannot be used.
var errBadEntry = errors.New("bad cache entry")

// readEntry reads and checks the entry.json for manifestDigest: ErrMiss when
// there is none, errBadEntry when it is not one this store wrote.
func (s *ChartStore) readEntry(manifestDigest string) (string, *Entry, error) {
	dir, err := s.dir(manifestDigest)
	if err != nil {
		return "", nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, entryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return dir, nil, ErrMiss
	}
	if err != nil {
		return dir, nil, fmt.Errorf("reading cache entry %q: %w", dir, err)
	}
	var e Entry
	if json.Unmarshal(raw, &e) != nil || e.ManifestDigest != manifestDigest || !digestPattern.MatchString(e.ChartDigest) || e.Chart == "" || strings.ContainsAny(e.FileName(), `/\`) {
		return dir, nil, errBadEntry
	}
	return dir, &e, nil
}

func (s *ChartStore) remove(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing corrupt cache entry %q: %w", dir, err)
	}
	return &CorruptError{Path: dir}
}

// TempDir is where a download may write an archive before PutFile moves it
// in (on the same file system, so the move is a rename). Files there named
// .tmp-<pid>-… are removed by RemoveLeftovers once their process is gone.
func (s *ChartStore) TempDir() string { return filepath.Join(s.Root, "sha256") }

// PutFile stores the archive in file (which must hash to e.ChartDigest) as
// the entry e, with extras (the .prov beside the archive as
// <chart>-<version>.tgz.prov, where helm --verify looks for it; the manifest,
// which must hash to the entry's digest, and the config), and returns the
// archive's path. The file is moved into the store (copied when it is on
// another file system) and is gone afterwards, whatever happens. If a good
// entry for the digest is already there (put by another process), it is kept
// and its path returned.
func (s *ChartStore) PutFile(e Entry, file string, x Extras) (string, error) {
	defer os.Remove(file)
	got, size, err := hashFile(file)
	if err != nil {
		return "", fmt.Errorf("refusing to cache %s: %w", e.Ref, err)
	}
	if got != e.ChartDigest {
		return "", fmt.Errorf("refusing to cache %s: the archive hashes to %s, not %s", e.Ref, got, e.ChartDigest)
	}
	e.Size = size
	return s.put(e, file, x)
}

// moveFile renames src to dst, or copies it (synced) across file systems.
func moveFile(dst, src string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	return copyFileSync(dst, src)
}

func copyFileSync(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}

// put writes an entry, moving the archive in from file.
func (s *ChartStore) put(e Entry, file string, x Extras) (string, error) {
	prov := x.Prov
	dir, err := s.dir(e.ManifestDigest)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(e.FileName(), `/\`) || e.Chart == "" {
		return "", fmt.Errorf("refusing to cache %s: invalid chart file name %q", e.Ref, e.FileName())
	}
	if _, path, err := s.Get(e.ManifestDigest); err == nil {
		return path, s.update(e.ManifestDigest, e.Access, e.Verified)
	}
	e.Prov = len(prov) > 0
	e.Blobs = len(x.Manifest) > 0 && sha256Digest(x.Manifest) == e.ManifestDigest
	if e.Created.IsZero() {
		e.Created = time.Now().UTC()
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("creating the chart cache %q: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, tempPrefix())
	if err != nil {
		return "", fmt.Errorf("writing to the chart cache %q: %w", parent, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := moveFile(filepath.Join(tmp, e.FileName()), file); err != nil {
		return "", fmt.Errorf("writing to the chart cache: %w", err)
	}
	if e.Prov {
		if err := writeFileSync(filepath.Join(tmp, e.FileName()+".prov"), prov); err != nil {
			return "", fmt.Errorf("writing to the chart cache: %w", err)
		}
	}
	if e.Blobs {
		if err := writeFileSync(filepath.Join(tmp, manifestFile), x.Manifest); err != nil {
			return "", fmt.Errorf("writing to the chart cache: %w", err)
		}
		if err := writeFileSync(filepath.Join(tmp, configFile), x.Config); err != nil {
			return "", fmt.Errorf("writing to the chart cache: %w", err)
		}
	}
	meta, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return "", err
	}
	if err := writeFileSync(filepath.Join(tmp, entryFile), append(meta, '\n')); err != nil {
		return "", fmt.Errorf("writing to the chart cache: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another process placed the same digest first: theirs is as good.
		if _, path, gerr := s.Get(e.ManifestDigest); gerr == nil {
			return path, s.update(e.ManifestDigest, e.Access, e.Verified)
		}
		return "", fmt.Errorf("placing cache entry %q: %w", dir, err)
	}
	return filepath.Join(dir, e.FileName()), nil
}

// Grant records that secret ("" for anonymous) was shown to read the chart
// manifestDigest at repository.
func (s *ChartStore) Grant(manifestDigest, repository, secret string) error {
	return s.update(manifestDigest, []Access{{Repository: repository, Secret: secret}}, nil)
}

// AddVerified records signatures the chart manifestDigest was verified with.
func (s *ChartStore) AddVerified(manifestDigest string, vs []Verification) error {
	return s.update(manifestDigest, nil, vs)
}

// Prov returns the .prov stored with the entry, or nil.
func (s *ChartStore) Prov(e *Entry) []byte {
	if !e.Prov {
		return nil
	}
	dir, err := s.dir(e.ManifestDigest)
	if err != nil {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, e.FileName()+".prov"))
	if err != nil {
		return nil
	}
	return b
}

// Blobs returns the manifest and config stored with the entry (nil, nil
// when there are none, or they no longer hash as recorded).
func (s *ChartStore) Blobs(e *Entry) (manifest, config []byte) {
	if !e.Blobs {
		return nil, nil
	}
	dir, err := s.dir(e.ManifestDigest)
	if err != nil {
		return nil, nil
	}
	m, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if err != nil || sha256Digest(m) != e.ManifestDigest {
		return nil, nil
	}
	c, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		return nil, nil
	}
	return m, c
}

// AddExtras stores extras with an existing entry (an entry written before
// they were kept): each file is written beside the entry and renamed in.
func (s *ChartStore) AddExtras(e *Entry, x Extras) error {
	dir, err := s.dir(e.ManifestDigest)
	if err != nil {
		return err
	}
	tmpDir := filepath.Dir(dir)
	if len(x.Prov) > 0 && !e.Prov {
		if err := writeAtomicVia(tmpDir, filepath.Join(dir, e.FileName()+".prov"), x.Prov); err != nil {
			return err
		}
		e.Prov = true
	}
	if len(x.Manifest) > 0 && !e.Blobs && sha256Digest(x.Manifest) == e.ManifestDigest {
		if err := writeAtomicVia(tmpDir, filepath.Join(dir, configFile), x.Config); err != nil {
			return err
		}
		if err := writeAtomicVia(tmpDir, filepath.Join(dir, manifestFile), x.Manifest); err != nil {
			return err
		}
		e.Blobs = true
	}
	meta, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomicVia(tmpDir, filepath.Join(dir, entryFile), append(meta, '\n'))
}

func (s *ChartStore) update(manifestDigest string, access []Access, verified []Verification) error {
	if len(access) == 0 && len(verified) == 0 {
		return nil
	}
	dir, e, err := s.readEntry(manifestDigest)
	if err != nil {
		return fmt.Errorf("recording access in cache entry %q: %w", dir, err)
	}
	path := filepath.Join(dir, entryFile)
	changed := false
	for _, a := range access {
		changed = e.addAccess(a) || changed
	}
	for _, v := range verified {
		if !slices.Contains(e.Verified, v) {
			e.Verified = append(e.Verified, v)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	meta, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	// The temporary file is written beside the entries, not in the entry,
	// where leftovers are looked for.
	if err := writeAtomicVia(filepath.Dir(dir), path, append(meta, '\n')); err != nil {
		return fmt.Errorf("recording access in cache entry %q: %w", dir, err)
	}
	return nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// The tag index: one small file per reference, so processes never contend
// for one file. It holds no secret.
//
//	<root>/index/<sha256 of host/repository:tag>.json   {"ref", "digest", "resolved"}

// IndexEntry is what a tag resolved to, and when.
type IndexEntry struct {
	Ref      string    `json:"ref"`
	Digest   string    `json:"digest"`
	Resolved time.Time `json:"resolved"`
}

func (s *ChartStore) indexPath(tagRef string) string {
	sum := sha256.Sum256([]byte(tagRef))
	return filepath.Join(s.Root, "index", hex.EncodeToString(sum[:16])+".json")
}

// Lookup returns what tagRef (host/repository:tag) last resolved to, or nil.
func (s *ChartStore) Lookup(tagRef string) *IndexEntry {
	raw, err := os.ReadFile(s.indexPath(tagRef))
	if err != nil {
		return nil
	}
	var e IndexEntry
	if json.Unmarshal(raw, &e) != nil || e.Ref != tagRef || !digestPattern.MatchString(e.Digest) {
		return nil
	}
	return &e
}

// Record notes that tagRef resolved to digest now.
func (s *ChartStore) Record(tagRef, digest string) error {
	data, err := json.Marshal(IndexEntry{Ref: tagRef, Digest: digest, Resolved: time.Now().UTC()})
	if err != nil {
		return err
	}
	return writeAtomic(s.indexPath(tagRef), append(data, '\n'))
}

// writeAtomic writes data beside path and renames it into place.
func writeAtomic(path string, data []byte) error {
	return writeAtomicVia(filepath.Dir(path), path, data)
}

// writeAtomicVia writes data into a temporary file in tmpDir (on path's file
// system) and renames it to path.
func writeAtomicVia(tmpDir, path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(tmpDir, tempPrefix()+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// touch marks the entry in dir used now (the mtime of its entry.json).
func touch(dir string) {
	now := time.Now()
	_ = os.Chtimes(filepath.Join(dir, entryFile), now, now)
}

// Listed is a cache entry as `cache list` shows it.
type Listed struct {
	Entry
	Path     string    `json:"path"`
	LastUsed time.Time `json:"lastUsed"`
	// Tags are the references in the index that resolve to this entry.
	Tags []string `json:"tags"`
}

// List returns every entry, most recently used first. Corrupt entries are
// skipped (Get removes them when they are next asked for).
func (s *ChartStore) List() ([]Listed, error) {
	dirs, err := os.ReadDir(filepath.Join(s.Root, "sha256"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the chart cache %q: %w", s.Root, err)
	}
	tags := map[string][]string{}
	if idx, err := os.ReadDir(filepath.Join(s.Root, "index")); err == nil {
		for _, f := range idx {
			raw, err := os.ReadFile(filepath.Join(s.Root, "index", f.Name()))
			if err != nil {
				continue
			}
			var e IndexEntry
			if json.Unmarshal(raw, &e) == nil {
				tags[e.Digest] = append(tags[e.Digest], e.Ref)
			}
		}
	}
	var out []Listed
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		dir := filepath.Join(s.Root, "sha256", d.Name())
		raw, err := os.ReadFile(filepath.Join(dir, entryFile))
		if err != nil {
			continue
		}
		var e Entry
		if json.Unmarshal(raw, &e) != nil || e.ManifestDigest != "sha256:"+d.Name() {
			continue
		}
		info, err := os.Stat(filepath.Join(dir, entryFile))
		if err != nil {
			continue
		}
		t := tags[e.ManifestDigest]
		sort.Strings(t)
		out = append(out, Listed{Entry: e, Path: filepath.Join(dir, e.FileName()), LastUsed: info.ModTime().UTC(), Tags: t})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastUsed.After(out[j].LastUsed) })
	return out, nil
}

// Prune removes the entries last used before cutoff (pass a time in the
// future to remove all), the index records that point to them, and the
// leftovers of interrupted writes. It returns what it removed.
func (s *ChartStore) Prune(cutoff time.Time) ([]Listed, error) {
	entries, err := s.List()
	if err != nil {
		return nil, err
	}
	var removed []Listed
	gone := map[string]bool{}
	for _, e := range entries {
		if !e.LastUsed.Before(cutoff) {
			continue
		}
		if err := os.RemoveAll(filepath.Dir(e.Path)); err != nil {
			return removed, fmt.Errorf("removing %q: %w", filepath.Dir(e.Path), err)
		}
		gone[e.ManifestDigest] = true
		removed = append(removed, e)
	}
	if idx, err := os.ReadDir(filepath.Join(s.Root, "index")); err == nil {
		for _, f := range idx {
			p := filepath.Join(s.Root, "index", f.Name())
			raw, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			var e IndexEntry
			if json.Unmarshal(raw, &e) != nil || gone[e.Digest] {
				_ = os.Remove(p)
			}
		}
	}
	s.RemoveLeftovers()
	return removed, nil
}

// Temporary files and directories are named .tmp-<pid>-<random>: the
// process that writes them. A write is finished by a rename, so a temporary
// name whose process is gone is the leftover of a killed process.
const tempMark = ".tmp-"

func tempPrefix() string { return fmt.Sprintf("%s%d-", tempMark, os.Getpid()) }

// legacyStaleAfter is how old a temporary name without a process id (written
// by an earlier ocisrc) must be before it is taken for a leftover.
const legacyStaleAfter = 10 * time.Minute

// RemoveLeftovers removes the temporary files and directories of writes
// whose process is no longer running (a killed process): in the store's
// entry, index and hosts directories. A live writer's are kept. Every fetch
// and prune runs it.
func (s *ChartStore) RemoveLeftovers() {
	for _, dir := range []string{filepath.Join(s.Root, "sha256"), filepath.Join(s.Root, "index"), filepath.Join(s.Root, "hosts")} {
		items, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, it := range items {
			if !strings.HasPrefix(it.Name(), tempMark) {
				continue
			}
			if leftover(it) {
				_ = os.RemoveAll(filepath.Join(dir, it.Name()))
			}
		}
	}
}

// leftover reports whether a temporary name belongs to no running process.
func leftover(it fs.DirEntry) bool {
	pidText, _, ok := strings.Cut(strings.TrimPrefix(it.Name(), tempMark), "-")
	pid, err := strconv.Atoi(pidText)
	if !ok || err != nil || pid <= 0 {
		info, err := it.Info()
		return err == nil && info.ModTime().Before(time.Now().Add(-legacyStaleAfter))
	}
	return pid != os.Getpid() && !processRunning(pid)
}

// Scheme returns the auth scheme ("basic", "bearer") last seen for a
// registry host, or "". Only the scheme name is stored, never a credential.
func (s *ChartStore) Scheme(host string) string {
	raw, err := os.ReadFile(s.hostPath(host))
	if err != nil {
		return ""
	}
	switch v := strings.TrimSpace(string(raw)); v {
	case "basic", "bearer":
		return v
	default:
		return ""
	}
}

// RememberScheme records the auth scheme a registry host asked for.
func (s *ChartStore) RememberScheme(host, scheme string) {
	_ = writeAtomic(s.hostPath(host), []byte(scheme+"\n"))
}

func (s *ChartStore) hostPath(host string) string {
	sum := sha256.Sum256([]byte(host))
	return filepath.Join(s.Root, "hosts", hex.EncodeToString(sum[:16]))
}
