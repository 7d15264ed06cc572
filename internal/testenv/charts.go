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
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
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
		Raw:      []*common.File{{Name: "values.yaml", Data: []byte("message: hello from " + name + "\n")}},
		Templates: []*common.File{{
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
		c.Files = []*common.File{{Name: "files/padding.bin", Data: pad}}
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
	// Manifest is the manifest's descriptor (a signature's subject).
	Manifest ocispec.Descriptor
}

// PushChart pushes c to repo (e.g. "charts/app") with its version as tag,
// the way helm push lays a chart out, and returns its reference and digest.
// user and password may be empty for an anonymous registry.
func (r *Registry) PushChart(ctx context.Context, repo string, c *Chart, user, password string) (*Pushed, error) {
	return r.pushChart(ctx, repo, c, auth.Credential{Username: user, Password: password})
}

// PushChartWithToken pushes c with a registry (bearer) token, for registries
// whose token realm the harness cannot reach.
func (r *Registry) PushChartWithToken(ctx context.Context, repo string, c *Chart, token string) (*Pushed, error) {
	return r.pushChart(ctx, repo, c, auth.Credential{AccessToken: token})
}

func (r *Registry) pushChart(ctx context.Context, repo string, c *Chart, cred auth.Credential) (*Pushed, error) {
	return r.pushChartLayers(ctx, repo, c, cred, nil)
}

func (r *Registry) pushChartLayers(ctx context.Context, repo string, c *Chart, cred auth.Credential, extra *Layer) (*Pushed, error) {
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
	layers := []ocispec.Descriptor{layerDesc}
	if extra != nil {
		d, err := push(extra.MediaType, extra.Data)
		if err != nil {
			return nil, err
		}
		layers = append(layers, d)
	}
	tag := strings.ReplaceAll(c.Version, "+", "_")
	manifest, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor:    &configDesc,
		Layers:              layers,
		ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2026-01-01T00:00:00Z"},
	})
	if err != nil {
		return nil, err
	}
	if err := store.Tag(ctx, manifest, tag); err != nil {
		return nil, err
	}
	dst, err := r.RepositoryAs(repo, cred)
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
		Manifest:    manifest,
	}, nil
}

// Repository returns an oras-go client for repo on this registry that
// trusts the test CA.
func (r *Registry) Repository(repo, user, password string) (*remote.Repository, error) {
	return r.RepositoryAs(repo, auth.Credential{Username: user, Password: password})
}

// RepositoryAs is Repository with any credential (EmptyCredential for anonymous).
func (r *Registry) RepositoryAs(repo string, cred auth.Credential) (*remote.Repository, error) {
	dst, err := remote.NewRepository(r.Host + "/" + repo)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: r.Transport()}
	dst.PlainHTTP = r.CA == nil
	if cred == (auth.Credential{}) {
		dst.Client = hc
		return dst, nil
	}
	dst.Client = &auth.Client{Client: hc, Credential: auth.StaticCredential(r.Host, cred), Cache: auth.NewCache()}
	return dst, nil
}

// Transport is an HTTP transport that trusts the registry's CA, one per
// registry (and client certificate), so that pushing thousands of charts
// reuses its connections instead of holding one idle set per push.
func (r *Registry) Transport() http.RoundTripper {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.transport != nil && r.transportCert == r.ClientCertificate {
		return r.transport
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	r.transport, r.transportCert = t, r.ClientCertificate
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

// Layer is one layer of a crafted manifest.
type Layer struct {
	MediaType string
	Data      []byte
}

// Crafted says what PushCrafted puts in a manifest; the zero value of a
// field takes a chart's usual value.
type Crafted struct {
	// Config is the config blob (a chart's metadata as JSON).
	Config []byte
	// ConfigSize, when set, is the size the manifest claims for the config.
	ConfigSize int64
	// Layers are the layers, in order.
	Layers []Layer
}

// ChartLayer is c's archive as a chart layer.
func (c *Chart) ChartLayer() Layer { return Layer{MediaType: chartLayerMediaType, Data: c.Archive} }

// Metadata is c's metadata as the JSON config helm push writes.
func (c *Chart) Metadata() map[string]any {
	raw, _ := json.Marshal(c.metadata)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

// PushCrafted pushes a manifest with arbitrary content — what a hostile or
// broken registry serves — tagged tag, and returns its digest reference.
func (r *Registry) PushCrafted(ctx context.Context, repo, tag string, cr Crafted) (*Pushed, error) {
	dst, err := r.RepositoryAs(repo, auth.Credential{})
	if err != nil {
		return nil, err
	}
	push := func(mediaType string, data []byte) (ocispec.Descriptor, error) {
		d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
		return d, dst.Push(ctx, d, bytes.NewReader(data))
	}
	configDesc, err := push(chartConfigMediaType, cr.Config)
	if err != nil {
		return nil, err
	}
	if cr.ConfigSize != 0 {
		configDesc.Size = cr.ConfigSize
	}
	var layers []ocispec.Descriptor
	for _, l := range cr.Layers {
		d, err := push(l.MediaType, l.Data)
		if err != nil {
			return nil, err
		}
		layers = append(layers, d)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: configDesc, Layers: layers}
	m.SchemaVersion = 2
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := dst.PushReference(ctx, desc, bytes.NewReader(data), tag); err != nil {
		return nil, err
	}
	return &Pushed{Ref: "oci://" + r.Host + "/" + repo + ":" + tag, Digest: desc.Digest.String()}, nil
}

// CopyChart copies the manifest ref (a tag or a digest) of srcRepo, with
// its blobs, byte for byte to dst's dstRepo under tag: a mirror of the
// chart, with the same digest. srcCred reads the source; dstCred, when
// given, writes the destination.
func (r *Registry) CopyChart(ctx context.Context, srcRepo, ref string, srcCred auth.Credential, dst *Registry, dstRepo, tag string, dstCred ...auth.Credential) error {
	src, err := r.RepositoryAs(srcRepo, srcCred)
	if err != nil {
		return err
	}
	var wc auth.Credential
	if len(dstCred) > 0 {
		wc = dstCred[0]
	}
	to, err := dst.RepositoryAs(dstRepo, wc)
	if err != nil {
		return err
	}
	_, err = oras.Copy(ctx, src, ref, to, tag, oras.DefaultCopyOptions)
	return err
}
