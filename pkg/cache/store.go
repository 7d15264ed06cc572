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
//	<helm repository cache>/ocisrc/index/<hash of host/repo:tag>.json           tag -> digest, when
//	<helm repository cache>/ocisrc/hosts/<hash of host>                         "basic" or "bearer"
//
// The cache may be shared, and anyone who can write it can rewrite any file
// in it, so nothing it serves is taken from a record: every read proves the
// entry from its bytes — the manifest hashes to the digest the entry is
// addressed by, the archive to the manifest's chart layer, the config to the
// manifest's config, and the name and version (and so the archive's file
// name) come from that config, checked with Helm's rules. Signatures are
// verified again from the stored material by the caller, never read from a
// record. An entry that fails a check is ignored. entry.json records only
// what bytes cannot say: where the chart was served, and to which Secret.
//
// An entry appears whole or not at all: it is written into a temporary
// directory beside the store and renamed into place. Nothing outside the
// store's root is ever read as an entry, written or removed: entries are
// found by their directory names (64 hex digits), never by a path a record
// holds, and symbolic links are not followed.
package cache

import (
	"bytes"
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

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"helm.sh/helm/v4/pkg/helmpath"

	"github.com/ocisrc/ocisrc/pkg/chartmeta"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/place"
	"github.com/ocisrc/ocisrc/pkg/trust"
)

// DirName is the store's directory inside Helm's repository cache.
const DirName = "ocisrc"

const (
	entryFile      = "entry.json"
	manifestFile   = "manifest.json"
	configFile     = "config.json"
	signaturesFile = "signatures.json"
)

// Media types of a Helm chart's manifest.
const (
	ConfigMediaType           = "application/vnd.cncf.helm.config.v1+json"
	ChartLayerMediaType       = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	LegacyChartLayerMediaType = "application/tar+gzip"
	ProvLayerMediaType        = "application/vnd.cncf.helm.chart.provenance.v1.prov"
)

// Limits on what an entry's files may hold.
const (
	maxManifestSize   = 4 << 20
	maxRecordSize     = 1 << 20
	maxSignaturesSize = 8 << 20
	maxProvSize       = trust.MaxPayload
)

var (
	digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	hexPattern    = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

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

// Entry describes one stored chart. Chart, Version, the digests, Size and
// Prov are derived from the entry's bytes on every read; Ref, Created,
// Access and Verified come from its record.
type Entry struct {
	// Ref is the reference the chart was first stored for (oci://…).
	Ref string `json:"ref"`
	// Chart and Version are the chart's name and version (from its config).
	Chart   string `json:"chart"`
	Version string `json:"version"`
	// ManifestDigest addresses the entry; ChartDigest is the archive's digest.
	ManifestDigest string    `json:"manifestDigest"`
	ChartDigest    string    `json:"chartDigest"`
	Size           int64     `json:"size"`
	Created        time.Time `json:"created"`
	// Access records the places that served these bytes and the Secret each
	// served them to (see Access).
	Access []Access `json:"access,omitempty"`
	// Verified is what the chart was verified with when it was stored, for
	// people; a read under a signature requirement verifies again from the
	// stored material (Material), never from this.
	Verified []Verification `json:"verified,omitempty"`
	// Prov is true when the chart's .prov is stored beside it.
	Prov bool `json:"prov,omitempty"`
	// Blobs is true: the manifest and config are stored with every entry.
	Blobs bool `json:"blobs,omitempty"`

	// provDigest is the manifest's provenance layer digest ("" if none).
	provDigest string
}

// FileName is the archive's file name, as helm pull names it.
func (e Entry) FileName() string { return e.Chart + "-" + e.Version + ".tgz" }

// Extras are what is stored with a chart: its manifest and config as served
// (both required), its .prov, and the signature material it was verified with.
type Extras struct {
	Prov, Manifest, Config []byte
	Signatures             trust.Material
}

// Verification is a signature a chart was verified with: the provider
// (cosign, helm, notation) and the key's fingerprint (of a keyless or
// Notation signature: the signing certificate's), with, for a certificate,
// its identity: the OIDC issuer and subject of a keyless one, the subject
// of a Notation one. It is also the "verified" field of fetch's output.
type Verification struct {
	// Provider is cosign, notation or helm.
	Provider string `json:"provider"`
	// Key is the key's fingerprint, or the signing certificate's for
	// keyless cosign and Notation.
	Key string `json:"key"`
	// Issuer and Subject are a keyless certificate's OIDC issuer and
	// subject; Subject alone is a Notation certificate's subject.
	Issuer  string `json:"issuer,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// Access records that a place served a chart's bytes — the manifest
// downloaded there hashed to the digest — with a Secret ("" for anonymous),
// or, for another Secret, that the place, having served these bytes,
// answered for the digest with that Secret's credentials. Only places that
// served the bytes are recorded; a registry's word alone never adds a place.
type Access struct {
	// Repository is the chart's repository at that place (canonical).
	Repository place.Place `json:"repository"`
	// Secret is namespace/name of the Secret whose credentials read the
	// chart there; "" when the place served it anonymously.
	Secret string `json:"secret"`
}

// Allows reports whether the entry records that secret may read the chart
// at repository: that exact pair, or the place serving it anonymously.
func (e *Entry) Allows(repository place.Place, secret string) bool {
	for _, a := range e.Access {
		if a.Repository == repository && (a.Secret == secret || a.Secret == "") {
			return true
		}
	}
	return false
}

// Served reports whether repository is recorded as having served the bytes.
func (e *Entry) Served(repository place.Place) bool {
	for _, a := range e.Access {
		if a.Repository == repository {
			return true
		}
	}
	return false
}

func (e *Entry) addAccess(a Access) bool {
	if a.Repository.IsZero() || slices.Contains(e.Access, a) {
		return false
	}
	e.Access = append(e.Access, a)
	sort.Slice(e.Access, func(i, j int) bool {
		if e.Access[i].Repository != e.Access[j].Repository {
			return e.Access[i].Repository.String() < e.Access[j].Repository.String()
		}
		return e.Access[i].Secret < e.Access[j].Secret
	})
	return true
}

// record is entry.json: what bytes cannot say. The fields derived from bytes
// are written for people reading the file, and ignored on read.
type record struct {
	Entry
}

func (s *ChartStore) dir(manifestDigest string) (string, error) {
	if !digestPattern.MatchString(manifestDigest) {
		return "", fmt.Errorf("invalid manifest digest %q", manifestDigest)
	}
	return filepath.Join(s.Root, "sha256", strings.TrimPrefix(manifestDigest, "sha256:")), nil
}

// ErrMiss is returned by Get when there is no entry.
var ErrMiss = errors.New("not in the cache")

// BadEntryError is an entry that failed a check on read: it is ignored (and
// replaced by the next download of its digest; prune removes it).
type BadEntryError struct {
	Digest string
	Reason string
}

func (e *BadEntryError) Error() string {
	return fmt.Sprintf("the cached chart %s fails its checks (%s): it is ignored", e.Digest, e.Reason)
}

// Get returns the entry for manifestDigest and the path of its archive,
// after proving the entry from its bytes (see the package comment). A
// missing entry is ErrMiss; one that fails a check is a *BadEntryError and
// is left in place (a reader never deletes: the next download replaces it).
func (s *ChartStore) Get(manifestDigest string) (*Entry, string, error) {
	dir, err := s.dir(manifestDigest)
	if err != nil {
		return nil, "", err
	}
	e, err := s.load(dir, manifestDigest)
	if err != nil {
		return nil, "", err
	}
	touch(dir)
	return e, filepath.Join(dir, e.FileName()), nil
}

// Peek returns the record of manifestDigest without proving its bytes, or
// nil: for decisions that Get confirms (whether a Secret must be read now).
func (s *ChartStore) Peek(manifestDigest string) *Entry {
	dir, err := s.dir(manifestDigest)
	if err != nil {
		return nil
	}
	rec, err := readRecord(dir)
	if err != nil {
		return nil
	}
	return &rec.Entry
}

// load proves the entry in dir, addressed by digest, from its bytes.
func (s *ChartStore) load(dir, digest string) (*Entry, error) {
	bad := func(format string, a ...any) error {
		return &BadEntryError{Digest: digest, Reason: fmt.Sprintf(format, a...)}
	}
	info, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, ErrMiss
	case err != nil:
		return nil, fmt.Errorf("reading cache entry %q: %w", dir, err)
	case !info.IsDir():
		return nil, bad("not a directory")
	}
	manifest, err := readRegular(filepath.Join(dir, manifestFile), maxManifestSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bad("no manifest")
	}
	if err != nil {
		return nil, bad("its manifest cannot be read: %v", err)
	}
	if got := sha256Digest(manifest); got != digest {
		return nil, bad("its manifest hashes to %s", got)
	}
	layers, err := chartLayers(manifest)
	if err != nil {
		return nil, bad("%v", err)
	}
	config, err := readRegular(filepath.Join(dir, configFile), chartmeta.MaxConfigSize)
	if err != nil {
		return nil, bad("its config cannot be read")
	}
	if sha256Digest(config) != layers.config.Digest.String() {
		return nil, bad("its config does not hash to the manifest's config")
	}
	meta, err := chartmeta.FromConfig(config)
	if err != nil {
		return nil, bad("%v", err)
	}
	e := &Entry{
		Chart: meta.Name, Version: meta.Version, ManifestDigest: digest,
		ChartDigest: layers.chart.Digest.String(), Size: layers.chart.Size, Blobs: true,
	}
	got, size, err := hashRegular(filepath.Join(dir, e.FileName()))
	if err != nil {
		return nil, bad("its archive cannot be read")
	}
	if got != e.ChartDigest || size != e.Size {
		return nil, bad("its archive does not hash to the manifest's chart layer")
	}
	if layers.prov != nil {
		e.provDigest = layers.prov.Digest.String()
		if prov, err := readRegular(filepath.Join(dir, e.FileName()+".prov"), maxProvSize); err == nil && sha256Digest(prov) == e.provDigest {
			e.Prov = true
		}
	}
	if rec, err := readRecord(dir); err == nil {
		e.Ref, e.Created, e.Verified = rec.Ref, rec.Created, rec.Verified
		e.Access = rec.Access
	}
	return e, nil
}

// readRecord reads entry.json; its places must be canonical.
func readRecord(dir string) (*record, error) {
	raw, err := readRegular(filepath.Join(dir, entryFile), maxRecordSize)
	if err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// layerSet is the descriptors of a chart's manifest ocisrc reads.
type layerSet struct {
	config   ocispec.Descriptor
	chart    ocispec.Descriptor
	prov     *ocispec.Descriptor
	hasChart bool
}

// chartLayers reads a chart's manifest: an image manifest with a Helm
// config and a chart layer (and a .prov layer, optionally).
func chartLayers(manifest []byte) (layerSet, error) {
	var m ocispec.Manifest
	var ls layerSet
	if err := json.Unmarshal(manifest, &m); err != nil {
		return ls, errors.New("its manifest is not valid JSON")
	}
	if m.Config.MediaType != ConfigMediaType || !digestPattern.MatchString(m.Config.Digest.String()) {
		return ls, errors.New("its manifest has no Helm chart config")
	}
	ls.config = m.Config
	for i, l := range m.Layers {
		if !digestPattern.MatchString(l.Digest.String()) || l.Size < 0 {
			continue
		}
		switch l.MediaType {
		case ChartLayerMediaType, LegacyChartLayerMediaType:
			if !ls.hasChart {
				ls.chart, ls.hasChart = l, true
			}
		case ProvLayerMediaType:
			if ls.prov == nil {
				ls.prov = &m.Layers[i]
			}
		}
	}
	if !ls.hasChart {
		return ls, errors.New("its manifest has no chart layer")
	}
	return ls, nil
}

// readRegular reads a regular file (never through a symbolic link) of at
// most limit bytes.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// openRegular opens path only if it is a regular file, not a symbolic link.
func openRegular(path string) (*os.File, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	return os.Open(path)
}

func hashRegular(path string) (string, int64, error) {
	f, err := openRegular(path)
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

// TempDir is where a download may write an archive before PutFile moves it
// in (on the same file system, so the move is a rename). Files there named
// .tmp-<pid>-… are removed by RemoveLeftovers once their process is gone.
func (s *ChartStore) TempDir() string { return filepath.Join(s.Root, "sha256") }

// Stored is what PutFile stores: the record's part (the reference, where
// the chart was served and to which Secret, what it was verified with).
type Stored struct {
	Ref      string
	Access   []Access
	Verified []Verification
}

// PutFile stores the archive in file as the entry for x.Manifest's digest,
// proving it first exactly as a read does (the manifest, the config, the
// archive against the manifest's chart layer, the name and version), with
// the .prov (checked against the manifest's provenance layer) and the
// signature material. It returns the entry and the archive's path. The file
// is moved into the store (copied when it is on another file system) and is
// gone afterwards, whatever happens. If a good entry for the digest is
// already there (put by another process), it is kept, the record merged,
// and its path returned.
func (s *ChartStore) PutFile(st Stored, file string, x Extras) (*Entry, string, error) {
	defer os.Remove(file)
	digest := sha256Digest(x.Manifest)
	refuse := func(format string, a ...any) (*Entry, string, error) {
		return nil, "", fmt.Errorf("refusing to cache %s: %s", st.Ref, fmt.Sprintf(format, a...))
	}
	layers, err := chartLayers(x.Manifest)
	if err != nil {
		return refuse("%v", err)
	}
	if sha256Digest(x.Config) != layers.config.Digest.String() {
		return refuse("the config does not hash to the manifest's config")
	}
	meta, err := chartmeta.FromConfig(x.Config)
	if err != nil {
		return refuse("%v", err)
	}
	got, size, err := hashRegular(file)
	if err != nil {
		return refuse("%v", err)
	}
	if got != layers.chart.Digest.String() || size != layers.chart.Size {
		return refuse("the archive hashes to %s, not %s", got, layers.chart.Digest)
	}
	prov := x.Prov
	if layers.prov == nil || sha256Digest(prov) != layers.prov.Digest.String() {
		prov = nil
	}
	e := &Entry{
		Ref: st.Ref, Chart: meta.Name, Version: meta.Version, ManifestDigest: digest,
		ChartDigest: layers.chart.Digest.String(), Size: size, Created: time.Now().UTC(),
		Verified: st.Verified, Prov: len(prov) > 0, Blobs: true,
	}
	if e.Prov {
		e.provDigest = layers.prov.Digest.String()
	}
	for _, a := range st.Access {
		e.addAccess(a)
	}
	dir, err := s.dir(digest)
	if err != nil {
		return nil, "", err
	}
	if have, path, err := s.Get(digest); err == nil {
		have, err := s.Update(have, st.Access, x.Signatures, st.Verified)
		return have, path, err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, "", fmt.Errorf("creating the chart cache %q: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, tempPrefix())
	if err != nil {
		return nil, "", fmt.Errorf("writing to the chart cache %q: %w", parent, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	write := func(name string, data []byte) error {
		if err := writeFileSync(filepath.Join(tmp, name), data); err != nil {
			return fmt.Errorf("writing to the chart cache: %w", err)
		}
		return nil
	}
	if err := moveFile(filepath.Join(tmp, e.FileName()), file); err != nil {
		return nil, "", fmt.Errorf("writing to the chart cache: %w", err)
	}
	files := map[string][]byte{manifestFile: x.Manifest, configFile: x.Config}
	if e.Prov {
		files[e.FileName()+".prov"] = prov
	}
	if !x.Signatures.Empty() {
		data, err := json.Marshal(x.Signatures)
		if err != nil {
			return nil, "", err
		}
		files[signaturesFile] = data
	}
	meta2, err := json.MarshalIndent(record{Entry: *e}, "", "  ")
	if err != nil {
		return nil, "", err
	}
	files[entryFile] = append(meta2, '\n')
	for name, data := range files {
		if err := write(name, data); err != nil {
			return nil, "", err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another process placed the same digest first: theirs is as good,
		// once proven. An entry that fails its checks is replaced.
		if have, path, gerr := s.Get(digest); gerr == nil {
			have, err := s.Update(have, st.Access, x.Signatures, st.Verified)
			return have, path, err
		}
		if err := s.replace(dir, tmp); err != nil {
			return nil, "", err
		}
	}
	return e, filepath.Join(dir, e.FileName()), nil
}

// replace puts the new entry tmp where a bad one is: the bad one is moved
// aside (within the store) and removed.
func (s *ChartStore) replace(dir, tmp string) error {
	aside, err := os.MkdirTemp(filepath.Dir(dir), tempPrefix())
	if err != nil {
		return fmt.Errorf("replacing cache entry %q: %w", dir, err)
	}
	old := filepath.Join(aside, "old")
	if err := os.Rename(dir, old); err != nil {
		_ = os.Remove(aside)
		return fmt.Errorf("replacing cache entry %q: %w", dir, err)
	}
	defer os.RemoveAll(aside)
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("placing cache entry %q: %w", dir, err)
	}
	return nil
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
	return writeSync(dst, in)
}

// Update records, in one write, what a run learnt about a proven entry:
// access records, signature material and verifications. Nothing is written
// when nothing changed. It returns the entry as updated.
func (s *ChartStore) Update(e *Entry, access []Access, m trust.Material, verified []Verification) (*Entry, error) {
	dir, err := s.dir(e.ManifestDigest)
	if err != nil {
		return e, err
	}
	updated := *e
	updated.Access = slices.Clone(e.Access)
	changed := false
	for _, a := range access {
		changed = updated.addAccess(a) || changed
	}
	for _, v := range verified {
		if !slices.Contains(updated.Verified, v) {
			updated.Verified = append(updated.Verified, v)
			changed = true
		}
	}
	if !m.Empty() {
		have := s.Material(e)
		merged := mergeMaterial(have, m)
		if merged.Size() != have.Size() && merged.Size() <= maxSignaturesSize {
			data, err := json.Marshal(merged)
			if err != nil {
				return e, err
			}
			if err := writeAtomicVia(filepath.Dir(dir), filepath.Join(dir, signaturesFile), data); err != nil {
				return e, fmt.Errorf("recording signatures in cache entry %q: %w", dir, err)
			}
		}
	}
	if !changed {
		return &updated, nil
	}
	if updated.Created.IsZero() {
		updated.Created = time.Now().UTC()
	}
	meta, err := json.MarshalIndent(record{Entry: updated}, "", "  ")
	if err != nil {
		return e, err
	}
	// The temporary file is written beside the entries, not in the entry,
	// where leftovers are looked for.
	if err := writeAtomicVia(filepath.Dir(dir), filepath.Join(dir, entryFile), append(meta, '\n')); err != nil {
		return e, fmt.Errorf("recording access in cache entry %q: %w", dir, err)
	}
	return &updated, nil
}

// mergeMaterial adds to a what b has that a lacks.
func mergeMaterial(a, b trust.Material) trust.Material {
	out := trust.Material{Cosign: slices.Clone(a.Cosign), Bundles: slices.Clone(a.Bundles), Notation: slices.Clone(a.Notation)}
	for _, n := range b.Notation {
		dup := false
		for _, h := range out.Notation {
			dup = dup || string(h.Envelope) == string(n.Envelope)
		}
		if !dup {
			out.Notation = append(out.Notation, n)
		}
	}
	for _, s := range b.Cosign {
		dup := false
		for _, h := range out.Cosign {
			dup = dup || (h.Signature == s.Signature && string(h.Payload) == string(s.Payload))
		}
		if !dup {
			out.Cosign = append(out.Cosign, s)
		}
	}
	for _, x := range b.Bundles {
		dup := false
		for _, h := range out.Bundles {
			dup = dup || string(h) == string(x)
		}
		if !dup {
			out.Bundles = append(out.Bundles, x)
		}
	}
	return out
}

// Material returns the signature material stored with a proven entry
// (none when there is none or it cannot be read). It is untrusted input:
// the caller verifies it against the keys trusted now.
func (s *ChartStore) Material(e *Entry) trust.Material {
	dir, err := s.dir(e.ManifestDigest)
	if err != nil {
		return trust.Material{}
	}
	raw, err := readRegular(filepath.Join(dir, signaturesFile), maxSignaturesSize)
	if err != nil {
		return trust.Material{}
	}
	var m trust.Material
	if json.Unmarshal(raw, &m) != nil {
		return trust.Material{}
	}
	return m
}

// Prov returns the .prov stored with a proven entry (it hashes to the
// manifest's provenance layer), or nil.
func (s *ChartStore) Prov(e *Entry) []byte {
	if !e.Prov || e.provDigest == "" {
		return nil
	}
	dir, err := s.dir(e.ManifestDigest)
	if err != nil {
		return nil
	}
	b, err := readRegular(filepath.Join(dir, e.FileName()+".prov"), maxProvSize)
	if err != nil || sha256Digest(b) != e.provDigest {
		return nil
	}
	return b
}

// Blobs returns the manifest and config stored with a proven entry, checked
// again against the entry's digest (nil, nil when they no longer are).
func (s *ChartStore) Blobs(e *Entry) (manifest, config []byte) {
	dir, err := s.dir(e.ManifestDigest)
	if err != nil {
		return nil, nil
	}
	m, err := readRegular(filepath.Join(dir, manifestFile), maxManifestSize)
	if err != nil || sha256Digest(m) != e.ManifestDigest {
		return nil, nil
	}
	layers, err := chartLayers(m)
	if err != nil {
		return nil, nil
	}
	c, err := readRegular(filepath.Join(dir, configFile), chartmeta.MaxConfigSize)
	if err != nil || sha256Digest(c) != layers.config.Digest.String() {
		return nil, nil
	}
	return m, c
}

func writeFileSync(path string, data []byte) error {
	return writeSync(path, bytes.NewReader(data))
}

// writeSync creates path (which must not exist), fills it from r and syncs
// it to disk.
func writeSync(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
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
	raw, err := readRegular(s.indexPath(tagRef), maxRecordSize)
	if err != nil {
		return nil
	}
	var e IndexEntry
	if json.Unmarshal(raw, &e) != nil || e.Ref != tagRef || !digestPattern.MatchString(e.Digest) {
		return nil
	}
	return &e
}

// Record notes that tagRef resolved to digest. Nothing is written when the
// index already says so: a warm run writes nothing.
func (s *ChartStore) Record(tagRef, digest string) error {
	if have := s.Lookup(tagRef); have != nil && have.Digest == digest {
		return nil
	}
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

// touchEvery is how stale "last used" may get before a read updates it: a
// warm run that changes nothing does not rewrite every entry's time.
const touchEvery = time.Hour

// touch marks the entry in dir used now (the mtime of its entry.json).
func touch(dir string) {
	p := filepath.Join(dir, entryFile)
	info, err := os.Lstat(p)
	if err != nil || !info.Mode().IsRegular() || time.Since(info.ModTime()) < touchEvery {
		return
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now)
}

// Listed is a cache entry as `cache list` shows it.
type Listed struct {
	Entry
	Path     string    `json:"path"`
	LastUsed time.Time `json:"lastUsed"`
	// Tags are the references in the index that resolve to this entry.
	Tags []string `json:"tags"`
}

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
	dirs, err := os.ReadDir(filepath.Join(s.Root, "sha256"))
	if errors.Is(err, fs.ErrNotExist) {
		return inv, nil
	}
	if err != nil {
		return inv, fmt.Errorf("reading the chart cache %q: %w", s.Root, err)
	}
	tags := s.tags()
	for _, d := range dirs {
		if !hexPattern.MatchString(d.Name()) {
			continue
		}
		digest := "sha256:" + d.Name()
		dir := filepath.Join(s.Root, "sha256", d.Name())
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
		if info, err := os.Lstat(filepath.Join(dir, entryFile)); err == nil {
			used = info.ModTime()
		}
		t := tags[digest]
		sort.Strings(t)
		inv.Entries = append(inv.Entries, Listed{Entry: *e, Path: filepath.Join(dir, e.FileName()), LastUsed: used.UTC(), Tags: t})
	}
	sort.Slice(inv.Entries, func(i, j int) bool { return inv.Entries[i].LastUsed.After(inv.Entries[j].LastUsed) })
	return inv, nil
}

// tags reads the tag index: digest -> references.
func (s *ChartStore) tags() map[string][]string {
	tags := map[string][]string{}
	idx, err := os.ReadDir(filepath.Join(s.Root, "index"))
	if err != nil {
		return tags
	}
	for _, f := range idx {
		raw, err := readRegular(filepath.Join(s.Root, "index", f.Name()), maxRecordSize)
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
// records that point to what is gone, and the leftovers of interrupted
// writes. It removes only directories it found under the store's root by
// their names, never a path a record holds, and never follows a link.
func (s *ChartStore) Prune(cutoff time.Time) (Pruned, error) {
	var out Pruned
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
		dir := filepath.Join(s.Root, "sha256", name)
		if info, err := os.Lstat(dir); err == nil && !info.IsDir() {
			return os.Remove(dir) // a link or a file where an entry should be: remove it, not what it names
		}
		return os.RemoveAll(dir)
	}
	for _, b := range inv.Bad {
		if err := remove(b.Digest); err != nil {
			return out, fmt.Errorf("removing the cache entry of %s: %w", b.Digest, err)
		}
		gone[b.Digest] = true
		out.Bad = append(out.Bad, b)
	}
	for _, e := range inv.Entries {
		if !e.LastUsed.Before(cutoff) {
			continue
		}
		if err := remove(e.ManifestDigest); err != nil {
			return out, fmt.Errorf("removing the cache entry of %s: %w", e.ManifestDigest, err)
		}
		gone[e.ManifestDigest] = true
		out.Entries = append(out.Entries, e)
	}
	if idx, err := os.ReadDir(filepath.Join(s.Root, "index")); err == nil {
		for _, f := range idx {
			p := filepath.Join(s.Root, "index", f.Name())
			raw, err := readRegular(p, maxRecordSize)
			if err != nil {
				_ = os.Remove(p)
				continue
			}
			var e IndexEntry
			if json.Unmarshal(raw, &e) != nil || gone[e.Digest] {
				_ = os.Remove(p)
			}
		}
	}
	// Proof records last written before the cutoff go too: a later run
	// proves access again.
	if proofs, err := os.ReadDir(filepath.Join(s.Root, "proofs")); err == nil {
		for _, f := range proofs {
			p := filepath.Join(s.Root, "proofs", f.Name())
			info, err := os.Lstat(p)
			if err != nil || !info.Mode().IsRegular() || info.ModTime().Before(cutoff) {
				_ = os.Remove(p)
			}
		}
	}
	s.RemoveLeftovers()
	return out, nil
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
	for _, dir := range []string{filepath.Join(s.Root, "sha256"), filepath.Join(s.Root, "index"), filepath.Join(s.Root, "hosts"), filepath.Join(s.Root, "proofs")} {
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
	raw, err := readRegular(s.hostPath(host), 64)
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

// Proofs: a registry grants reading per repository, not per digest (a
// token's scope is repository:NAME:pull), so a Secret that read one chart of
// a repository place may read every chart that place served. A proof is
// recorded when the place served bytes to the Secret (the manifest hashed
// to its digest), or answered for a digest it had served, with that
// Secret's credentials. It holds no credential: the place and the Secrets'
// namespace/name. One file per place, written once per run with what the
// run proved (see Fetcher.Flush).
//
//	<root>/proofs/<sha256 of place>.json   {"repository", "secrets": {"ns/name": proven}}

// Proofs are the Secrets proven to read one repository place.
type Proofs struct {
	Repository place.Place          `json:"repository"`
	Secrets    map[string]time.Time `json:"secrets"`
}

func (s *ChartStore) proofPath(repository place.Place) string {
	sum := sha256.Sum256([]byte(repository.String()))
	return filepath.Join(s.Root, "proofs", hex.EncodeToString(sum[:16])+".json")
}

// LoadProofs returns the Secrets recorded as able to read repository ("" is
// anonymous), none when there is no record or it cannot be read.
func (s *ChartStore) LoadProofs(repository place.Place) map[string]time.Time {
	raw, err := readRegular(s.proofPath(repository), maxRecordSize)
	if err != nil {
		return nil
	}
	var p Proofs
	if json.Unmarshal(raw, &p) != nil || p.Repository != repository {
		return nil
	}
	return p.Secrets
}

// SaveProofs adds secrets to the record of repository, in one write;
// nothing is written when they are all recorded already.
func (s *ChartStore) SaveProofs(repository place.Place, secrets []string) error {
	have := s.LoadProofs(repository)
	merged := map[string]time.Time{}
	for k, v := range have {
		merged[k] = v
	}
	now := time.Now().UTC()
	changed := false
	for _, sec := range secrets {
		if _, ok := merged[sec]; !ok {
			merged[sec] = now
			changed = true
		}
	}
	if !changed || repository.IsZero() {
		return nil
	}
	data, err := json.Marshal(Proofs{Repository: repository, Secrets: merged})
	if err != nil {
		return err
	}
	return writeAtomic(s.proofPath(repository), append(data, '\n'))
}
