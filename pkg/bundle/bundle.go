// Package bundle writes, reads and pushes OCI image layout bundles of
// charts, to carry them across an air gap: a tar of a standard OCI image
// layout (oci-layout, index.json, blobs/sha256/…) holding each chart's
// manifest, config, chart layer and .prov layer byte for byte, with its
// cosign signatures (the .sig manifest and the Sigstore bundle referrers).
// The layout is oras-go's OCI store; this package adds the atomic tar, the
// verification of every blob before anything is used, and the push that
// keeps each repository path under a new prefix.
package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"

	"github.com/ocisrc/ocisrc/pkg/chartmeta"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/place"
)

// Annotations ocisrc puts on the index entries of a bundle, beside
// org.opencontainers.image.ref.name (host/repository:tag).
const (
	// AnnotationReference is the chart's original oci:// reference.
	AnnotationReference = "dev.ocisrc.reference"
	// AnnotationKind is chart, signature (a tagged .sig) or referrer.
	AnnotationKind = "dev.ocisrc.kind"
	// AnnotationRepository is the repository (host/path) an entry belongs to.
	AnnotationRepository = "dev.ocisrc.repository"
	// AnnotationTag is the tag the entry had in its repository.
	AnnotationTag = "dev.ocisrc.tag"
)

// Kinds of index entries.
const (
	KindChart     = "chart"
	KindSignature = "signature"
	KindReferrer  = "referrer"
)

// MaxBlob bounds a blob in a bundle.
const MaxBlob = 1 << 30

// Artifact is a manifest and its blobs (config first, then layers), as the
// registry served them. Blobs may be given here, in memory, or pushed to
// the Writer before the artifact is added.
type Artifact struct {
	MediaType string
	Manifest  []byte
	Blobs     [][]byte
	// Tag is the artifact's tag in its repository ("" for a referrer).
	Tag string
}

// Chart is a chart to put into a bundle.
type Chart struct {
	// Reference is the original oci:// reference.
	Reference string
	// Repository is host[:port]/path; Tag the chart's tag there.
	Repository string
	Tag        string
	Artifact
	// Signatures are its cosign .sig manifest and bundle referrers.
	Signatures []Artifact
}

// Write writes a bundle of charts (their blobs in memory) to path
// atomically; see Writer.
func Write(ctx context.Context, path string, charts []Chart) (int64, error) {
	w, err := Create(ctx, path)
	if err != nil {
		return 0, err
	}
	defer w.Abort()
	for _, c := range charts {
		if err := w.AddChart(ctx, c); err != nil {
			return 0, err
		}
	}
	return w.Commit(ctx)
}

// Writer writes a bundle to a path atomically: the layout is built in a
// temporary directory beside the path, blob by blob as they are pushed (a
// chart's archive and signatures go to disk as they arrive, never whole into
// memory), then tarred into a temporary file there, synced, and renamed to
// the path by Commit. Abort (or a Commit that fails, or a cancelled ctx)
// leaves nothing.
type Writer struct {
	path, tmpDir, layout string
	store                *oci.Store
}

// Create starts a bundle at path.
func Create(ctx context.Context, path string) (*Writer, error) {
	dir := filepath.Dir(path)
	tmpDir, err := os.MkdirTemp(dir, ".ocisrc-bundle-")
	if err != nil {
		return nil, fmt.Errorf("writing the bundle %q: %w", path, err)
	}
	layout := filepath.Join(tmpDir, "layout")
	store, err := oci.NewWithContext(ctx, layout)
	if err != nil {
		_ = os.RemoveAll(tmpDir)
		return nil, err
	}
	store.AutoSaveIndex = false
	return &Writer{path: path, tmpDir: tmpDir, layout: layout, store: store}, nil
}

// Exists reports whether the bundle holds the blob.
func (w *Writer) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	return w.store.Exists(ctx, desc)
}

// Push stores a blob from r, checked against desc's digest and size as it
// is written; a blob already there is not read again.
func (w *Writer) Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	if ok, err := w.store.Exists(ctx, desc); err == nil && ok {
		return nil
	}
	if err := w.store.Push(ctx, desc, r); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return err
	}
	return nil
}

// AddChart adds a chart and its signatures: their in-memory blobs are
// pushed, and every blob their manifests name must be in the bundle by then
// (pushed before with Push).
func (w *Writer) AddChart(ctx context.Context, c Chart) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	desc, err := w.push(ctx, c.Artifact, map[string]string{
		AnnotationKind: KindChart, AnnotationReference: c.Reference, AnnotationRepository: c.Repository, AnnotationTag: c.Tag,
	})
	if err != nil {
		return fmt.Errorf("writing %s into the bundle: %w", c.Reference, err)
	}
	if err := w.store.Tag(ctx, desc, c.Repository+":"+c.Tag); err != nil {
		return err
	}
	for _, s := range c.Signatures {
		kind := KindReferrer
		if s.Tag != "" {
			kind = KindSignature
		}
		sd, err := w.push(ctx, s, map[string]string{AnnotationKind: kind, AnnotationRepository: c.Repository, AnnotationTag: s.Tag})
		if err != nil {
			return fmt.Errorf("writing a signature of %s into the bundle: %w", c.Reference, err)
		}
		if s.Tag != "" {
			if err := w.store.Tag(ctx, sd, c.Repository+":"+s.Tag); err != nil {
				return err
			}
		}
	}
	return nil
}

// Commit writes the tar and renames it into place; it returns its size.
func (w *Writer) Commit(ctx context.Context) (int64, error) {
	defer w.Abort()
	if err := w.store.SaveIndex(); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(w.path), ".ocisrc-bundle-*.tar")
	if err != nil {
		return 0, fmt.Errorf("writing the bundle %q: %w", w.path, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tarDir(ctx, tmp, w.layout); err != nil {
		return 0, fmt.Errorf("writing the bundle %q: %w", w.path, err)
	}
	if err := tmp.Sync(); err != nil {
		return 0, err
	}
	info, err := tmp.Stat()
	if err != nil {
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), w.path); err != nil {
		return 0, fmt.Errorf("writing the bundle %q: %w", w.path, err)
	}
	ok = true
	return info.Size(), nil
}

// Abort removes what was written; it is a no-op after Commit.
func (w *Writer) Abort() { _ = os.RemoveAll(w.tmpDir) }

// push stores an artifact's in-memory blobs and manifest, checks that every
// blob the manifest names is there, and returns the manifest's descriptor,
// with annotations for the index.
func (w *Writer) push(ctx context.Context, a Artifact, annotations map[string]string) (ocispec.Descriptor, error) {
	for _, b := range a.Blobs {
		d := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := w.Push(ctx, d, bytes.NewReader(b)); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(a.Manifest, &m); err != nil {
		return ocispec.Descriptor{}, errors.New("the manifest is not JSON")
	}
	for _, b := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if b.Digest == "" {
			continue
		}
		if ok, err := w.store.Exists(ctx, b); err != nil || !ok {
			return ocispec.Descriptor{}, fmt.Errorf("blob %s of the manifest was not given", b.Digest)
		}
	}
	mediaType := a.MediaType
	if mediaType == "" {
		mediaType = ocispec.MediaTypeImageManifest
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(a.Manifest), Size: int64(len(a.Manifest)), Annotations: annotations}
	if err := w.store.Push(ctx, desc, bytes.NewReader(a.Manifest)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

// tarDir writes the files under root into w as a tar, in a stable order.
func tarDir(ctx context.Context, w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, p := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: info.Size(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		_ = f.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// Entry is one chart in a bundle, as `bundle list` shows it.
type Entry struct {
	Reference  string `json:"reference"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
	Chart      string `json:"chart"`
	Version    string `json:"version"`
	// Size is the chart's manifest and blobs, in bytes.
	Size int64 `json:"size"`
	// Signatures counts its signature artifacts (.sig and referrers).
	Signatures int `json:"signatures"`

	// desc is the chart manifest's index entry: what push pushes.
	desc ocispec.Descriptor
}

// Bundle is an opened bundle: extracted and verified in a temporary
// directory. Close removes it.
type Bundle struct {
	dir     string
	store   *oci.ReadOnlyStore
	index   ocispec.Index
	entries []Entry
}

var blobName = regexp.MustCompile(`^blobs/sha256/([a-f0-9]{64})$`)

// Open extracts the bundle at path into a temporary directory, checking
// every blob against its digest as it goes and every manifest's blobs for
// presence: a truncated or tampered bundle is an error naming the blob, and
// nothing has been used from it.
func Open(ctx context.Context, path string) (*Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the bundle %q: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("opening the bundle %q: %w", path, errors.Unwrap(err))
	}
	dir, err := os.MkdirTemp("", "ocisrc-bundle-")
	if err != nil {
		return nil, err
	}
	b := &Bundle{dir: dir}
	if err := b.extract(ctx, f, path, info.Size()); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.load(ctx, path); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Close removes the extracted bundle.
func (b *Bundle) Close() { _ = os.RemoveAll(b.dir) }

// extract writes the layout's files out of the tar. It never writes more
// bytes than the tar file holds (a sparse entry, which expands holes into
// bytes that are not in the file, is refused outright), so a small bundle
// cannot fill the disk.
func (b *Bundle) extract(ctx context.Context, r io.Reader, path string, budget int64) error {
	tr := tar.NewReader(r)
	current := ""
	var written int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if current != "" {
				return fmt.Errorf("the bundle %q is truncated or damaged after %s: %w", path, current, err)
			}
			return fmt.Errorf("the bundle %q is not a tar archive: %w", path, err)
		}
		name := path2slash(h.Name)
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if sparse(h) {
			return fmt.Errorf("the bundle %q holds %+q as a sparse file, which a bundle never holds: refusing to expand it", path, h.Name)
		}
		m := blobName.FindStringSubmatch(name)
		if h.Typeflag != tar.TypeReg || (m == nil && name != "oci-layout" && name != "index.json") {
			return fmt.Errorf("the bundle %q holds %+q, which is not part of an OCI image layout", path, h.Name)
		}
		if h.Size > MaxBlob {
			return fmt.Errorf("the bundle %q holds %s of %d bytes (at most %d)", path, name, h.Size, MaxBlob)
		}
		if written += h.Size; written > budget {
			return fmt.Errorf("the bundle %q claims more content (%d bytes so far) than the file holds (%d bytes): refusing to extract it", path, written, budget)
		}
		current = name
		target := filepath.Join(b.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("the bundle %q holds %s twice", path, name)
		}
		hash := sha256.New()
		n, err := io.Copy(io.MultiWriter(out, hash), io.LimitReader(tr, h.Size))
		_ = out.Close()
		if err != nil || n != h.Size {
			return fmt.Errorf("the bundle %q is truncated: blob %s is cut short", path, blobDigest(name))
		}
		if m != nil {
			if got := hex.EncodeToString(hash.Sum(nil)); got != m[1] {
				return fmt.Errorf("the bundle %q is damaged: blob sha256:%s hashes to sha256:%s", path, m[1], got)
			}
		}
	}
}

// sparse reports a tar entry in any of the sparse formats (old GNU, or the
// PAX GNU.sparse.* records, which the reader expands silently).
func sparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func path2slash(p string) string {
	return strings.TrimPrefix(path.Clean(strings.ReplaceAll(p, "\\", "/")), "./")
}

func blobDigest(name string) string {
	if m := blobName.FindStringSubmatch(name); m != nil {
		return "sha256:" + m[1]
	}
	return name
}

func (b *Bundle) load(ctx context.Context, path string) error {
	raw, err := os.ReadFile(filepath.Join(b.dir, "index.json"))
	if err != nil {
		return fmt.Errorf("the bundle %q is truncated, or not an OCI image layout: it has no index.json", path)
	}
	if err := json.Unmarshal(raw, &b.index); err != nil {
		return fmt.Errorf("the bundle %q has an index.json that is not JSON", path)
	}
	have := func(d digest.Digest) bool {
		_, err := os.Stat(filepath.Join(b.dir, "blobs", d.Algorithm().String(), d.Encoded()))
		return d.Algorithm() == digest.SHA256 && err == nil
	}
	signatures := map[string]int{}
	tagged := map[string]bool{}
	for i, desc := range b.index.Manifests {
		// Every entry is one ocisrc wrote, and names its place once: push
		// pushes exactly the entries list shows, by digest, never an entry
		// that wins a tag over another.
		kind := desc.Annotations[AnnotationKind]
		if kind != KindChart && kind != KindSignature && kind != KindReferrer {
			return fmt.Errorf("the bundle %q: index entry %d (manifest %s) is not a chart or a signature ocisrc bundles (annotation %s is %+q): refusing the bundle", path, i, desc.Digest, AnnotationKind, kind)
		}
		if kind != KindReferrer {
			at := desc.Annotations[AnnotationRepository] + ":" + desc.Annotations[AnnotationTag]
			if tagged[at] {
				return fmt.Errorf("the bundle %q: two index entries name %+q: refusing the bundle, which could push a manifest its listing does not show", path, at)
			}
			tagged[at] = true
		}
		if err := desc.Digest.Validate(); err != nil || !have(desc.Digest) {
			return fmt.Errorf("the bundle %q is truncated: manifest %s is missing", path, desc.Digest)
		}
		data, err := os.ReadFile(filepath.Join(b.dir, "blobs", "sha256", desc.Digest.Encoded()))
		if err != nil {
			return err
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("the bundle %q: manifest %s is not JSON", path, desc.Digest)
		}
		size := desc.Size
		for _, blob := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if blob.Digest == "" {
				continue
			}
			if err := blob.Digest.Validate(); err != nil || !have(blob.Digest) {
				return fmt.Errorf("the bundle %q is truncated: blob %s of manifest %s is missing", path, blob.Digest, desc.Digest)
			}
			size += blob.Size
		}
		if err := checkPlace(desc.Annotations[AnnotationRepository], desc.Annotations[AnnotationTag], kind == KindReferrer); err != nil {
			return fmt.Errorf("the bundle %q: manifest %s %w", path, desc.Digest, err)
		}
		switch kind {
		case KindChart:
			e := Entry{
				Reference:  desc.Annotations[AnnotationReference],
				Repository: desc.Annotations[AnnotationRepository],
				Tag:        desc.Annotations[AnnotationTag],
				Digest:     desc.Digest.String(),
				Size:       size,
				desc:       desc,
			}
			// What a bundle names is outside text: checked before it is
			// listed, printed or pushed.
			if _, err := chartref.Parse(e.Reference); err != nil {
				return fmt.Errorf("the bundle %q: manifest %s names the reference %+q, which is not an oci:// chart reference", path, desc.Digest, e.Reference)
			}
			cfg, err := os.ReadFile(filepath.Join(b.dir, "blobs", "sha256", m.Config.Digest.Encoded()))
			if err != nil {
				return fmt.Errorf("the bundle %q is truncated: the config of manifest %s is missing", path, desc.Digest)
			}
			meta, err := chartmeta.FromConfig(cfg)
			if err != nil {
				return fmt.Errorf("the bundle %q: manifest %s is not a chart Helm would load: %w", path, desc.Digest, err)
			}
			e.Chart, e.Version = meta.Name, meta.Version
			b.entries = append(b.entries, e)
		case KindSignature:
			// A tagged signature is cosign's .sig or .att of a digest:
			// a bundle cannot push anything else under a tag.
			subject, ok := taggedSubject(desc.Annotations[AnnotationTag])
			if !ok {
				return fmt.Errorf("the bundle %q: signature manifest %s is tagged %+q, not sha256-<hex>.sig or .att: refusing the bundle", path, desc.Digest, desc.Annotations[AnnotationTag])
			}
			signatures[desc.Annotations[AnnotationRepository]+"@"+subject]++
		case KindReferrer:
			if m.Subject != nil {
				signatures[desc.Annotations[AnnotationRepository]+"@"+m.Subject.Digest.String()]++
			}
		}
	}
	for i, e := range b.entries {
		b.entries[i].Signatures = signatures[e.Repository+"@"+e.Digest]
	}
	store, err := oci.NewFromFS(ctx, os.DirFS(b.dir))
	if err != nil {
		return fmt.Errorf("the bundle %q is not a valid OCI image layout: %w", path, err)
	}
	b.store = store
	return nil
}

// checkPlace checks the repository and tag an index entry names (a bundle
// comes from elsewhere; push builds its targets from them): host/path as a
// registry reference allows, and a valid tag (none for a referrer).
func checkPlace(repository, tag string, referrer bool) error {
	at, err := place.ParsePlace(repository)
	if err != nil || at.Path() == "" || at.String() != repository {
		return fmt.Errorf("names the repository %+q, not host/path in canonical form", repository)
	}
	ref := repository
	if !referrer || tag != "" {
		ref += ":" + tag
	}
	if _, err := registry.ParseReference(ref); err != nil {
		return fmt.Errorf("names %+q, which is not a valid repository and tag", ref)
	}
	return nil
}

// signatureTag is the tag of cosign's legacy signatures and attestations.
var signatureTag = regexp.MustCompile(`^sha256-([0-9a-f]{64})\.(sig|att)$`)

// taggedSubject is the digest whose .sig or .att tag is tag.
func taggedSubject(tag string) (string, bool) {
	m := signatureTag.FindStringSubmatch(tag)
	if m == nil {
		return "", false
	}
	return "sha256:" + m[1], true
}

// Entries lists the charts in the bundle.
func (b *Bundle) Entries() []Entry { return b.entries }

// Pushed is one chart pushed.
type Pushed struct {
	Entry
	// Target is host[:port]/path/… the chart was pushed to.
	Target     string `json:"target"`
	Signatures int    `json:"signatures"`
}

// Push copies every chart to the repository with the same path under to
// (registry.example.com/charts/app pushed to mirror.internal:5000/base lands
// at mirror.internal:5000/base/charts/app), each manifest byte for byte (so
// its digest is kept), with its tag and its signatures. repoFor returns the
// target repository for host[:port]/path.
func (b *Bundle) Push(ctx context.Context, to string, repoFor func(repository string) (oras.Target, error)) ([]Pushed, error) {
	var out []Pushed
	byRepo := map[string][]ocispec.Descriptor{}
	for _, desc := range b.index.Manifests {
		if k := desc.Annotations[AnnotationKind]; k == KindSignature || k == KindReferrer {
			byRepo[desc.Annotations[AnnotationRepository]] = append(byRepo[desc.Annotations[AnnotationRepository]], desc)
		}
	}
	pushed := map[string]bool{}
	for _, e := range b.entries {
		_, pathPart, _ := strings.Cut(e.Repository, "/")
		target := strings.TrimSuffix(to, "/") + "/" + pathPart
		dst, err := repoFor(target)
		if err != nil {
			return out, err
		}
		desc := e.desc
		if err := pushTagged(ctx, b.store, dst, desc, e.Tag); err != nil {
			return out, fmt.Errorf("pushing %s to %s: %w", e.Reference, target, err)
		}
		p := Pushed{Entry: e, Target: target + ":" + e.Tag + "@" + desc.Digest.String()}
		if !pushed[e.Repository] {
			pushed[e.Repository] = true
			for _, sd := range byRepo[e.Repository] {
				if sd.Annotations[AnnotationKind] == KindSignature {
					tag := sd.Annotations[AnnotationTag]
					if err := pushTagged(ctx, b.store, dst, sd, tag); err != nil {
						return out, fmt.Errorf("pushing the signature %s of %s to %s: %w", tag, e.Reference, target, err)
					}
				} else if err := oras.CopyGraph(ctx, b.store, dst, stripped(sd), oras.DefaultCopyGraphOptions); err != nil {
					return out, fmt.Errorf("pushing a signature referrer of %s to %s: %w", e.Reference, target, err)
				}
			}
		}
		for _, sd := range byRepo[e.Repository] {
			if subject, ok := taggedSubject(sd.Annotations[AnnotationTag]); ok && sd.Annotations[AnnotationKind] == KindSignature && subject == e.Digest {
				p.Signatures++
			}
			if sd.Annotations[AnnotationKind] == KindReferrer {
				if m, err := content.FetchAll(ctx, b.store, sd); err == nil {
					var man ocispec.Manifest
					if json.Unmarshal(m, &man) == nil && man.Subject != nil && man.Subject.Digest.String() == e.Digest {
						p.Signatures++
					}
				}
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// pushTagged copies the manifest desc (by its digest, with everything it
// names) to dst and tags it there explicitly.
func pushTagged(ctx context.Context, src content.ReadOnlyStorage, dst oras.Target, desc ocispec.Descriptor, tag string) error {
	plain := stripped(desc)
	if err := oras.CopyGraph(ctx, src, dst, plain, oras.DefaultCopyGraphOptions); err != nil {
		return err
	}
	return dst.Tag(ctx, plain, tag)
}

// stripped is a descriptor without ocisrc's index annotations, as the
// registry should see it.
func stripped(d ocispec.Descriptor) ocispec.Descriptor {
	d.Annotations = nil
	return d
}
