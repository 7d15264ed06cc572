// Package cache is the digest-addressed chart store inside Helm's repository
// cache. Each chart lives under the digest of its OCI manifest, so the same
// chart name and version from two registries never collide:
//
//	<helm repository cache>/ocisrc/sha256/<manifest hex>/<chart>-<version>.tgz
//	<helm repository cache>/ocisrc/sha256/<manifest hex>/entry.json
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
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/helmpath"
)

// DirName is the store's directory inside Helm's repository cache.
const DirName = "ocisrc"

const entryFile = "entry.json"

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
	dir, err := s.dir(manifestDigest)
	if err != nil {
		return nil, "", err
	}
	raw, err := os.ReadFile(filepath.Join(dir, entryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", ErrMiss
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading cache entry %q: %w", dir, err)
	}
	var e Entry
	if json.Unmarshal(raw, &e) != nil || e.ManifestDigest != manifestDigest || !digestPattern.MatchString(e.ChartDigest) || e.Chart == "" || strings.ContainsAny(e.FileName(), `/\`) {
		return nil, "", s.remove(dir)
	}
	path := filepath.Join(dir, e.FileName())
	data, err := os.ReadFile(path)
	if err != nil || sha256Digest(data) != e.ChartDigest {
		return nil, "", s.remove(dir)
	}
	return &e, path, nil
}

func (s *ChartStore) remove(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing corrupt cache entry %q: %w", dir, err)
	}
	return &CorruptError{Path: dir}
}

// Put stores data as the entry e and returns the archive's path. data must
// hash to e.ChartDigest. If a good entry for the digest is already there (put
// by another process), it is kept and its path returned.
func (s *ChartStore) Put(e Entry, data []byte) (string, error) {
	dir, err := s.dir(e.ManifestDigest)
	if err != nil {
		return "", err
	}
	if got := sha256Digest(data); got != e.ChartDigest {
		return "", fmt.Errorf("refusing to cache %s: the archive hashes to %s, not %s", e.Ref, got, e.ChartDigest)
	}
	if strings.ContainsAny(e.FileName(), `/\`) || e.Chart == "" {
		return "", fmt.Errorf("refusing to cache %s: invalid chart file name %q", e.Ref, e.FileName())
	}
	if _, path, err := s.Get(e.ManifestDigest); err == nil {
		return path, nil
	}
	e.Size = int64(len(data))
	if e.Created.IsZero() {
		e.Created = time.Now().UTC()
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("creating the chart cache %q: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-")
	if err != nil {
		return "", fmt.Errorf("writing to the chart cache %q: %w", parent, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := writeFileSync(filepath.Join(tmp, e.FileName()), data); err != nil {
		return "", fmt.Errorf("writing to the chart cache: %w", err)
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
			return path, nil
		}
		return "", fmt.Errorf("placing cache entry %q: %w", dir, err)
	}
	return filepath.Join(dir, e.FileName()), nil
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
