package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ocisrc/ocisrc/pkg/chartref"
)

// Listed is a cache entry as `cache list` shows it.
type Listed struct {
	Entry
	Path     string    `json:"path"`
	LastUsed time.Time `json:"lastUsed"`
	// Tags are the references in the index that resolve to this entry.
	Tags []string `json:"tags"`
	// UnverifiedFields names the fields shown as entry.json records them,
	// not re-checked: every other field is proven from the bytes.
	UnverifiedFields []string `json:"unverifiedFields"`
}

// unverifiedFields are the record's fields cache list shows as recorded.
var unverifiedFields = []string{"ref", "created", "access", "verified"}

// Inventory is what List found: the entries that prove out, and those that
// do not (by digest), which are never shown as charts.
type Inventory struct {
	Entries []Listed
	Bad     []BadEntryError
}

// List proves every entry, as a read does, and returns the good ones, most
// recently used first, and the bad ones. Only directories named by 64 hex
// digits are looked at.
func (s *ChartStore) List() (Inventory, error) {
	var inv Inventory
	if s.root == nil {
		return inv, nil
	}
	dirs, err := s.list(entriesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return inv, nil
	}
	if err != nil {
		return inv, fmt.Errorf("reading the chart cache %q: %w", s.dir, unwrapPath(err))
	}
	tags := s.tags()
	for _, d := range dirs {
		if !hexPattern.MatchString(d.Name()) {
			continue
		}
		digest := "sha256:" + d.Name()
		dir := entriesDir + "/" + d.Name()
		e, err := s.load(dir, digest)
		var be *BadEntryError
		switch {
		case errors.As(err, &be):
			inv.Bad = append(inv.Bad, *be)
			continue
		case err != nil:
			continue
		}
		used := e.Created
		if info, err := s.lstat(path.Join(dir, entryFile)); err == nil {
			used = info.ModTime()
		}
		t := tags[digest]
		sort.Strings(t)
		if t == nil {
			t = []string{}
		}
		inv.Entries = append(inv.Entries, Listed{Entry: *e, Path: s.display(path.Join(dir, e.FileName())), LastUsed: used.UTC(), Tags: t, UnverifiedFields: unverifiedFields})
	}
	sort.Slice(inv.Entries, func(i, j int) bool { return inv.Entries[i].LastUsed.After(inv.Entries[j].LastUsed) })
	return inv, nil
}

// tags reads the tag index: digest -> references.
func (s *ChartStore) tags() map[string][]string {
	tags := map[string][]string{}
	idx, err := s.list(indexDir)
	if err != nil {
		return tags
	}
	for _, f := range idx {
		raw, err := s.readRegular(indexDir+"/"+f.Name(), maxRecordSize)
		if err != nil {
			continue
		}
		var e IndexEntry
		if json.Unmarshal(raw, &e) != nil || !digestPattern.MatchString(e.Digest) {
			continue
		}
		if ref, err := chartref.Parse(chartref.Scheme + e.Ref); err == nil && ref.TagRef() == e.Ref {
			tags[e.Digest] = append(tags[e.Digest], e.Ref)
		}
	}
	return tags
}

// Pruned is what Prune removed.
type Pruned struct {
	// Entries are the good entries removed.
	Entries []Listed
	// Bad are the entries removed because they failed their checks.
	Bad []BadEntryError
}

// Prune removes the entries last used before cutoff (pass a time in the
// future to remove all), every entry that fails its checks, the index
// records that point to what is gone, proofs older than cutoff, and the
// leftovers of interrupted writes. Everything goes through the store's
// root: a link that stands where one of the store's directories should be
// is removed itself, never followed.
func (s *ChartStore) Prune(cutoff time.Time) (Pruned, error) {
	var out Pruned
	if s.root != nil {
		// A link or a file where one of the store's directories should be
		// is removed itself.
		for _, dir := range []string{entriesDir, indexDir, hostsDir, proofsDir} {
			if info, err := s.root.Lstat(dir); err == nil && !info.IsDir() {
				_ = s.root.Remove(dir)
			}
		}
	}
	inv, err := s.List()
	if err != nil {
		return out, err
	}
	gone := map[string]bool{}
	remove := func(digest string) error {
		name := strings.TrimPrefix(digest, "sha256:")
		if !hexPattern.MatchString(name) {
			return nil
		}
		return s.removeTree(entriesDir + "/" + name)
	}
	for _, b := range inv.Bad {
		if err := remove(b.Digest); err != nil {
			return out, fmt.Errorf("removing the cache entry of %s: %w", b.Digest, unwrapPath(err))
		}
		gone[b.Digest] = true
		out.Bad = append(out.Bad, b)
	}
	for _, e := range inv.Entries {
		if !e.LastUsed.Before(cutoff) {
			continue
		}
		if err := remove(e.ManifestDigest); err != nil {
			return out, fmt.Errorf("removing the cache entry of %s: %w", e.ManifestDigest, unwrapPath(err))
		}
		gone[e.ManifestDigest] = true
		out.Entries = append(out.Entries, e)
	}
	if s.root == nil {
		return out, nil
	}
	s.pruneDir(indexDir, func(name string, _ fs.FileInfo) bool {
		raw, err := s.readRegular(name, maxRecordSize)
		if err != nil {
			return true
		}
		var e IndexEntry
		return json.Unmarshal(raw, &e) != nil || gone[e.Digest]
	})
	// Proof records last written before the cutoff go too: a later run
	// proves access again.
	s.pruneDir(proofsDir, func(_ string, info fs.FileInfo) bool {
		return !info.Mode().IsRegular() || info.ModTime().Before(cutoff)
	})
	s.RemoveLeftovers()
	return out, nil
}

// pruneDir removes the files of the store's directory dir that drop says
// to. A link standing where dir should be is removed itself.
func (s *ChartStore) pruneDir(dir string, drop func(name string, info fs.FileInfo) bool) {
	info, err := s.root.Lstat(dir)
	if err != nil {
		return
	}
	if !info.IsDir() {
		_ = s.root.Remove(dir)
		return
	}
	items, err := s.list(dir)
	if err != nil {
		return
	}
	for _, it := range items {
		name := dir + "/" + it.Name()
		info, err := s.root.Lstat(name)
		if err != nil {
			continue
		}
		if !info.Mode().IsRegular() || drop(name, info) {
			_ = s.removeTree(name)
		}
	}
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
// entry, index, hosts and proofs directories. A live writer's are kept.
// Every fetch and prune runs it.
func (s *ChartStore) RemoveLeftovers() {
	if s.root == nil {
		return
	}
	for _, dir := range []string{entriesDir, indexDir, hostsDir, proofsDir} {
		items, err := s.list(dir)
		if err != nil {
			continue
		}
		for _, it := range items {
			if strings.HasPrefix(it.Name(), tempMark) && leftover(it) {
				_ = s.removeTree(dir + "/" + it.Name())
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
