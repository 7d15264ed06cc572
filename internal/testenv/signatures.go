package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Media types of signature artifacts, as cosign writes them.
const (
	simpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	bundleMediaType        = "application/vnd.dev.sigstore.bundle.v0.3+json"
	provMediaType          = "application/vnd.cncf.helm.chart.provenance.v1.prov"
)

// PushCosignSignature pushes a legacy cosign signature of subject (a
// manifest digest) to repo, as cosign sign does without the new bundle
// format: the manifest tagged sha256-<hex>.sig with one simple-signing layer
// per signature.
func (r *Registry) PushCosignSignature(ctx context.Context, repo, subject string, cred auth.Credential, sigs ...[2]string) error {
	var layers []LegacyLayer
	for _, s := range sigs {
		layers = append(layers, LegacyLayer{MediaType: simpleSigningMediaType, Data: []byte(s[0]), Annotations: map[string]string{"dev.cosignproject.cosign/signature": s[1]}})
	}
	return r.PushLegacy(ctx, repo, subject, ".sig", cred, layers...)
}

// LegacyLayer is one layer of a legacy .sig or .att manifest: its media
// type, its bytes and its annotations.
type LegacyLayer struct {
	MediaType   string
	Data        []byte
	Annotations map[string]string
}

// PushLegacy pushes a manifest of layers tagged sha256-<hex of subject>
// with suffix (.sig, .att), as cosign does without the new bundle format.
func (r *Registry) PushLegacy(ctx context.Context, repo, subject, suffix string, cred auth.Credential, layers ...LegacyLayer) error {
	dst, err := r.RepositoryAs(repo, cred)
	if err != nil {
		return err
	}
	var descs []ocispec.Descriptor
	for _, l := range layers {
		d := ocispec.Descriptor{MediaType: l.MediaType, Digest: digest.FromBytes(l.Data), Size: int64(len(l.Data)), Annotations: l.Annotations}
		if err := dst.Push(ctx, d, bytes.NewReader(l.Data)); err != nil && !strings.Contains(err.Error(), "already exists") {
			return err
		}
		descs = append(descs, d)
	}
	cfg := []byte(`{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`)
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	if err := dst.Push(ctx, cfgDesc, bytes.NewReader(cfg)); err != nil && !strings.Contains(err.Error(), "already exists") {
		return err
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: descs}
	m.SchemaVersion = 2
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(data), Size: int64(len(data))}
	return dst.PushReference(ctx, desc, bytes.NewReader(data), strings.Replace(subject, ":", "-", 1)+suffix)
}

// PushBundleReferrer pushes a Sigstore bundle as an OCI 1.1 referrer of the
// subject manifest, as cosign v3 does: oras-go keeps the referrers tag
// (sha256-<hex>) for registries without the referrers API.
func (r *Registry) PushBundleReferrer(ctx context.Context, repo string, subject ocispec.Descriptor, bundle []byte, cred auth.Credential) error {
	return r.PushAttestationReferrer(ctx, repo, subject, bundle, "https://sigstore.dev/cosign/sign/v1", cred)
}

// PushAttestationReferrer pushes a Sigstore bundle of an in-toto statement
// of predicateType as a referrer of the subject manifest, as cosign v3's
// attest and GitHub's attest-build-provenance (push-to-registry) do.
func (r *Registry) PushAttestationReferrer(ctx context.Context, repo string, subject ocispec.Descriptor, bundle []byte, predicateType string, cred auth.Credential) error {
	dst, err := r.RepositoryAs(repo, cred)
	if err != nil {
		return err
	}
	dst.SkipReferrersGC = true
	layer := ocispec.Descriptor{MediaType: bundleMediaType, Digest: digest.FromBytes(bundle), Size: int64(len(bundle))}
	if err := dst.Push(ctx, layer, bytes.NewReader(bundle)); err != nil {
		return err
	}
	_, err = oras.PackManifest(ctx, dst, oras.PackManifestVersion1_1, bundleMediaType, oras.PackManifestOptions{
		Subject: &subject,
		Layers:  []ocispec.Descriptor{layer},
		ManifestAnnotations: map[string]string{
			"dev.sigstore.bundle.content":       "dsse-envelope",
			"dev.sigstore.bundle.predicateType": predicateType,
			ocispec.AnnotationCreated:           "2026-01-01T00:00:00Z",
		},
	})
	return err
}

// PushChartWithProv pushes c with a provenance layer, as helm push does when
// <chart>.tgz.prov lies beside the archive, tagged with its version.
func (r *Registry) PushChartWithProv(ctx context.Context, repo string, c *Chart, prov []byte, cred auth.Credential) (*Pushed, error) {
	return r.pushChartLayers(ctx, repo, c, cred, &Layer{MediaType: provMediaType, Data: prov})
}

// ReferrerLayer reads the first layer of the first referrer of subject in
// repo (anonymously): a bundle or an envelope, as pushed.
func (r *Registry) ReferrerLayer(ctx context.Context, repo string, subject ocispec.Descriptor) ([]byte, error) {
	src, err := r.RepositoryAs(repo, auth.Credential{})
	if err != nil {
		return nil, err
	}
	var refs []ocispec.Descriptor
	if err := src.Referrers(ctx, subject, "", func(got []ocispec.Descriptor) error {
		refs = append(refs, got...)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("%s has no referrer", subject.Digest)
	}
	data, err := content.FetchAll(ctx, src, refs[0])
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil || len(m.Layers) == 0 {
		return nil, fmt.Errorf("the referrer %s has no layer", refs[0].Digest)
	}
	return content.FetchAll(ctx, src, m.Layers[0])
}

// NotationArtifactType is the artifact type of a Notation signature.
const NotationArtifactType = "application/vnd.cncf.notary.signature"

// PushNotationReferrer pushes a Notation signature envelope (mediaType
// application/jose+json or application/cose) as an OCI 1.1 referrer of the
// subject manifest, as notation sign does.
func (r *Registry) PushNotationReferrer(ctx context.Context, repo string, subject ocispec.Descriptor, envelope []byte, mediaType string, cred auth.Credential) error {
	dst, err := r.RepositoryAs(repo, cred)
	if err != nil {
		return err
	}
	dst.SkipReferrersGC = true
	layer := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(envelope), Size: int64(len(envelope))}
	if err := dst.Push(ctx, layer, bytes.NewReader(envelope)); err != nil {
		return err
	}
	_, err = oras.PackManifest(ctx, dst, oras.PackManifestVersion1_1, NotationArtifactType, oras.PackManifestOptions{
		Subject: &subject,
		Layers:  []ocispec.Descriptor{layer},
		ManifestAnnotations: map[string]string{
			"io.cncf.notary.x509chain.thumbprint#S256": `["0000"]`,
			ocispec.AnnotationCreated:                  "2026-01-01T00:00:00Z",
		},
	})
	return err
}

// CopyReferrers copies every referrer of from (a manifest in repo) to to
// (another manifest in the same repository), byte for byte but for the
// subject: a signature replayed onto another chart.
func (r *Registry) CopyReferrers(ctx context.Context, repo string, from, to ocispec.Descriptor) error {
	repository, err := r.RepositoryAs(repo, auth.Credential{})
	if err != nil {
		return err
	}
	repository.SkipReferrersGC = true
	var refs []ocispec.Descriptor
	if err := repository.Referrers(ctx, from, "", func(got []ocispec.Descriptor) error {
		refs = append(refs, got...)
		return nil
	}); err != nil {
		return err
	}
	if len(refs) == 0 {
		return fmt.Errorf("%s has no referrer", from.Digest)
	}
	for _, ref := range refs {
		data, err := content.FetchAll(ctx, repository, ref)
		if err != nil {
			return err
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			return err
		}
		m.Subject = &to
		out, err := json.Marshal(m)
		if err != nil {
			return err
		}
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: m.ArtifactType, Digest: digest.FromBytes(out), Size: int64(len(out))}
		if err := repository.Push(ctx, desc, bytes.NewReader(out)); err != nil {
			return err
		}
	}
	return nil
}
