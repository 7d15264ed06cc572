package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocisrc/ocisrc/pkg/bundle"
	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/trust"
)

// Media types of a Helm chart's layers, as helm push writes them.
const (
	chartLayerMediaType       = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	legacyChartLayerMediaType = "application/tar+gzip"
)

// Artifacts writes into the bundle w what it holds of a Component's chart,
// after Fetch placed it in the cache: its manifest, config and layers byte
// for byte (from the cache, proven from its bytes; the archive is streamed
// from its file), and its cosign signatures as the place it comes from
// serves them (mirrors first, then the origin), streamed into the bundle
// within the budgets of oci.SignatureArtifacts. It returns how many
// signature artifacts the chart has.
func (f *Fetcher) Artifacts(ctx context.Context, d *Decision, res Result, w *bundle.Writer) (int, error) {
	r, err := f.resolve(ctx, d)
	if err != nil {
		return 0, err
	}
	e, _, err := f.Store.Get(res.Digest)
	if err != nil {
		return 0, fmt.Errorf("reading %s from the cache: %w", res.Digest, err)
	}
	pinned := r.Ref
	pinned.Digest = e.ManifestDigest
	manifest, config := f.Store.Blobs(e)
	var m ocispec.Manifest
	if manifest == nil || json.Unmarshal(manifest, &m) != nil {
		return 0, fmt.Errorf("reading %s from the cache: its manifest no longer proves out", res.Digest)
	}
	if err := w.Push(ctx, m.Config, bytes.NewReader(config)); err != nil {
		return 0, fmt.Errorf("writing %s into the bundle: %w", pinned.String(), err)
	}
	for _, l := range m.Layers {
		switch l.MediaType {
		case chartLayerMediaType, legacyChartLayerMediaType:
			if err := f.pushArchive(ctx, w, l, e); err != nil {
				return 0, fmt.Errorf("writing %s into the bundle: %w", pinned.String(), err)
			}
		case trust.ProvenanceMediaType:
			prov := f.Store.Prov(e)
			if prov == nil {
				return 0, fmt.Errorf("reading %s from the cache: its .prov is missing or does not match its manifest; pull it again (cache prune, then fetch)", res.Digest)
			}
			if err := w.Push(ctx, l, bytes.NewReader(prov)); err != nil {
				return 0, fmt.Errorf("writing %s into the bundle: %w", pinned.String(), err)
			}
		default:
			return 0, fmt.Errorf("the manifest of %s has a layer of type %+q, which a bundle cannot carry", pinned.String(), l.MediaType)
		}
	}
	tag := r.Ref.Tag()
	if tag == "" {
		tag = strings.ReplaceAll(e.Version, "+", "_")
	}
	out := bundle.Chart{Reference: pinned.String(), Repository: r.Ref.Repo(), Tag: tag, Artifact: bundle.Artifact{MediaType: m.MediaType, Manifest: manifest}}
	if f.Offline {
		// Signatures are read from the registry: none offline.
		if err := w.AddChart(ctx, out); err != nil {
			return 0, err
		}
		return 0, nil
	}
	var last error
	for _, p := range f.places(ctx, r, pinned) {
		if p.err != nil {
			continue
		}
		sigs, err := f.Puller.SignatureArtifacts(ctx, p.ref, e.ManifestDigest, p.auth, w)
		if err != nil {
			last = err
			continue
		}
		for _, s := range sigs {
			out.Signatures = append(out.Signatures, bundle.Artifact{MediaType: s.MediaType, Manifest: s.Manifest, Tag: s.Tag})
		}
		last = nil
		break
	}
	if last != nil {
		return 0, last
	}
	if err := w.AddChart(ctx, out); err != nil {
		return 0, err
	}
	return len(out.Signatures), nil
}

// pushArchive streams the entry's archive into the bundle as the blob
// desc, hashed as it leaves the cache.
func (f *Fetcher) pushArchive(ctx context.Context, w *bundle.Writer, desc ocispec.Descriptor, e *cache.Entry) error {
	a, err := f.Store.OpenArchive(e)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := w.Push(ctx, desc, a); err != nil {
		return err
	}
	return a.Verify()
}
