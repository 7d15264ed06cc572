// Package oci pulls Helm charts from OCI registries with Helm's own registry
// client. It is the only package that imports helm.sh/helm/v3/pkg/registry, so
// moving to Helm 4's library is this package's change alone.
//
// Credentials are handed to Helm's client in memory only, bound to the chart's
// registry host; the user's Helm registry config, Docker config and credential
// helpers are never consulted.
package oci

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"helm.sh/helm/v3/pkg/registry"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
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
	// Data is the chart archive (.tgz).
	Data []byte
}

// Puller pulls charts. It is safe for concurrent use.
type Puller struct {
	opts      TLSOptions
	userAgent string
	// MaxChartSize refuses larger blobs before they are read (0: no limit).
	MaxChartSize int64
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
}

// SchemeHints stores which auth scheme ("basic", "bearer") a registry host
// uses. It never stores a credential.
type SchemeHints interface {
	Scheme(host string) string
	RememberScheme(host, scheme string)
}

// NewPuller builds a Puller with the given connection settings.
func NewPuller(o TLSOptions, userAgent string) (*Puller, error) {
	t, err := newTransport(o, Extra{})
	if err != nil {
		return nil, err
	}
	return &Puller{opts: o, userAgent: userAgent, MaxChartSize: DefaultMaxChartSize, base: t, variants: map[string]http.RoundTripper{}, caches: map[string]auth.Cache{}}, nil
}

// Auth is what a pull authenticates with: a credential (nil for anonymous)
// and TLS material that came with it.
type Auth struct {
	Credential *auth.Credential
	Extra      Extra
}

// CheckPlainHTTP refuses to send credentials over plain HTTP to a host other
// than this machine, unless allowed. It does no I/O.
func CheckPlainHTTP(host string, plainHTTP, withCredentials, allowed bool) error {
	if !plainHTTP || !withCredentials || allowed || IsLoopback(host) {
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
func (p *Puller) Pull(ctx context.Context, ref chartref.Reference, a Auth) (*Chart, error) {
	client, done, err := p.client(ctx, ref, a)
	if err != nil {
		return nil, err
	}
	res, err := client.Pull(ref.PullRef())
	if err != nil {
		return nil, describePullError(ctx, ref, err)
	}
	c, err := verify(ref, res)
	if err == nil {
		done()
	}
	return c, err
}

// Resolve asks the registry which manifest digest ref's tag points to: one
// HEAD request.
func (p *Puller) Resolve(ctx context.Context, ref chartref.Reference, a Auth) (string, error) {
	client, done, err := p.client(ctx, ref, a)
	if err != nil {
		return "", err
	}
	desc, err := client.Resolve(ref.TagRef())
	if err != nil {
		return "", describePullError(ctx, ref, err)
	}
	done()
	return desc.Digest.String(), nil
}

// authHost is the host oras-go authenticates against for a registry.
func authHost(registry string) string {
	if registry == "docker.io" {
		return "registry-1.docker.io"
	}
	return registry
}

// authCache returns the auth cache for host and a, creating (and, for a
// registry known to use basic auth, priming) it on first use.
func (p *Puller) authCache(ctx context.Context, host string, a Auth) auth.Cache {
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
		return c
	}
	c := auth.NewCache()
	if a.Credential != nil && a.Credential.Username != "" && a.Credential.Password != "" &&
		p.Hints != nil && p.Hints.Scheme(host) == "basic" {
		basic := base64.StdEncoding.EncodeToString([]byte(a.Credential.Username + ":" + a.Credential.Password))
		_, _ = c.Set(ctx, host, auth.SchemeBasic, "", func(context.Context) (string, error) { return basic, nil })
	}
	p.caches[key] = c
	return c
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
	sum := sha256.New()
	for _, b := range [][]byte{extra.CAPEM, extra.CertPEM, extra.KeyPEM} {
		sum.Write(b)
		sum.Write([]byte{0})
	}
	key := hex.EncodeToString(sum.Sum(nil))
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.variants[key]; ok {
		return t, nil
	}
	t, err := newTransport(p.opts, extra)
	if err != nil {
		return nil, err
	}
	p.variants[key] = t
	return t, nil
}

// client builds Helm's registry client for one operation; call done after it
// succeeds (it remembers the registry's auth scheme for later processes).
func (p *Puller) client(ctx context.Context, ref chartref.Reference, a Auth) (*registry.Client, func(), error) {
	t, err := p.transport(a.Extra)
	if err != nil {
		return nil, nil, err
	}
	hc := &http.Client{Transport: boundTransport{ctx: ctx, base: limitTransport{max: p.MaxChartSize, base: t}}, CheckRedirect: checkRedirect}
	credFunc := auth.StaticCredential(ref.Registry, auth.EmptyCredential)
	if a.Credential != nil {
		credFunc = auth.StaticCredential(ref.Registry, *a.Credential)
	}
	host := authHost(ref.Registry)
	cache := p.authCache(ctx, host, a)
	authorizer := auth.Client{
		Client:     hc,
		Credential: credFunc,
		Cache:      cache,
	}
	if p.userAgent != "" {
		authorizer.SetUserAgent(p.userAgent)
	}
	opts := []registry.ClientOption{
		registry.ClientOptHTTPClient(hc),
		registry.ClientOptAuthorizer(authorizer),
		// The client opens its credentials file when built; point it at an
		// empty file so the user's registry config is never read.
		registry.ClientOptCredentialsFile(os.DevNull),
	}
	if p.opts.PlainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the registry client: %w", err)
	}
	return c, func() { p.rememberScheme(ctx, host, cache) }, nil
}

func verify(ref chartref.Reference, res *registry.PullResult) (*Chart, error) {
	if res == nil || res.Manifest == nil || res.Chart == nil || res.Chart.Meta == nil {
		return nil, fmt.Errorf("pulling %q: the registry returned no chart", ref.String())
	}
	manifestDigest := res.Manifest.Digest
	if got := sha256Digest(res.Manifest.Data); got != manifestDigest {
		return nil, &DigestError{Ref: ref.String(), What: "manifest", Want: manifestDigest, Got: got}
	}
	if ref.Digest != "" && manifestDigest != ref.Digest {
		return nil, &DigestError{Ref: ref.String(), What: "manifest", Want: ref.Digest, Got: manifestDigest}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(res.Manifest.Data, &m); err != nil {
		return nil, fmt.Errorf("pulling %q: the manifest is not valid JSON", ref.String())
	}
	layer := ""
	for _, l := range m.Layers {
		if l.MediaType == registry.ChartLayerMediaType || l.MediaType == registry.LegacyChartLayerMediaType {
			layer = l.Digest.String()
			break
		}
	}
	if layer == "" {
		return nil, fmt.Errorf("pulling %q: the manifest has no chart layer (%s): is this a Helm chart?", ref.String(), registry.ChartLayerMediaType)
	}
	if res.Chart.Digest != layer {
		return nil, &DigestError{Ref: ref.String(), What: "chart layer", Want: layer, Got: res.Chart.Digest}
	}
	if got := sha256Digest(res.Chart.Data); got != layer {
		return nil, &DigestError{Ref: ref.String(), What: "chart layer", Want: layer, Got: got}
	}
	meta := res.Chart.Meta
	if ref.Version != "" && meta.Version != ref.Version {
		return nil, fmt.Errorf("pulling %q: the chart at %s is version %q, not %q: the digest does not belong to this version", ref.String(), manifestDigest, meta.Version, ref.Version)
	}
	if meta.Name != ref.Chart {
		return nil, fmt.Errorf("pulling %q: the chart at %s is named %q, not %q", ref.String(), manifestDigest, meta.Name, ref.Chart)
	}
	return &Chart{
		ManifestDigest: manifestDigest,
		LayerDigest:    layer,
		Name:           meta.Name,
		Version:        meta.Version,
		Data:           res.Chart.Data,
	}, nil
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// DigestError is content that does not hash to the digest it must have.
type DigestError struct {
	Ref, What, Want, Got string
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("pulling %q: %s digest mismatch: expected %s, got %s", e.Ref, e.What, e.Want, e.Got)
}

// describePullError turns registry and transport errors into one sentence that
// names the chart and what happened, with a hint where one helps.
func describePullError(ctx context.Context, ref chartref.Reference, err error) error {
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
	if errors.Is(err, errdef.ErrSizeExceedsLimit) {
		return fmt.Errorf("%s: the registry %s sent a manifest larger than the limit for manifests: is this a Helm chart?", what, ref.Registry)
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return clierror.WithHint(fmt.Errorf("%s: the registry %s refused the credentials (401 unauthorized)", what, ref.Registry),
				"check the Secret named by spec.source.authentication.secretRef")
		case http.StatusForbidden:
			return clierror.WithHint(fmt.Errorf("%s: the registry %s denied access (403 forbidden)", what, ref.Registry),
				"the credentials are valid but may not read this repository")
		case http.StatusNotFound:
			return clierror.WithHint(fmt.Errorf("%s: not found in the registry %s", what, ref.Registry),
				"check the repository, version and digest in spec.source.chart")
		default:
			request := ""
			if resp.URL != nil {
				request = fmt.Sprintf(" to %s %s", resp.Method, resp.URL.Path)
			}
			hint := ""
			if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
				hint = "the registry kept failing after 5 retries; try again later"
			}
			return clierror.WithHint(fmt.Errorf("%s: the registry %s answered %d %s%s", what, ref.Registry, resp.StatusCode, http.StatusText(resp.StatusCode), request), hint)
		}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return clierror.WithHint(fmt.Errorf("%s: the connection to %s broke during the download", what, ref.Registry),
			"try again; nothing was written")
	}
	// oras-go checks every blob against its descriptor while copying; a
	// Content-Length that differs from the descriptor's size has no sentinel error.
	if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) || strings.Contains(err.Error(), "mismatch Content-Length") {
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
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	if errors.As(err, &certErr) || errors.As(err, &recordErr) {
		return clierror.WithHint(fmt.Errorf("%s: TLS connection to %s failed: %w", what, ref.Registry, err),
			"pass --registry-ca-file with the registry's CA; --registry-insecure-skip-tls-verify turns verification off (not recommended)")
	}
	return fmt.Errorf("%s: %w", what, err)
}
