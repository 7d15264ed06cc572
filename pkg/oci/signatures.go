package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/trust"
)

// bundlePredicateAnnotation is the referrer annotation cosign v3 writes with
// a bundle's predicate type.
const bundlePredicateAnnotation = "dev.sigstore.bundle.predicateType"

// maxSignatureManifest bounds a signature manifest or a referrers index.
const maxSignatureManifest = 1 << 20

// repository is an oras-go repository for ref's repository, with the same
// transport, guard and per-host credential as a pull, for signature
// artifacts (bodies limited to trust.MaxPayload).
func (p *Puller) repository(ctx context.Context, ref chartref.Reference, a Auth) (*remote.Repository, func(), error) {
	authorizer, done, err := p.authorizer(ctx, ref, a, false, trust.MaxPayload)
	if err != nil {
		return nil, nil, err
	}
	repo, err := remote.NewRepository(ref.Repo())
	if err != nil {
		return nil, nil, fmt.Errorf("the repository %q: %w", ref.Repo(), err)
	}
	repo.Client = authorizer
	repo.PlainHTTP = p.opts.PlainHTTP || a.Extra.PlainHTTP
	repo.ManifestMediaTypes = []string{ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex}
	return repo, done, nil
}

// CosignSignatures reads the legacy cosign signatures of digest in ref's
// repository: the manifest tagged sha256-<hex>.sig, one simple-signing
// payload per layer. None is not an error.
func (p *Puller) CosignSignatures(ctx context.Context, ref chartref.Reference, dgst string, a Auth) ([]trust.SimpleSigning, error) {
	repo, done, err := p.repository(ctx, ref, a)
	if err != nil {
		return nil, err
	}
	m, err := cosignTagged(ctx, repo, cosignTag(dgst), "cosign signatures", ref, a)
	if err != nil {
		return nil, err
	}
	if m == nil {
		done()
		return nil, nil
	}
	var out []trust.SimpleSigning
	for _, l := range m.Layers {
		if len(out) == trust.MaxSignatures {
			break
		}
		sig, ok := l.Annotations[trust.SignatureAnnotation]
		if l.MediaType != trust.SimpleSigningMediaType || !ok || l.Size > trust.MaxPayload {
			continue
		}
		payload, err := content.FetchAll(ctx, repo.Blobs(), l)
		if err != nil {
			return nil, describeSignatureError(ctx, ref, a, "reading a cosign signature of", err)
		}
		out = append(out, trust.SimpleSigning{Payload: payload, Signature: sig,
			Certificate: l.Annotations[trust.CertificateAnnotation], Chain: l.Annotations[trust.ChainAnnotation], Bundle: l.Annotations[trust.RekorBundleAnnotation]})
	}
	done()
	return out, nil
}

// cosignTagged reads the manifest cosign tags next to a digest (its .sig or
// .att tag): nil when there is none.
func cosignTagged(ctx context.Context, repo *remote.Repository, tag, what string, ref chartref.Reference, a Auth) (*ocispec.Manifest, error) {
	desc, rc, err := repo.FetchReference(ctx, tag)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, describeSignatureError(ctx, ref, a, "reading the "+what+" (tag "+tag+") of", err)
	}
	manifest, err := readAll(rc, desc, maxSignatureManifest)
	if err != nil {
		return nil, describeSignatureError(ctx, ref, a, "reading the "+what+" of", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("reading the %s of %q: the manifest tagged %s is not valid JSON", what, ref.String(), tag)
	}
	return &m, nil
}

// Attestations reads the in-toto attestations of digest in ref's
// repository: the DSSE envelopes of cosign's legacy sha256-<hex>.att tag
// (one per layer, with a keyless one's annotations), and the Sigstore
// bundle referrers that are not signatures (the referrers API, or its tag
// fallback). At most trust.MaxSignatures of each, each at most
// trust.MaxPayload bytes. None is not an error.
func (p *Puller) Attestations(ctx context.Context, ref chartref.Reference, dgst string, a Auth) ([]trust.Attestation, error) {
	repo, done, err := p.repository(ctx, ref, a)
	if err != nil {
		return nil, err
	}
	var out []trust.Attestation
	m, err := cosignTagged(ctx, repo, strings.TrimSuffix(cosignTag(dgst), ".sig")+".att", "cosign attestations", ref, a)
	if err != nil {
		return nil, err
	}
	if m != nil {
		for _, l := range m.Layers {
			if len(out) == trust.MaxSignatures {
				break
			}
			if l.MediaType != trust.DSSEMediaType || l.Size > trust.MaxPayload {
				continue
			}
			env, err := content.FetchAll(ctx, repo.Blobs(), l)
			if err != nil {
				return nil, describeSignatureError(ctx, ref, a, "reading a cosign attestation of", err)
			}
			out = append(out, trust.Attestation{Envelope: env,
				Certificate: l.Annotations[trust.CertificateAnnotation], Chain: l.Annotations[trust.ChainAnnotation], RekorBundle: l.Annotations[trust.RekorBundleAnnotation]})
		}
	}
	found, err := referrersOf(ctx, repo, dgst, func(r ocispec.Descriptor) bool {
		// A signature is not an attestation: not even downloaded.
		return strings.HasPrefix(r.ArtifactType, trust.BundleArtifactTypePrefix) && r.Annotations[bundlePredicateAnnotation] != trust.SignPredicateType
	})
	if err != nil {
		return nil, describeSignatureError(ctx, ref, a, "reading the attestation referrers of", err)
	}
	layers, err := referrerLayers(ctx, repo, found, func(ocispec.Manifest) bool { return true })
	if err != nil {
		return nil, describeSignatureError(ctx, ref, a, "reading an attestation bundle of", err)
	}
	for _, l := range layers {
		out = append(out, trust.Attestation{Bundle: l.data})
	}
	done()
	return out, nil
}

// SigstoreBundles reads the Sigstore bundles stored as OCI 1.1 referrers of
// digest in ref's repository (the referrers API, or its tag fallback
// sha256-<hex> on registries without it). None is not an error.
func (p *Puller) SigstoreBundles(ctx context.Context, ref chartref.Reference, dgst string, a Auth) ([][]byte, error) {
	repo, done, err := p.repository(ctx, ref, a)
	if err != nil {
		return nil, err
	}
	found, err := bundleReferrers(ctx, repo, dgst)
	if err != nil {
		return nil, describeSignatureError(ctx, ref, a, "reading the signature referrers of", err)
	}
	layers, err := referrerLayers(ctx, repo, found, func(ocispec.Manifest) bool { return true })
	if err != nil {
		return nil, describeSignatureError(ctx, ref, a, "reading a signature bundle of", err)
	}
	var out [][]byte
	for _, l := range layers {
		out = append(out, l.data)
	}
	done()
	return out, nil
}

// NotationSignatures reads the Notation signatures of digest in ref's
// repository: the referrers of artifact type
// application/vnd.cncf.notary.signature (the referrers API, or its tag
// fallback), one envelope layer each. None is not an error.
func (p *Puller) NotationSignatures(ctx context.Context, ref chartref.Reference, dgst string, a Auth) ([]trust.NotationSignature, error) {
	repo, done, err := p.repository(ctx, ref, a)
	if err != nil {
		return nil, err
	}
	found, err := referrersOf(ctx, repo, dgst, func(r ocispec.Descriptor) bool { return r.ArtifactType == trust.NotationArtifactType })
	if err != nil {
		return nil, describeSignatureError(ctx, ref, a, "reading the Notation signatures of", err)
	}
	layers, err := referrerLayers(ctx, repo, found, func(m ocispec.Manifest) bool {
		t := m.Layers[0].MediaType
		return len(m.Layers) == 1 && (t == trust.NotationJWS || t == trust.NotationCOSE)
	})
	if err != nil {
		return nil, describeSignatureError(ctx, ref, a, "reading a Notation signature of", err)
	}
	var out []trust.NotationSignature
	for _, l := range layers {
		out = append(out, trust.NotationSignature{MediaType: l.desc.MediaType, Envelope: l.data})
	}
	done()
	return out, nil
}

// bundleReferrers lists the Sigstore bundles among the referrers of digest
// (at most trust.MaxSignatures); a registry without referrers has none.
func bundleReferrers(ctx context.Context, repo *remote.Repository, dgst string) ([]ocispec.Descriptor, error) {
	return referrersOf(ctx, repo, dgst, func(r ocispec.Descriptor) bool {
		// An attestation (another predicate than cosign's signing one) is
		// not a signature: not even downloaded.
		if pt := r.Annotations[bundlePredicateAnnotation]; pt != "" && pt != trust.SignPredicateType {
			return false
		}
		return strings.HasPrefix(r.ArtifactType, trust.BundleArtifactTypePrefix)
	})
}

// signatureReferrers lists every signature and attestation referrer of
// digest: Sigstore bundles and Notation signatures (for bundles of charts).
func signatureReferrers(ctx context.Context, repo *remote.Repository, dgst string) ([]ocispec.Descriptor, error) {
	return referrersOf(ctx, repo, dgst, func(r ocispec.Descriptor) bool {
		return strings.HasPrefix(r.ArtifactType, trust.BundleArtifactTypePrefix) || r.ArtifactType == trust.NotationArtifactType
	})
}

// referrersOf lists the referrers of digest that keep accepts (at most
// trust.MaxSignatures); a registry without referrers has none.
func referrersOf(ctx context.Context, repo *remote.Repository, dgst string, keep func(ocispec.Descriptor) bool) ([]ocispec.Descriptor, error) {
	d, err := digest.Parse(dgst)
	if err != nil {
		return nil, err
	}
	var found []ocispec.Descriptor
	err = repo.Referrers(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d}, "", func(referrers []ocispec.Descriptor) error {
		for _, r := range referrers {
			if keep(r) && len(found) < trust.MaxSignatures {
				found = append(found, r)
			}
		}
		return nil
	})
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	return found, err
}

// referrerLayer is the layer a signature referrer carries, and its bytes.
type referrerLayer struct {
	desc ocispec.Descriptor
	data []byte
}

// referrerLayers reads each referrer's manifest (at most
// maxSignatureManifest bytes) and its first layer, the signature (at most
// trust.MaxPayload bytes). A referrer that is too large, not a manifest
// with a layer, or one accept refuses is skipped: it is not a signature
// ocisrc reads.
func referrerLayers(ctx context.Context, repo *remote.Repository, found []ocispec.Descriptor, accept func(ocispec.Manifest) bool) ([]referrerLayer, error) {
	var out []referrerLayer
	for _, r := range found {
		if r.Size > maxSignatureManifest {
			continue
		}
		manifest, err := content.FetchAll(ctx, repo.Manifests(), r)
		if err != nil {
			return nil, err
		}
		var m ocispec.Manifest
		if json.Unmarshal(manifest, &m) != nil || len(m.Layers) == 0 || !accept(m) {
			continue
		}
		l := m.Layers[0]
		if l.Size > trust.MaxPayload {
			continue
		}
		data, err := content.FetchAll(ctx, repo.Blobs(), l)
		if err != nil {
			return nil, err
		}
		out = append(out, referrerLayer{desc: l, data: data})
	}
	return out, nil
}

// cosignTag is the tag cosign stores digest's legacy signatures under.
func cosignTag(dgst string) string { return strings.Replace(dgst, ":", "-", 1) + ".sig" }

// readAll reads a fetched manifest, at most limit bytes, checked against desc.
func readAll(rc interface {
	Read([]byte) (int, error)
	Close() error
}, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	defer rc.Close()
	if desc.Size > limit {
		return nil, fmt.Errorf("a signature manifest of %d bytes (at most %d)", desc.Size, limit)
	}
	return content.ReadAll(rc, desc)
}

// describeSignatureError says which signatures could not be read and why.
func describeSignatureError(ctx context.Context, ref chartref.Reference, a Auth, doing string, err error) error {
	e := describePullError(ctx, ref, a, err)
	return &signatureError{doing: doing, err: e}
}

type signatureError struct {
	doing string
	err   error
}

func (e *signatureError) Error() string {
	return e.doing + " " + strings.TrimPrefix(e.err.Error(), "pulling ")
}
func (e *signatureError) Unwrap() error { return e.err }

// Artifact is a signature artifact as stored in a registry, for bundles: a
// manifest and the tag it has (a legacy .sig) or none (a referrer, found by
// its subject). Its blobs went to the BlobSink as they were read.
type Artifact struct {
	MediaType string
	Manifest  []byte
	Tag       string
}

// BlobSink receives blobs as they are downloaded (a bundle being written):
// nothing is held in memory. Push checks the content against the
// descriptor.
type BlobSink interface {
	Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error)
	Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error
}

// Budgets on the signature artifacts of one chart that a bundle carries:
// what a registry sends is bounded before it is read, whatever its
// referrers list says (the same blob listed many times counts once, and is
// read once).
const (
	// MaxSignatureArtifacts bounds the signature manifests per chart.
	MaxSignatureArtifacts = 16
	// MaxSignatureBytes bounds their manifests and distinct blobs, together.
	MaxSignatureBytes = 8 << 20
)

// SignatureBudgetError is a chart whose signature artifacts exceed a budget.
type SignatureBudgetError struct {
	Ref    string
	Reason string
}

func (e *SignatureBudgetError) Error() string {
	return fmt.Sprintf("the signatures of %s: %s; refusing to bundle them (at most %d signature artifacts and %d MiB per chart)", e.Ref, e.Reason, MaxSignatureArtifacts, MaxSignatureBytes>>20)
}

// SignatureArtifacts reads every signature and attestation artifact of
// digest in ref's repository, byte for byte: the legacy sha256-<hex>.sig
// and .att manifests and their blobs, and the Sigstore bundle and Notation
// referrers with theirs. Blobs are streamed
// into sink (each checked against its digest); the artifacts (manifests) are
// returned. Beyond MaxSignatureArtifacts artifacts or MaxSignatureBytes
// bytes it refuses, before reading more.
func (p *Puller) SignatureArtifacts(ctx context.Context, ref chartref.Reference, dgst string, a Auth, sink BlobSink) ([]Artifact, error) {
	repo, done, err := p.repository(ctx, ref, a)
	if err != nil {
		return nil, err
	}
	var out []Artifact
	var spent int64
	seen := map[digest.Digest]bool{}
	over := func(format string, args ...any) error {
		return &SignatureBudgetError{Ref: ref.String(), Reason: fmt.Sprintf(format, args...)}
	}
	read := func(desc ocispec.Descriptor, tag string) error {
		if len(out) >= MaxSignatureArtifacts {
			return over("more than %d signature artifacts", MaxSignatureArtifacts)
		}
		if desc.Size > maxSignatureManifest {
			return over("a signature manifest of %d bytes", desc.Size)
		}
		if spent += desc.Size; spent > MaxSignatureBytes {
			return over("more than %d MiB", MaxSignatureBytes>>20)
		}
		data, err := content.FetchAll(ctx, repo.Manifests(), desc)
		if err != nil {
			return err
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			return over("a signature manifest that is not JSON")
		}
		blobs := append([]ocispec.Descriptor{m.Config}, m.Layers...)
		if len(blobs) > trust.MaxSignatures+1 {
			return over("a signature manifest of %d layers", len(m.Layers))
		}
		for _, b := range blobs {
			if b.Size > trust.MaxPayload || b.Size < 0 {
				return over("a signature blob of %d bytes", b.Size)
			}
			if seen[b.Digest] {
				continue
			}
			seen[b.Digest] = true
			if ok, err := sink.Exists(ctx, b); err == nil && ok {
				continue
			}
			if spent += b.Size; spent > MaxSignatureBytes {
				return over("more than %d MiB", MaxSignatureBytes>>20)
			}
			rc, err := repo.Blobs().Fetch(ctx, b)
			if err != nil {
				return err
			}
			err = sink.Push(ctx, b, io.LimitReader(rc, b.Size))
			_ = rc.Close()
			if err != nil {
				return err
			}
		}
		out = append(out, Artifact{MediaType: desc.MediaType, Manifest: data, Tag: tag})
		return nil
	}
	fail := func(doing string, err error) ([]Artifact, error) {
		var be *SignatureBudgetError
		if errors.As(err, &be) {
			return nil, clierror.WithHint(be, "ask the chart's publisher why it has so many signature artifacts; the chart itself can still be fetched")
		}
		return nil, describeSignatureError(ctx, ref, a, doing, err)
	}
	// The legacy tags: signatures (.sig) and attestations (.att).
	for _, tag := range []string{cosignTag(dgst), strings.TrimSuffix(cosignTag(dgst), ".sig") + ".att"} {
		desc, err := repo.Resolve(ctx, tag)
		switch {
		case errors.Is(err, errdef.ErrNotFound):
		case err != nil:
			return fail("reading the cosign signatures of", err)
		default:
			if err := read(desc, tag); err != nil {
				return fail("reading the cosign signatures of", err)
			}
		}
	}
	referrers, err := signatureReferrers(ctx, repo, dgst)
	if err != nil {
		return fail("reading the signature referrers of", err)
	}
	for _, r := range referrers {
		if err := read(r, ""); err != nil {
			return fail("reading a signature referrer of", err)
		}
	}
	done()
	return out, nil
}

// Repository is an oras-go repository for ref's repository with a's
// credential (for that host only), TLS material and ocisrc's request guard:
// for pushing bundles.
func (p *Puller) Repository(ctx context.Context, ref chartref.Reference, a Auth) (*remote.Repository, error) {
	authorizer, _, err := p.authorizer(ctx, ref, a, false, 0)
	if err != nil {
		return nil, err
	}
	repo, err := remote.NewRepository(ref.Repo())
	if err != nil {
		return nil, fmt.Errorf("the repository %q: %w", ref.Repo(), err)
	}
	repo.Client = authorizer
	repo.PlainHTTP = p.opts.PlainHTTP || a.Extra.PlainHTTP
	// Registries without the referrers API get the referrers tag; the old
	// index is left (deleting needs a registry that allows it).
	repo.SkipReferrersGC = true
	return repo, nil
}
