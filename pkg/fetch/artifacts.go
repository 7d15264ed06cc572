package fetch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocisrc/ocisrc/pkg/bundle"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/trust"
)

// Media types of a Helm chart's layers, as helm push writes them.
const (
	chartLayerMediaType       = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	legacyChartLayerMediaType = "application/tar+gzip"
)

// Artifacts returns what a bundle holds of a Component's chart, after Fetch
// placed it in the cache: its manifest, config and layers byte for byte
// (from the cache; an entry written before ocisrc kept manifests is pulled
// once more and completed), and its cosign signatures as the place it comes
// from serves them (mirrors first, then the origin).
func (f *Fetcher) Artifacts(ctx context.Context, c component.Component, res Result) (*bundle.Chart, error) {
	r, err := f.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	e, path, err := f.Store.Get(res.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading %s from the cache: %w", res.Digest, err)
	}
	pinned := r.Ref
	pinned.Digest = e.ManifestDigest
	manifest, config := f.Store.Blobs(e)
	var m ocispec.Manifest
	if manifest == nil || json.Unmarshal(manifest, &m) != nil {
		return nil, fmt.Errorf("reading %s from the cache: its manifest no longer proves out", res.Digest)
	}
	for _, l := range m.Layers {
		if l.MediaType == trust.ProvenanceMediaType && f.Store.Prov(e) == nil {
			return nil, fmt.Errorf("reading %s from the cache: its .prov is missing or does not match its manifest; pull it again (cache prune, then fetch)", res.Digest)
		}
	}
	archive, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	art := bundle.Artifact{MediaType: m.MediaType, Manifest: manifest, Blobs: [][]byte{config}}
	for _, l := range m.Layers {
		switch l.MediaType {
		case chartLayerMediaType, legacyChartLayerMediaType:
			art.Blobs = append(art.Blobs, archive)
		case trust.ProvenanceMediaType:
			art.Blobs = append(art.Blobs, f.Store.Prov(e))
		default:
			return nil, fmt.Errorf("the manifest of %s has a layer of type %+q, which a bundle cannot carry", pinned.String(), l.MediaType)
		}
	}
	tag := r.Ref.Tag()
	if tag == "" {
		tag = strings.ReplaceAll(e.Version, "+", "_")
	}
	out := &bundle.Chart{Reference: pinned.String(), Repository: r.Ref.Repo(), Tag: tag, Artifact: art}
	var last error
	for _, p := range f.places(ctx, r, pinned) {
		if p.err != nil {
			continue
		}
		sigs, err := f.Puller.SignatureArtifacts(ctx, p.ref, e.ManifestDigest, p.auth)
		if err != nil {
			last = err
			continue
		}
		for _, s := range sigs {
			out.Signatures = append(out.Signatures, bundle.Artifact{MediaType: s.MediaType, Manifest: s.Manifest, Blobs: s.Blobs, Tag: s.Tag})
		}
		return out, nil
	}
	if last != nil {
		return nil, last
	}
	return out, nil
}
