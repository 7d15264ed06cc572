package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Media types of a Helm chart in an OCI registry (as Helm pushes them).
const (
	chartConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	chartLayerMediaType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// Chart is a chart archive built for tests.
type Chart struct {
	Name, Version string
	Archive       []byte
	metadata      *chart.Metadata
}

// BuildChart packages a small chart whose template renders a ConfigMap with
// the chart's name and version, plus padding bytes of incompressible data
// when padding > 0 (for size tests).
func BuildChart(name, version string, padding int) (*Chart, error) {
	meta := &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: version, AppVersion: "1.0.0", Description: "ocisrc test chart", Type: "application"}
	c := &chart.Chart{
		Metadata: meta,
		Values:   map[string]any{"message": "hello from " + name},
		Raw:      []*chart.File{{Name: "values.yaml", Data: []byte("message: hello from " + name + "\n")}},
		Templates: []*chart.File{{
			Name: "templates/configmap.yaml",
			Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-" + name + "\ndata:\n  chart: {{ .Chart.Name }}-{{ .Chart.Version }}\n  message: {{ .Values.message | quote }}\n"),
		}},
	}
	if padding > 0 {
		pad := make([]byte, padding)
		// A deterministic, incompressible stream.
		x := uint64(len(name)*7919 + padding)
		for i := range pad {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			pad[i] = byte(x)
		}
		c.Files = []*chart.File{{Name: "files/padding.bin", Data: pad}}
	}
	dir, err := os.MkdirTemp("", "ocisrc-chart-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path, err := chartutil.Save(c, dir)
	if err != nil {
		return nil, err
	}
	archive, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return &Chart{Name: name, Version: version, Archive: archive, metadata: meta}, nil
}

// Pushed is a chart in the registry.
type Pushed struct {
	// Ref is oci://HOST/REPO:VERSION; Digest the manifest digest.
	Ref    string
	Digest string
	// LayerDigest is the chart archive's digest.
	LayerDigest string
	// Blobs are the config and the chart archive, as pushed.
	Blobs [][]byte
}

// PushChart pushes c to repo (e.g. "charts/app") with its version as tag,
// the way helm push lays a chart out, and returns its reference and digest.
// user and password may be empty for an anonymous registry.
func (r *Registry) PushChart(ctx context.Context, repo string, c *Chart, user, password string) (*Pushed, error) {
	config, err := json.Marshal(c.metadata)
	if err != nil {
		return nil, err
	}
	store := memory.New()
	push := func(mediaType string, data []byte) (ocispec.Descriptor, error) {
		d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
		return d, store.Push(ctx, d, bytes.NewReader(data))
	}
	configDesc, err := push(chartConfigMediaType, config)
	if err != nil {
		return nil, err
	}
	layerDesc, err := push(chartLayerMediaType, c.Archive)
	if err != nil {
		return nil, err
	}
	tag := strings.ReplaceAll(c.Version, "+", "_")
	manifest, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor:    &configDesc,
		Layers:              []ocispec.Descriptor{layerDesc},
		ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2026-01-01T00:00:00Z"},
	})
	if err != nil {
		return nil, err
	}
	if err := store.Tag(ctx, manifest, tag); err != nil {
		return nil, err
	}
	dst, err := r.Repository(repo, user, password)
	if err != nil {
		return nil, err
	}
	if _, err := oras.Copy(ctx, store, tag, dst, tag, oras.DefaultCopyOptions); err != nil {
		return nil, fmt.Errorf("pushing %s:%s: %w", repo, tag, err)
	}
	return &Pushed{
		Ref:         "oci://" + r.Host + "/" + repo + ":" + c.Version,
		Digest:      manifest.Digest.String(),
		LayerDigest: layerDesc.Digest.String(),
		Blobs:       [][]byte{config, c.Archive},
	}, nil
}

// Repository returns an oras-go client for repo on this registry that
// trusts the test CA.
func (r *Registry) Repository(repo, user, password string) (*remote.Repository, error) {
	dst, err := remote.NewRepository(r.Host + "/" + repo)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: r.Transport()}
	if user == "" {
		dst.Client = hc
		dst.PlainHTTP = r.CA == nil
		return dst, nil
	}
	dst.Client = &auth.Client{Client: hc, Credential: auth.StaticCredential(r.Host, auth.Credential{Username: user, Password: password}), Cache: auth.NewCache()}
	dst.PlainHTTP = r.CA == nil
	return dst, nil
}

// Transport is an HTTP transport that trusts the registry's CA.
func (r *Registry) Transport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if r.CA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(r.CA.Cert)
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if r.ClientCertificate != nil {
			t.TLSClientConfig.Certificates = []tls.Certificate{*r.ClientCertificate}
		}
	}
	return t
}
