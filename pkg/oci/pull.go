// Package oci pulls Helm charts from OCI registries with Helm's own registry
// client (Helm 4's library, helm.sh/helm/v4/pkg/registry). It is the only
// package that imports that registry package, so a change of Helm's client
// is this package's change alone.
//
// Credentials are handed to Helm's client in memory only, bound to the chart's
// registry host; the user's Helm registry config, Docker config and credential
// helpers are never consulted.
package oci

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/registry"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/ocisrc/ocisrc/pkg/chartmeta"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/place"
	"github.com/ocisrc/ocisrc/pkg/termsafe"
	"oras.land/oras-go/v2/registry/remote"
)

// Chart is a pulled and verified chart.
type Chart struct {
	// ManifestDigest is the digest of the chart's OCI manifest.
	ManifestDigest string
	// LayerDigest is the digest of the chart archive layer; Data hashes to it.
	LayerDigest string
	// Name and Version are from the chart's metadata (the OCI config).
	Name    string
	Version string
	// File is the chart archive (.tgz), streamed to a temporary file of the
	// Puller's Temp (its name there) and checked against LayerDigest; Size
	// its length. The caller moves it into the cache (or removes it).
	File string
	Size int64
	// Prov is the chart's provenance file, when it was asked for and the
	// manifest has one.
	Prov []byte
	// Manifest and Config are the manifest and config blobs as served (the
	// manifest hashes to ManifestDigest), for bundles.
	Manifest, Config []byte
}

// Puller pulls charts. It is safe for concurrent use.
type Puller struct {
	opts      TLSOptions
	userAgent string
	// MaxChartSize refuses larger blobs before they are read (0: no limit).
	MaxChartSize int64
	// Temp receives chart archives as they are downloaded: the cache, so
	// that they are moved into it, not copied.
	Temp TempFiles
	// AllowPlainHTTPCredentials lets credentials go over plain HTTP to a host
	// that is not this machine (--allow-plain-http-credentials).
	AllowPlainHTTPCredentials bool
	// Hints, when set, remembers across processes which auth scheme each
	// registry asked for, so a known basic-auth registry gets credentials on
	// the first request instead of after a 401.
	Hints SchemeHints

	// base serves pulls without TLS material of their own; variants, keyed by
	// that material, serve the others. Each keeps its connections.
	base     http.RoundTripper
	mu       sync.Mutex
	variants map[string]http.RoundTripper
	// caches holds one auth cache (tokens, scheme) per host and credential,
	// shared by every pull of a run.
	caches map[string]auth.Cache
	// flagCert is the fingerprint of --registry-cert-file's certificate.
	flagCert string
	// limit bounds the requests in flight to each host (SetMaxInFlight).
	limit *hostLimit
	// gates hold back, per auth cache, the requests that would all meet the
	// registry's first 401 at once: the first goes alone until the registry
	// has said which scheme it wants.
	gates map[string]*contactGate
}

// TempFiles makes the temporary files a download streams into, and names
// them in its own terms (the cache's files are reached through its root,
// never by a path).
type TempFiles interface {
	CreateTemp(suffix string) (io.WriteCloser, string, error)
	RemoveTemp(name string)
}

// contactGate is the first contact with a registry for one auth cache.
type contactGate struct {
	done chan struct{}
	once sync.Once
}

// firstContactWait bounds how long a request waits for the first contact
// of its auth cache (a first request that never gets an answer).
const firstContactWait = 5 * time.Second

// contact returns, for the first request of an auth cache whose scheme is
// not known yet, a function its transport calls with the first answers: the
// gate opens on an answer that is not a 401 challenge (the scheme is then
// in the cache) or on an error. Any other request waits for that gate.
func (p *Puller) contact(ctx context.Context, key, host string, c auth.Cache) func(int, error) {
	if s, err := c.GetScheme(ctx, host); err == nil && s != auth.SchemeUnknown {
		return nil
	}
	p.mu.Lock()
	g, ok := p.gates[key]
	if !ok {
		g = &contactGate{done: make(chan struct{})}
		p.gates[key] = g
		p.mu.Unlock()
		var answers atomic.Int32
		return func(status int, err error) {
			// The challenge is the first 401; a second one is the registry
			// refusing the credentials: others need not wait for that.
			if err != nil || status != http.StatusUnauthorized || answers.Add(1) > 1 {
				g.once.Do(func() { close(g.done) })
			}
		}
	}
	p.mu.Unlock()
	t := time.NewTimer(firstContactWait)
	defer t.Stop()
	select {
	case <-g.done:
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}

// SetMaxInFlight bounds the requests in flight to each registry host
// (--concurrency); 0 leaves them unbounded. Call it before the first pull.
func (p *Puller) SetMaxInFlight(n int) { p.limit.setMax(n) }

// SchemeHints stores which auth scheme ("basic", "bearer") a registry host
// uses. It never stores a credential.
type SchemeHints interface {
	Scheme(host string) string
	RememberScheme(host, scheme string)
}

// NewPuller builds a Puller with the given connection settings.
//
// It also points DOCKER_CONFIG, for this process, at a path that holds no
// file: Helm's registry.NewClient opens the user's Docker config
// ($DOCKER_CONFIG/config.json, else ~/.docker/config.json) for a fallback
// credential store, which ocisrc never uses; this way the file is not opened
// at all. Helm's own registry config is likewise replaced by an empty file.
func NewPuller(o TLSOptions, userAgent string) (*Puller, error) {
	isolateFromDockerConfig()
	t, err := newTransport(o, Extra{})
	if err != nil {
		return nil, err
	}
	p := &Puller{opts: o, userAgent: userAgent, MaxChartSize: DefaultMaxChartSize, variants: map[string]http.RoundTripper{}, caches: map[string]auth.Cache{}, gates: map[string]*contactGate{}, limit: &hostLimit{}}
	p.base = p.limit.wrap(t)
	if o.CertFile != "" {
		// newTransport has read and checked it.
		if data, err := os.ReadFile(o.CertFile); err == nil {
			p.flagCert = certFingerprint(data)
		}
	}
	return p, nil
}

// isolateFromDockerConfig makes Helm's client unable to open a Docker config.
func isolateFromDockerConfig() {
	_ = os.Setenv("DOCKER_CONFIG", os.DevNull)
}

// Auth is what a pull authenticates with: a credential (nil for anonymous)
// and TLS material that came with it.
type Auth struct {
	Credential *auth.Credential
	Extra      Extra
	// Secret is namespace/name of the Secret the credential came from, for
	// messages ("" when anonymous); SecretUID and SecretVersion are its
	// UID and resourceVersion as read: who the cache records.
	Secret                   string
	SecretUID, SecretVersion string
}

// CheckPlainHTTP refuses to send credentials over plain HTTP to a host other
// than this machine, unless allowed. It does no I/O.
func CheckPlainHTTP(host place.Host, plainHTTP, withCredentials, allowed bool) error {
	if !plainHTTP || !withCredentials || allowed || host.IsLoopback() {
		return nil
	}
	return clierror.InvalidWithHint(
		fmt.Errorf("refusing to send credentials over plain HTTP to %s: anyone on the network could read them", host),
		"use HTTPS, or pass --allow-plain-http-credentials if this network is trusted")
}

// Pull fetches the chart ref names. The credential is only ever sent to
// ref's registry host.
//
// When ref has a digest, the chart is pulled by that digest (the pin is what
// is fetched, whatever the tag points to now) and the manifest must hash to
// it; when it also has a version, the chart's own version must equal it. The
// chart layer's bytes must hash to the layer digest in the manifest. Any
// mismatch is an error and nothing is returned.
//
// The chart's provenance layer is fetched too when the manifest has one
// (Chart.Prov), in the same pull: one small blob, which a later
// verification, helm --verify or a bundle then needs no request for.
//
// Helm's client fetches the manifest, the config (the chart's metadata) and
// the .prov layer when there is one; the chart layer is streamed to a file,
// checked against its digest as it arrives, and never held in memory: the
// download starts as soon as the manifest has been read, beside the config's.
func (p *Puller) Pull(ctx context.Context, ref chartref.Reference, a Auth) (*Chart, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	var blob *blobDownload
	start := func(layer ocispec.Descriptor) *blobDownload {
		once.Do(func() { blob = p.download(ctx, ref, a, layer) })
		return blob
	}
	client, done, err := p.clientWith(ctx, ref, a, func(manifest []byte) {
		if layer, ok := chartLayer(manifest); ok {
			start(layer)
		}
	})
	if err != nil {
		return nil, err
	}
	res, err := client.Pull(ref.PullRef(), registry.PullOptWithChart(false), registry.PullOptWithProv(true), registry.PullOptIgnoreMissingProv(true))
	fail := func(err error) (*Chart, error) {
		cancel()
		once.Do(func() {}) // no download starts after this
		if blob != nil {
			blob.discard()
		}
		return nil, err
	}
	if err != nil {
		return fail(describePullError(ctx, ref, a, err))
	}
	c, layer, err := verify(ref, res)
	if err != nil {
		return fail(err)
	}
	b := start(layer)
	if b == nil || b.desc.Digest != layer.Digest {
		return fail(&DigestError{Ref: ref.String(), What: "chart layer", Want: layer.Digest.String(), Got: "another layer"})
	}
	if err := b.wait(); err != nil {
		return fail(describePullError(ctx, ref, a, err))
	}
	done()
	c.File, c.Size = b.path, layer.Size
	return c, nil
}

// chartLayer finds the chart layer of a manifest.
func chartLayer(manifest []byte) (ocispec.Descriptor, bool) {
	var m ocispec.Manifest
	if json.Unmarshal(manifest, &m) != nil {
		return ocispec.Descriptor{}, false
	}
	for _, l := range m.Layers {
		if l.MediaType == registry.ChartLayerMediaType || l.MediaType == registry.LegacyChartLayerMediaType {
			return l, true
		}
	}
	return ocispec.Descriptor{}, false
}

// blobDownload is a chart layer being streamed to a temporary file.
type blobDownload struct {
	desc ocispec.Descriptor
	path string
	temp TempFiles
	// done is closed when the download has ended, with err set.
	done chan struct{}
	err  error
}

// download starts streaming layer of ref's repository to a temporary file,
// verified against its digest and size, limited to MaxChartSize.
func (p *Puller) download(ctx context.Context, ref chartref.Reference, a Auth, layer ocispec.Descriptor) *blobDownload {
	b := &blobDownload{desc: layer, done: make(chan struct{})}
	end := func(err error) *blobDownload {
		b.err = err
		close(b.done)
		return b
	}
	if layer.Digest == "" {
		return end(errors.New("no chart layer"))
	}
	if p.Temp == nil {
		return end(errors.New("writing the chart: no place for temporary files"))
	}
	f, name, err := p.Temp.CreateTemp(".tgz")
	if err != nil {
		return end(fmt.Errorf("writing the chart: %w", err))
	}
	b.path, b.temp = name, p.Temp
	go func() {
		err := p.stream(ctx, ref, a, layer, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			p.Temp.RemoveTemp(name)
		}
		end(err)
	}()
	return b
}

func (p *Puller) stream(ctx context.Context, ref chartref.Reference, a Auth, layer ocispec.Descriptor, f io.Writer) error {
	if p.MaxChartSize > 0 && layer.Size > p.MaxChartSize {
		return &SizeError{Limit: p.MaxChartSize, Size: layer.Size}
	}
	authorizer, _, err := p.authorizer(ctx, ref, a, false, p.MaxChartSize)
	if err != nil {
		return err
	}
	repo, err := remote.NewRepository(ref.Repo())
	if err != nil {
		return err
	}
	repo.Client = authorizer
	repo.PlainHTTP = p.opts.PlainHTTP || a.Extra.PlainHTTP
	rc, err := repo.Blobs().Fetch(ctx, layer)
	if err != nil {
		return err
	}
	defer rc.Close()
	vr := content.NewVerifyReader(rc, layer)
	if _, err := io.Copy(f, vr); err != nil {
		return err
	}
	if err := vr.Verify(); err != nil {
		return err
	}
	if s, ok := f.(interface{ Sync() error }); ok {
		return s.Sync()
	}
	return nil
}

// wait waits for the download to end.
func (b *blobDownload) wait() error {
	<-b.done
	return b.err
}

// discard waits for the download to end (its context is cancelled first)
// and removes its file: nothing is left behind when Pull fails.
func (b *blobDownload) discard() {
	<-b.done
	if b.path != "" {
		b.temp.RemoveTemp(b.path)
	}
}

// Resolve asks the registry which manifest digest ref's tag points to: one
// HEAD request.
func (p *Puller) Resolve(ctx context.Context, ref chartref.Reference, a Auth) (string, error) {
	repo, done, err := p.headRepository(ctx, ref, a)
	if err != nil {
		return "", err
	}
	desc, err := repo.Resolve(ctx, ref.Tag())
	if err != nil {
		return "", describePullError(ctx, ref, a, err)
	}
	done()
	if !digestPattern.MatchString(desc.Digest.String()) {
		return "", fmt.Errorf("resolving %q: the registry %s answered with a digest that is not sha256: %+q", ref.String(), ref.Registry, desc.Digest.String())
	}
	return desc.Digest.String(), nil
}

// headRepository is an oras-go repository for the HEAD requests of Resolve
// and Exists: the same transport, guard and per-host credential as a pull,
// without building Helm's client for one request.
func (p *Puller) headRepository(ctx context.Context, ref chartref.Reference, a Auth) (*remote.Repository, func(), error) {
	authorizer, done, err := p.authorizer(ctx, ref, a, false, p.MaxChartSize)
	if err != nil {
		return nil, nil, err
	}
	repo, err := remote.NewRepository(ref.Repo())
	if err != nil {
		return nil, nil, err
	}
	repo.Client = authorizer
	repo.PlainHTTP = p.opts.PlainHTTP || a.Extra.PlainHTTP
	return repo, done, nil
}

// CheckTLS builds the TLS settings of the flags o with e's material (the
// Secret's CA and client certificate, the policy's) without making a
// request: a conflict or bad material is reported in a dry run too.
func CheckTLS(o TLSOptions, e Extra) error {
	_, err := tlsConfig(o, e)
	return err
}

// ClientCertificate is the SHA-256 fingerprint ("SHA256:<hex>") of the
// client certificate a connection with a presents — the flags', else the
// Secret's, else the registry policy's, as the transport chooses — or ""
// when it presents none: a pull authenticated by a certificate is that
// certificate's, never anonymous.
func (p *Puller) ClientCertificate(a Auth) string {
	if p.flagCert != "" {
		return p.flagCert
	}
	if fp := certFingerprint(a.Extra.CertPEM); fp != "" {
		return fp
	}
	return certFingerprint(a.Extra.PolicyCertPEM)
}

// certFingerprint is the fingerprint of the first certificate of a PEM
// bundle, "" when it holds none.
func certFingerprint(pemData []byte) string {
	for len(pemData) > 0 {
		var block *pem.Block
		block, pemData = pem.Decode(pemData)
		if block == nil {
			return ""
		}
		if block.Type == "CERTIFICATE" {
			sum := sha256.Sum256(block.Bytes)
			return "SHA256:" + hex.EncodeToString(sum[:])
		}
	}
	return ""
}

// Exists asks the registry whether ref's repository holds the manifest
// digest, with a's credentials: one HEAD request. It proves that these
// credentials may read that chart at that place before a cached copy is
// served. Refused (401, 403) or not found (404) is an error.
func (p *Puller) Exists(ctx context.Context, ref chartref.Reference, digest string, a Auth) error {
	repo, done, err := p.headRepository(ctx, ref, a)
	if err != nil {
		return err
	}
	at := ref
	at.Digest = digest
	desc, err := repo.Resolve(ctx, digest)
	if err != nil {
		return describePullError(ctx, at, a, err)
	}
	done()
	if desc.Digest.String() != digest {
		return &DigestError{Ref: at.String(), What: "manifest", Want: digest, Got: desc.Digest.String()}
	}
	return nil
}

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// authCache returns the auth cache for host and a, creating (and, for a
// registry known to use basic auth, priming) it on first use.
func (p *Puller) authCache(ctx context.Context, host string, a Auth) (auth.Cache, string) {
	key := host
	if a.Credential != nil {
		sum := sha256.New()
		for _, s := range []string{a.Credential.Username, a.Credential.Password, a.Credential.AccessToken, a.Credential.RefreshToken} {
			sum.Write([]byte(s))
			sum.Write([]byte{0})
		}
		key += "/" + hex.EncodeToString(sum.Sum(nil))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.caches[key]; ok {
		return c, key
	}
	c := auth.NewCache()
	if a.Credential != nil && a.Credential.Username != "" && a.Credential.Password != "" &&
		p.Hints != nil && p.Hints.Scheme(host) == "basic" {
		basic := base64.StdEncoding.EncodeToString([]byte(a.Credential.Username + ":" + a.Credential.Password))
		_, _ = c.Set(ctx, host, auth.SchemeBasic, "", func(context.Context) (string, error) { return basic, nil })
	}
	p.caches[key] = c
	return c, key
}

// rememberScheme records the scheme the registry asked for, for later processes.
func (p *Puller) rememberScheme(ctx context.Context, host string, c auth.Cache) {
	if p.Hints == nil {
		return
	}
	scheme, err := c.GetScheme(ctx, host)
	if err != nil || scheme == auth.SchemeUnknown {
		return
	}
	name := strings.ToLower(scheme.String())
	if p.Hints.Scheme(host) != name {
		p.Hints.RememberScheme(host, name)
	}
}

func (p *Puller) transport(extra Extra) (http.RoundTripper, error) {
	if extra.empty() {
		return p.base, nil
	}
	key := extra.key()
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.variants[key]; ok {
		return t, nil
	}
	t, err := newTransport(p.opts, extra)
	if err != nil {
		return nil, err
	}
	t = p.limit.wrap(t)
	p.variants[key] = t
	return t, nil
}

// clientWith builds Helm's registry client for one pull; call done after it
// succeeds (it remembers the registry's auth scheme for later processes).
// onManifest is called with every chart manifest read (after it was
// checked).
func (p *Puller) clientWith(ctx context.Context, ref chartref.Reference, a Auth, onManifest func([]byte)) (*registry.Client, func(), error) {
	authorizer, done, err := p.authorizerWith(ctx, ref, a, true, p.MaxChartSize, onManifest)
	if err != nil {
		return nil, nil, err
	}
	opts := []registry.ClientOption{
		registry.ClientOptHTTPClient(authorizer.Client),
		registry.ClientOptAuthorizer(*authorizer),
		// The client opens its credentials file when built; point it at an
		// empty file so the user's registry config is never read.
		registry.ClientOptCredentialsFile(os.DevNull),
	}
	if p.opts.PlainHTTP || a.Extra.PlainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the registry client: %w", err)
	}
	return c, done, nil
}

// authorizer is the HTTP client of one operation against ref's registry:
// the transport for a's TLS material, ocisrc's request guard (chart manifests
// checked when chartManifests, bodies limited to max), and a's credential
// for that registry host only.
func (p *Puller) authorizer(ctx context.Context, ref chartref.Reference, a Auth, chartManifests bool, max int64) (*auth.Client, func(), error) {
	return p.authorizerWith(ctx, ref, a, chartManifests, max, nil)
}

func (p *Puller) authorizerWith(ctx context.Context, ref chartref.Reference, a Auth, chartManifests bool, max int64, onManifest func([]byte)) (*auth.Client, func(), error) {
	t, err := p.transport(a.Extra)
	if err != nil {
		return nil, nil, err
	}
	// The credential is for the host that is dialled, and only for it.
	host := ref.Registry.Dial()
	credFunc := auth.StaticCredential(host, auth.EmptyCredential)
	if a.Credential != nil {
		credFunc = auth.StaticCredential(host, *a.Credential)
	}
	cache, key := p.authCache(ctx, host, a)
	first := p.contact(ctx, key, host, cache)
	hc := &http.Client{Transport: guardTransport{ctx: ctx, base: t, max: max, allowPlainCredentials: p.AllowPlainHTTPCredentials, chartManifests: chartManifests, onManifest: onManifest, onAnswer: first}, CheckRedirect: checkRedirect}
	authorizer := auth.Client{
		Client:     hc,
		Credential: credFunc,
		Cache:      cache,
	}
	if p.userAgent != "" {
		authorizer.SetUserAgent(p.userAgent)
	}
	return &authorizer, func() { p.rememberScheme(ctx, host, cache) }, nil
}

// verify checks what Helm's client pulled: the manifest hashes to its
// digest (and to the pin), it has a chart layer, and the metadata is valid
// and names the chart (and version) asked for. It returns the chart layer,
// whose bytes are checked as they are streamed.
func verify(ref chartref.Reference, res *registry.PullResult) (*Chart, ocispec.Descriptor, error) {
	var none ocispec.Descriptor
	if res == nil || res.Manifest == nil || res.Chart == nil || res.Chart.Meta == nil {
		return nil, none, fmt.Errorf("pulling %q: the registry returned no chart", ref.String())
	}
	manifestDigest := res.Manifest.Digest
	if got := sha256Digest(res.Manifest.Data); got != manifestDigest {
		return nil, none, &DigestError{Ref: ref.String(), What: "manifest", Want: manifestDigest, Got: got}
	}
	if ref.Digest != "" && manifestDigest != ref.Digest {
		return nil, none, &DigestError{Ref: ref.String(), What: "manifest", Want: ref.Digest, Got: manifestDigest}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(res.Manifest.Data, &m); err != nil {
		return nil, none, fmt.Errorf("pulling %q: the manifest is not valid JSON", ref.String())
	}
	layer, ok := chartLayer(res.Manifest.Data)
	if !ok {
		return nil, none, fmt.Errorf("pulling %q: the manifest has no chart layer (%s): is this a Helm chart?", ref.String(), registry.ChartLayerMediaType)
	}
	meta, err := validateMetadata(ref, manifestDigest, *res.Chart.Meta)
	if err != nil {
		return nil, none, err
	}
	if ref.Version != "" && meta.Version != ref.Version {
		return nil, none, fmt.Errorf("pulling %q: the chart at %s is version %q, not %q: the digest does not belong to this version", ref.String(), manifestDigest, meta.Version, ref.Version)
	}
	if meta.Name != ref.Chart {
		return nil, none, fmt.Errorf("pulling %q: the chart at %s is named %q, not %q", ref.String(), manifestDigest, meta.Name, ref.Chart)
	}
	c := &Chart{
		ManifestDigest: manifestDigest,
		LayerDigest:    layer.Digest.String(),
		Name:           meta.Name,
		Version:        meta.Version,
		Manifest:       res.Manifest.Data,
	}
	if res.Config != nil {
		c.Config = res.Config.Data
	}
	if res.Prov != nil {
		c.Prov = res.Prov.Data
	}
	return c, layer, nil
}

// validateMetadata checks the chart's metadata (its OCI config) with Helm's
// own rules (pkg/chartmeta) before anything is stored.
func validateMetadata(ref chartref.Reference, manifestDigest string, meta chart.Metadata) (chartmeta.Meta, error) {
	m, err := chartmeta.Validate(meta)
	if err == nil {
		return m, nil
	}
	return m, clierror.WithHint(fmt.Errorf("pulling %q: the registry %s served a chart (%s) whose %w", ref.String(), ref.Registry, manifestDigest, trimThe(err)),
		"the chart in the registry is not one Helm would load; ask its publisher, or pin another digest")
}

// trimThe drops "the chart's " from a chartmeta error, to follow "whose".
type trimmed struct{ err error }

func (t trimmed) Error() string { return strings.TrimPrefix(t.err.Error(), "the chart's ") }
func (t trimmed) Unwrap() error { return t.err }

func trimThe(err error) error { return trimmed{err} }

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// DigestError is content that does not hash to the digest it must have.
type DigestError struct {
	Ref, What, Want, Got string
}

// Reason is the failure's reason for programs.
func (e *DigestError) Reason() string { return ReasonDigestMismatch }

func (e *DigestError) Error() string {
	return fmt.Sprintf("pulling %q: %s digest mismatch: expected %s, got %s", e.Ref, e.What, e.Want, e.Got)
}

// CredentialError is a registry, or its token service, refusing the
// credentials a Secret gave (401) or the access they give (403). It names the
// Secret; fetch adds a hint when that Secret shadowed another.
type CredentialError struct {
	err error
	// Secret is namespace/name of the Secret whose credentials were refused.
	Secret string
}

func (e *CredentialError) Error() string { return e.err.Error() }

// Reason is the failure's reason for programs.
func (e *CredentialError) Reason() string { return ReasonUnauthorized }
func (e *CredentialError) Unwrap() error  { return e.err }

// describePullError turns registry and transport errors into one sentence that
// names the chart and what happened, with a hint where one helps. Whatever
// the registry said is escaped (see pkg/termsafe).
func describePullError(ctx context.Context, ref chartref.Reference, a Auth, err error) error {
	return clierror.WithReason(describePull(ctx, ref, a, err), pullReason(ctx, ref, err))
}

// Reasons of the registry failures this package reports (the "reason" of
// fetch -o json).
const (
	ReasonUnauthorized   = "RegistryUnauthorized"
	ReasonChartNotFound  = "ChartNotFound"
	ReasonTimeout        = "Timeout"
	ReasonTLS            = "TLS"
	ReasonUnreachable    = "RegistryUnreachable"
	ReasonDigestMismatch = "DigestMismatch"
	ReasonTooLarge       = "TooLarge"
	ReasonNotAChart      = "NotAChart"
	ReasonRegistryError  = "RegistryError"
)

// pullReason classifies a pull's failure for programs.
func pullReason(ctx context.Context, ref chartref.Reference, err error) string {
	var sizeErr *SizeError
	var manifestErr *ManifestError
	var resp *errcode.ErrorResponse
	var digestErr *DigestError
	var opErr *net.OpError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.As(err, &sizeErr):
		return ReasonTooLarge
	case errors.As(err, &manifestErr):
		return ReasonNotAChart
	case errors.As(err, &resp):
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return ReasonUnauthorized
		case http.StatusNotFound:
			return ReasonChartNotFound
		}
		return ReasonRegistryError
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return ReasonUnauthorized
	case errors.Is(err, errdef.ErrNotFound):
		return ReasonChartNotFound
	case errors.As(err, &digestErr) || errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData):
		return ReasonDigestMismatch
	case describeConnection("", ref.Registry, err) != nil:
		return ReasonTLS
	case errors.As(err, &opErr):
		return ReasonUnreachable
	}
	return ReasonRegistryError
}

// describePull is describePullError without the reason.
func describePull(ctx context.Context, ref chartref.Reference, a Auth, err error) error {
	what := fmt.Sprintf("pulling %q", ref.String())
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return clierror.WithHint(fmt.Errorf("%s: timed out", what), "raise --timeout, or check that the registry is reachable")
		}
		return fmt.Errorf("%s: %w", what, ctxErr)
	}
	var sizeErr *SizeError
	if errors.As(err, &sizeErr) {
		return clierror.WithHint(fmt.Errorf("%s: %w", what, sizeErr), "raise --max-chart-size if the chart is really this large")
	}
	var manifestErr *ManifestError
	if errors.As(err, &manifestErr) {
		return clierror.WithHint(fmt.Errorf("%s: the registry %s served %s", what, ref.Registry, manifestErr.Reason),
			"check that spec.source.chart names a Helm chart; nothing was downloaded beyond the manifest")
	}
	if errors.Is(err, errdef.ErrSizeExceedsLimit) {
		return fmt.Errorf("%s: the registry %s sent a manifest larger than the limit for manifests: is this a Helm chart?", what, ref.Registry)
	}
	var plainErr *PlainHTTPCredentialsError
	if errors.As(err, &plainErr) {
		return clierror.InvalidWithHint(fmt.Errorf("%s: %w", what, plainErr),
			"the registry asked for credentials at an http:// address; use HTTPS, or pass --allow-plain-http-credentials if this network is trusted")
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &syntaxErr) || errors.As(err, &typeErr) {
		return clierror.WithHint(fmt.Errorf("%s: the registry %s served a chart whose config is not a chart's metadata as JSON", what, ref.Registry),
			"check that spec.source.chart names a Helm chart")
	}
	from := ""
	if a.Secret != "" {
		from = fmt.Sprintf(" from secret %q", a.Secret)
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		elsewhere := resp.URL != nil && !sameHost(resp.URL.Host, ref.Registry)
		token := elsewhere && (resp.Method == http.MethodPost || resp.URL.Query().Has("scope") || resp.URL.Query().Has("service"))
		switch {
		case token && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) && a.Credential != nil:
			return &CredentialError{Secret: a.Secret, err: clierror.WithHint(
				fmt.Errorf("%s: the token service of the registry %s (%s) refused the credentials%s (%d %s)", what, ref.Registry, resp.URL.Host, from, resp.StatusCode, strings.ToLower(http.StatusText(resp.StatusCode))),
				fmt.Sprintf("check the values in secret %q", a.Secret))}
		case elsewhere && !token && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
			return clierror.WithHint(
				fmt.Errorf("%s: the registry %s redirected the download to %s, which answered %d %s; no credentials are sent to another host", what, ref.Registry, resp.URL.Host, resp.StatusCode, http.StatusText(resp.StatusCode)),
				"the registry's storage should accept its own signed redirect; ask the registry's operator (the credentials are fine)")
		case resp.StatusCode == http.StatusUnauthorized && a.Credential != nil:
			return &CredentialError{Secret: a.Secret, err: clierror.WithHint(
				fmt.Errorf("%s: the registry %s refused the credentials%s (401 unauthorized)", what, ref.Registry, from),
				fmt.Sprintf("check the values in secret %q (a trailing newline from echo is a classic)", a.Secret))}
		case resp.StatusCode == http.StatusUnauthorized:
			return clierror.WithHint(fmt.Errorf("%s: the registry %s requires credentials (401 unauthorized)", what, ref.Registry),
				"add spec.source.authentication with a secretRef to the Component")
		case resp.StatusCode == http.StatusForbidden:
			return &CredentialError{Secret: a.Secret, err: clierror.WithHint(fmt.Errorf("%s: the registry %s denied access%s (403 forbidden)", what, ref.Registry, strings.Replace(from, " from", " to the credentials from", 1)),
				"the credentials are valid but may not read this repository")}
		case resp.StatusCode == http.StatusNotFound:
			return clierror.WithHint(fmt.Errorf("%s: not found in the registry %s", what, ref.Registry),
				"check the repository, version and digest in spec.source.chart")
		default:
			request := ""
			if resp.URL != nil {
				request = fmt.Sprintf(" to %s %s", resp.Method, termsafe.Escape(resp.URL.Path))
			}
			said := ""
			if len(resp.Errors) > 0 {
				said = fmt.Sprintf(": %+q", resp.Errors[0].Message)
			}
			hint := ""
			if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
				hint = "the registry kept failing after 5 retries; try again later"
			}
			return clierror.WithHint(fmt.Errorf("%s: the registry %s answered %d %s%s%s", what, ref.Registry, resp.StatusCode, http.StatusText(resp.StatusCode), request, said), hint)
		}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return clierror.WithHint(fmt.Errorf("%s: the connection to %s broke during the download", what, ref.Registry),
			"try again; nothing was written")
	}
	// oras-go checks every blob against its descriptor while copying; a
	// Content-Length that differs from the descriptor's size has no sentinel error.
	if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) || strings.Contains(err.Error(), "mismatch Content-Length") || strings.Contains(err.Error(), "digest mismatch in Docker-Content-Digest") {
		return clierror.WithHint(fmt.Errorf("%s: the registry %s sent content that does not match its digest or size", what, ref.Registry),
			"nothing was written; if it happens again, the registry's storage may be damaged")
	}
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return clierror.WithHint(fmt.Errorf("%s: the registry %s requires credentials (401 unauthorized)", what, ref.Registry),
			"add spec.source.authentication with a secretRef to the Component")
	}
	if errors.Is(err, errdef.ErrNotFound) {
		return clierror.WithHint(fmt.Errorf("%s: not found in the registry %s", what, ref.Registry),
			"check the repository, version and digest in spec.source.chart")
	}
	if d := describeConnection(what, ref.Registry, err); d != nil {
		return d
	}
	return &escaped{prefix: what, err: err}
}

// sameHost reports whether hostport (from a URL) is the registry h.
func sameHost(hostport string, h place.Host) bool {
	got, err := place.ParseHost(hostport)
	return err == nil && got == h
}

// escaped prints an error that may hold a registry's words with those
// escaped, and still unwraps to it.
type escaped struct {
	prefix string
	err    error
}

func (e *escaped) Error() string { return e.prefix + ": " + termsafe.Escape(e.err.Error()) }
func (e *escaped) Unwrap() error { return e.err }
