package fetch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocisrc/ocisrc/pkg/bundle"
	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/oci"
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
	if manifest != nil {
		_ = json.Unmarshal(manifest, &m)
	}
	needProv := false
	for _, l := range m.Layers {
		needProv = needProv || l.MediaType == trust.ProvenanceMediaType
	}
	if manifest == nil || (needProv && f.Store.Prov(e) == nil) {
		chart, err := f.pullAnywhere(ctx, r, pinned)
		if err != nil {
			return nil, err
		}
		_ = os.Remove(chart.File) // the cache holds the archive already
		if err := f.Store.AddExtras(e, cache.Extras{Prov: chart.Prov, Manifest: chart.Manifest, Config: chart.Config}); err != nil {
			return nil, fmt.Errorf("completing the cache entry of %s: %w", pinned.String(), err)
		}
		manifest, config = chart.Manifest, chart.Config
		if err := json.Unmarshal(manifest, &m); err != nil {
			return nil, fmt.Errorf("the manifest of %s is not JSON", pinned.String())
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
	out := &bundle.Chart{Reference: pinned.String(), Repository: lowerRepo(r.Ref.Repo()), Tag: tag, Artifact: art}
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

// pullAnywhere pulls a digest-pinned chart from the first place that serves it.
func (f *Fetcher) pullAnywhere(ctx context.Context, r *Resolution, pinned chartref.Reference) (*oci.Chart, error) {
	var last error
	for _, p := range f.places(ctx, r, pinned) {
		if p.err != nil {
			last = p.err
			continue
		}
		chart, err := f.Puller.Pull(ctx, p.ref, p.auth)
		if err == nil {
			return chart, nil
		}
		last = err
	}
	if last == nil {
		last = fmt.Errorf("no place serves %s", pinned.String())
	}
	return nil, last
}

func lowerRepo(repo string) string {
	host, path, _ := strings.Cut(repo, "/")
	return strings.ToLower(host) + "/" + path
}
