package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocisrc/ocisrc/pkg/chartmeta"
	"github.com/ocisrc/ocisrc/pkg/trust"
)

const (
	entriesDir     = "sha256"
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

// Entry describes one stored chart. Chart, Version, the digests, Size and
// Prov are derived from the entry's bytes on every read; Ref, Created,
// Access and Verified come from its record.
type Entry struct {
	// Ref is the reference the chart was first stored for (oci://…), from
	// the record: not re-checked.
	Ref string `json:"ref"`
	// Chart and Version are the chart's name and version (from its config).
	Chart   string `json:"chart"`
	Version string `json:"version"`
	// ManifestDigest addresses the entry; ChartDigest is the archive's digest.
	ManifestDigest string    `json:"manifestDigest"`
	ChartDigest    string    `json:"chartDigest"`
	Size           int64     `json:"size"`
	Created        time.Time `json:"created"`
	// Access records the places that served these bytes and the identity
	// each served them to (see Access).
	Access []Access `json:"access,omitempty"`
	// Verified is what the chart was verified with when it was stored, from
	// the record, for people: a read under a signature requirement verifies
	// again from the stored material, never from this.
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

// Verification is a signature (or a provenance attestation) a chart was
// verified with: the provider (cosign, helm, notation, provenance) and the
// key's fingerprint (of a keyless or Notation signature: the signing
// certificate's), with, for a certificate, its identity: the OIDC issuer
// and subject of a keyless one, the subject of a Notation one; for
// provenance, the builder and the source. It is also the "verified" field
// of fetch's output.
type Verification struct {
	// Provider is cosign, notation, helm or provenance.
	Provider string `json:"provider"`
	// Key is the key's fingerprint, or the signing certificate's for
	// keyless cosign and Notation.
	Key string `json:"key,omitempty"`
	// Issuer and Subject are a keyless certificate's OIDC issuer and
	// subject; Subject alone is a Notation certificate's subject.
	Issuer  string `json:"issuer,omitempty"`
	Subject string `json:"subject,omitempty"`
	// Builder and Source are a provenance attestation's builder id and
	// source repository (with its ref).
	Builder string `json:"builder,omitempty"`
	Source  string `json:"source,omitempty"`
}

// record is entry.json: what bytes cannot say. The fields derived from bytes
// are written for people reading the file, and ignored on read.
type record struct {
	Ref      string         `json:"ref"`
	Created  time.Time      `json:"created"`
	Access   []access       `json:"access,omitempty"`
	Verified []Verification `json:"verified,omitempty"`
}

// written is entry.json as it is written: the record and, for people, what
// the bytes say.
type written struct {
	Entry
}

// entryDir is the store name of the entry of manifestDigest.
func entryDir(manifestDigest string) (string, error) {
	if !digestPattern.MatchString(manifestDigest) {
		return "", fmt.Errorf("invalid manifest digest %q", manifestDigest)
	}
	return entriesDir + "/" + strings.TrimPrefix(manifestDigest, "sha256:"), nil
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

// Get returns the entry for manifestDigest and the path of its archive (for
// people: bytes leave the cache through CopyArchive), after proving the
// entry from its bytes (see the package comment). A missing entry is
// ErrMiss; one that fails a check is a *BadEntryError and is left in place
// (a reader never deletes: the next download replaces it).
func (s *ChartStore) Get(manifestDigest string) (*Entry, string, error) {
	dir, err := entryDir(manifestDigest)
	if err != nil {
		return nil, "", err
	}
	e, err := s.load(dir, manifestDigest)
	if err != nil {
		return nil, "", err
	}
	s.touch(dir)
	return e, s.display(path.Join(dir, e.FileName())), nil
}

// load proves the entry in dir, addressed by digest, from its bytes.
func (s *ChartStore) load(dir, digest string) (*Entry, error) {
	bad := func(format string, a ...any) error {
		return &BadEntryError{Digest: digest, Reason: fmt.Sprintf(format, a...)}
	}
	if s.root == nil {
		return nil, ErrMiss
	}
	info, err := s.lstat(dir)
	var nd errNotDirectory
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, ErrMiss
	case errors.As(err, &nd):
		return nil, bad("%v", err)
	case err != nil:
		return nil, fmt.Errorf("reading cache entry %q: %w", s.display(dir), unwrapPath(err))
	case !info.IsDir():
		return nil, bad("not a directory")
	}
	manifest, err := s.readRegular(path.Join(dir, manifestFile), maxManifestSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bad("no manifest")
	}
	if err != nil {
		return nil, bad("its manifest cannot be read: %v", unwrapPath(err))
	}
	if got := sha256Digest(manifest); got != digest {
		return nil, bad("its manifest hashes to %s", got)
	}
	layers, err := chartLayers(manifest)
	if err != nil {
		return nil, bad("%v", err)
	}
	config, err := s.readRegular(path.Join(dir, configFile), chartmeta.MaxConfigSize)
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
	if err := s.hashArchive(path.Join(dir, e.FileName()), e.ChartDigest, e.Size); err != nil {
		return nil, bad("its archive %v", err)
	}
	if layers.prov != nil {
		e.provDigest = layers.prov.Digest.String()
		if prov, err := s.readRegular(path.Join(dir, e.FileName()+".prov"), maxProvSize); err == nil && sha256Digest(prov) == e.provDigest {
			e.Prov = true
		}
	}
	if rec, err := s.readRecord(dir); err == nil {
		e.Ref, e.Created, e.Verified = rec.Ref, rec.Created, rec.Verified
		e.Access = readAccess(rec.Access)
	}
	return e, nil
}

// readRecord reads entry.json.
func (s *ChartStore) readRecord(dir string) (*record, error) {
	raw, err := s.readRegular(path.Join(dir, entryFile), maxRecordSize)
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

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CreateTemp creates the file a download streams an archive into before
// PutFile moves it in: a file of the store (so the move is a rename), named
// .tmp-<pid>-… so that RemoveLeftovers removes it once its process is gone.
// It returns the file and its name in the store.
func (s *ChartStore) CreateTemp(suffix string) (io.WriteCloser, string, error) {
	if s.root == nil {
		return nil, "", errNoStore
	}
	f, name, err := s.createTemp(entriesDir, suffix)
	if err != nil {
		return nil, "", fmt.Errorf("writing to the chart cache %q: %w", s.dir, unwrapPath(err))
	}
	return f, name, nil
}

// RemoveTemp removes a file CreateTemp made.
func (s *ChartStore) RemoveTemp(name string) {
	if s.root != nil && strings.HasPrefix(path.Base(name), tempMark) {
		_ = s.root.Remove(name)
	}
}

// Stored is what PutFile stores: the record's part (the reference, where
// the chart was served and to which identity, what it was verified with).
type Stored struct {
	Ref      string
	Access   []Access
	Verified []Verification
}

// PutFile stores the archive in temp (a name CreateTemp gave) as the entry
// for x.Manifest's digest, proving it first exactly as a read does (the
// manifest, the config, the archive against the manifest's chart layer, the
// name and version), with the .prov (checked against the manifest's
// provenance layer) and the signature material. It returns the entry and
// the archive's path (for people). temp is moved into the store and is gone
// afterwards, whatever happens. If a good entry for the digest is already
// there (put by another process), it is kept, the record merged, and its
// path returned.
func (s *ChartStore) PutFile(st Stored, temp string, x Extras) (*Entry, string, error) {
	defer s.RemoveTemp(temp)
	if s.root == nil {
		return nil, "", errNoStore
	}
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
	if err := s.hashArchive(temp, layers.chart.Digest.String(), layers.chart.Size); err != nil {
		return refuse("the archive %v", err)
	}
	prov := x.Prov
	if layers.prov == nil || sha256Digest(prov) != layers.prov.Digest.String() {
		prov = nil
	}
	e := &Entry{
		Ref: st.Ref, Chart: meta.Name, Version: meta.Version, ManifestDigest: digest,
		ChartDigest: layers.chart.Digest.String(), Size: layers.chart.Size, Created: time.Now().UTC(),
		Verified: st.Verified, Prov: len(prov) > 0, Blobs: true,
	}
	if e.Prov {
		e.provDigest = layers.prov.Digest.String()
	}
	for _, a := range st.Access {
		e.addAccess(a)
	}
	dir, err := entryDir(digest)
	if err != nil {
		return nil, "", err
	}
	if have, p, err := s.Get(digest); err == nil {
		have, err := s.Update(have, st.Access, x.Signatures, st.Verified)
		return have, p, err
	}
	tmp, err := s.mkdirTemp(entriesDir)
	if err != nil {
		return nil, "", fmt.Errorf("writing to the chart cache %q: %w", s.dir, unwrapPath(err))
	}
	defer func() { _ = s.root.RemoveAll(tmp) }() // a no-op once renamed
	if err := s.root.Rename(temp, path.Join(tmp, e.FileName())); err != nil {
		return nil, "", fmt.Errorf("writing to the chart cache: %w", unwrapPath(err))
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
	rec, err := json.MarshalIndent(written{Entry: *e}, "", "  ")
	if err != nil {
		return nil, "", err
	}
	files[entryFile] = append(rec, '\n')
	for name, data := range files {
		if err := s.writeNew(path.Join(tmp, name), data); err != nil {
			return nil, "", fmt.Errorf("writing to the chart cache: %w", unwrapPath(err))
		}
	}
	if err := s.root.Rename(tmp, dir); err != nil {
		// Another process placed the same digest first: theirs is as good,
		// once proven. An entry that fails its checks is replaced.
		if have, p, gerr := s.Get(digest); gerr == nil {
			have, err := s.Update(have, st.Access, x.Signatures, st.Verified)
			return have, p, err
		}
		if err := s.replace(dir, tmp); err != nil {
			return nil, "", err
		}
	}
	return e, s.display(path.Join(dir, e.FileName())), nil
}

// replace puts the new entry tmp where a bad one is: the bad one is moved
// aside (within the store) and removed.
func (s *ChartStore) replace(dir, tmp string) error {
	aside, err := s.mkdirTemp(entriesDir)
	if err != nil {
		return fmt.Errorf("replacing cache entry %q: %w", s.display(dir), unwrapPath(err))
	}
	defer func() { _ = s.root.RemoveAll(aside) }()
	if err := s.root.Rename(dir, path.Join(aside, "old")); err != nil {
		return fmt.Errorf("replacing cache entry %q: %w", s.display(dir), unwrapPath(err))
	}
	if err := s.root.Rename(tmp, dir); err != nil {
		return fmt.Errorf("placing cache entry %q: %w", s.display(dir), unwrapPath(err))
	}
	return nil
}

// Update records, in one write, what a run learnt about a proven entry:
// access records, signature material and verifications. Nothing is written
// when nothing changed. It returns the entry as updated.
func (s *ChartStore) Update(e *Entry, access []Access, m trust.Material, verified []Verification) (*Entry, error) {
	dir, err := entryDir(e.ManifestDigest)
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
			if err := s.writeAtomic(entriesDir, path.Join(dir, signaturesFile), data); err != nil {
				return e, fmt.Errorf("recording signatures in cache entry %q: %w", s.display(dir), unwrapPath(err))
			}
		}
	}
	if !changed {
		return &updated, nil
	}
	if updated.Created.IsZero() {
		updated.Created = time.Now().UTC()
	}
	rec, err := json.MarshalIndent(written{Entry: updated}, "", "  ")
	if err != nil {
		return e, err
	}
	// The temporary file is written beside the entries, not in the entry,
	// where leftovers are looked for.
	if err := s.writeAtomic(entriesDir, path.Join(dir, entryFile), append(rec, '\n')); err != nil {
		return e, fmt.Errorf("recording access in cache entry %q: %w", s.display(dir), unwrapPath(err))
	}
	return &updated, nil
}

// mergeMaterial adds to a what b has that a lacks.
func mergeMaterial(a, b trust.Material) trust.Material {
	out := trust.Material{Cosign: slices.Clone(a.Cosign), Bundles: slices.Clone(a.Bundles), Notation: slices.Clone(a.Notation), Attestations: slices.Clone(a.Attestations)}
	for _, x := range b.Attestations {
		if !slices.ContainsFunc(out.Attestations, x.Equal) {
			out.Attestations = append(out.Attestations, x)
		}
	}
	for _, n := range b.Notation {
		if !slices.ContainsFunc(out.Notation, func(h trust.NotationSignature) bool { return string(h.Envelope) == string(n.Envelope) }) {
			out.Notation = append(out.Notation, n)
		}
	}
	for _, s := range b.Cosign {
		if !slices.ContainsFunc(out.Cosign, func(h trust.SimpleSigning) bool {
			return h.Signature == s.Signature && string(h.Payload) == string(s.Payload) && h.Certificate == s.Certificate && h.Bundle == s.Bundle
		}) {
			out.Cosign = append(out.Cosign, s)
		}
	}
	for _, x := range b.Bundles {
		if !slices.ContainsFunc(out.Bundles, func(h []byte) bool { return string(h) == string(x) }) {
			out.Bundles = append(out.Bundles, x)
		}
	}
	return out
}

// Material returns the signature material stored with a proven entry
// (none when there is none or it cannot be read). It is untrusted input:
// the caller verifies it against the keys trusted now.
func (s *ChartStore) Material(e *Entry) trust.Material {
	dir, err := entryDir(e.ManifestDigest)
	if err != nil {
		return trust.Material{}
	}
	raw, err := s.readRegular(path.Join(dir, signaturesFile), maxSignaturesSize)
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
	dir, err := entryDir(e.ManifestDigest)
	if err != nil {
		return nil
	}
	b, err := s.readRegular(path.Join(dir, e.FileName()+".prov"), maxProvSize)
	if err != nil || sha256Digest(b) != e.provDigest {
		return nil
	}
	return b
}

// Blobs returns the manifest and config stored with a proven entry, checked
// again against the entry's digest (nil, nil when they no longer are).
func (s *ChartStore) Blobs(e *Entry) (manifest, config []byte) {
	dir, err := entryDir(e.ManifestDigest)
	if err != nil {
		return nil, nil
	}
	m, err := s.readRegular(path.Join(dir, manifestFile), maxManifestSize)
	if err != nil || sha256Digest(m) != e.ManifestDigest {
		return nil, nil
	}
	layers, err := chartLayers(m)
	if err != nil {
		return nil, nil
	}
	c, err := s.readRegular(path.Join(dir, configFile), chartmeta.MaxConfigSize)
	if err != nil || sha256Digest(c) != layers.config.Digest.String() {
		return nil, nil
	}
	return m, c
}

// touchEvery is how stale "last used" may get before a read updates it: a
// warm run that changes nothing does not rewrite every entry's time.
const touchEvery = time.Hour

// touch marks the entry in dir used now (the mtime of its entry.json).
func (s *ChartStore) touch(dir string) {
	name := path.Join(dir, entryFile)
	info, err := s.lstat(name)
	if err != nil || !info.Mode().IsRegular() || time.Since(info.ModTime()) < touchEvery {
		return
	}
	now := time.Now()
	_ = s.root.Chtimes(name, now, now)
}
