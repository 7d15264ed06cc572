// Package cache is the digest-addressed chart store inside Helm's repository
// cache. Each chart lives under the digest of its OCI manifest, so the same
// chart name and version from two registries never collide:
//
//	<helm repository cache>/ocisrc/sha256/<manifest hex>/manifest.json          the manifest, as served
//	<helm repository cache>/ocisrc/sha256/<manifest hex>/config.json            the config (Chart.yaml as JSON)
//	<helm repository cache>/ocisrc/sha256/<manifest hex>/<chart>-<version>.tgz  the chart archive
//	<helm repository cache>/ocisrc/sha256/<manifest hex>/<chart>-<version>.tgz.prov   its provenance, if any
//	<helm repository cache>/ocisrc/sha256/<manifest hex>/signatures.json        signature material, if verified
//	<helm repository cache>/ocisrc/sha256/<manifest hex>/entry.json             the record (mtime: last used)
//	<helm repository cache>/ocisrc/index/<hash of host/repo:tag>.json           tag -> digest
//	<helm repository cache>/ocisrc/proofs/<hash of host/repo>.json              identities that read a repository
//	<helm repository cache>/ocisrc/hosts/<hash of host>                         "basic" or "bearer"
//
// The store is an os.Root opened once on its directory, not a path joined
// many times: every read, write, rename, listing and removal goes through
// that root (root.go), so no code can reach outside the directory, and the
// store's own directories are refused when they are links. Each concern has
// one file: entries (entry.go), what leaves the cache (archive.go), who read
// what (access.go, proofs.go), tags (index.go), auth schemes (hosts.go),
// listing and pruning (prune.go).
//
// The cache may be shared, and anyone who can write it can rewrite any file
// in it, so nothing it serves is taken from a record: every read proves the
// entry from its bytes — the manifest hashes to the digest the entry is
// addressed by, the archive to the manifest's chart layer (its size checked
// first), the config to the manifest's config, and the name and version
// (and so the archive's file name) come from that config, checked with
// Helm's rules. Bytes leave the cache only through a copy that hashes them
// as it writes (CopyArchive). Signatures are verified again from the stored
// material by the caller, never read from a record. An entry that fails a
// check is ignored. entry.json records only what bytes cannot say: where
// the chart was served, and to which identity.
//
// An entry appears whole or not at all: it is written into a temporary
// directory beside the entries and renamed into place.
package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"helm.sh/helm/v4/pkg/helmpath"
)

// DirName is the store's directory inside Helm's repository cache.
const DirName = "ocisrc"

// RepositoryCache is Helm's repository cache directory, resolved as Helm does:
// HELM_REPOSITORY_CACHE, else HELM_CACHE_HOME/repository, else
// XDG_CACHE_HOME/helm/repository, else the platform default.
func RepositoryCache() string {
	if d := os.Getenv("HELM_REPOSITORY_CACHE"); d != "" {
		return d
	}
	return helmpath.CachePath("repository")
}

// DefaultDir is the store's directory inside Helm's repository cache.
func DefaultDir() string { return filepath.Join(RepositoryCache(), DirName) }

// ChartStore is the digest-addressed store: an os.Root on its directory.
// A store whose directory does not exist reads as empty and cannot be
// written (Open it after creating the directory to write).
type ChartStore struct {
	dir  string
	root *os.Root
}

// Open opens the store in dir. A missing dir is an empty store; a dir that
// exists but is not a directory is an error.
func Open(dir string) (*ChartStore, error) {
	s := &ChartStore{dir: dir}
	r, err := os.OpenRoot(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("opening the chart cache %q: %w", dir, unwrapPath(err))
	}
	s.root = r
	return s, nil
}

// Dir is the store's directory, for messages and for the paths shown to
// people (nothing opens a file by it).
func (s *ChartStore) Dir() string { return s.dir }

// Close releases the root.
func (s *ChartStore) Close() error {
	if s.root == nil {
		return nil
	}
	return s.root.Close()
}

// errNoStore is a write to a store whose directory does not exist.
var errNoStore = errors.New("the chart cache directory does not exist")

// display is the path of name in the store, for people.
func (s *ChartStore) display(name string) string {
	return filepath.Join(s.dir, filepath.FromSlash(name))
}

// unwrapPath drops a *PathError's operation and path (the store names the
// file in its own words).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
