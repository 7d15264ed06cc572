package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/place"
	"github.com/ocisrc/ocisrc/pkg/units"
)

// TLSOptions are the registry connection settings. Verification is on unless
// InsecureSkipTLSVerify is set.
type TLSOptions struct {
	// CAFile is a PEM bundle of CAs to trust in addition to the system pool.
	CAFile string
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile string
	KeyFile  string
	// InsecureSkipTLSVerify turns certificate verification off.
	InsecureSkipTLSVerify bool
	// PlainHTTP talks HTTP instead of HTTPS.
	PlainHTTP bool
}

// Extra is how to connect to one registry host beyond the run's flags: TLS
// material that comes with a credential (its Secret's ca.crt, tls.crt and
// tls.key), and the registry policy's settings for that host.
type Extra struct {
	// CAPEM, CertPEM and KeyPEM are the Secret's.
	CAPEM, CertPEM, KeyPEM []byte
	// PolicyCAs are the registry policy's CAs for the host.
	PolicyCAs [][]byte
	// PolicyCertPEM and PolicyKeyPEM are the policy file's client
	// certificate, used when neither the flags nor the Secret give one.
	PolicyCertPEM, PolicyKeyPEM []byte
	// InsecureSkipVerify and PlainHTTP relax this host only (the policy
	// file's, or a flag in a run over this one registry).
	InsecureSkipVerify bool
	PlainHTTP          bool
}

func (e Extra) empty() bool {
	return len(e.CAPEM) == 0 && len(e.CertPEM) == 0 && len(e.PolicyCAs) == 0 && len(e.PolicyCertPEM) == 0 && !e.InsecureSkipVerify
}

// key identifies the transport e needs (PlainHTTP is the client's, not the transport's).
func (e Extra) key() string {
	sum := sha256.New()
	for _, b := range append([][]byte{e.CAPEM, e.CertPEM, e.KeyPEM, e.PolicyCertPEM, e.PolicyKeyPEM}, e.PolicyCAs...) {
		fmt.Fprintf(sum, "%d:", len(b))
		sum.Write(b)
	}
	fmt.Fprintf(sum, "%d:%v", len(e.PolicyCAs), e.InsecureSkipVerify)
	return hex.EncodeToString(sum.Sum(nil))
}

// tlsConfig builds the TLS settings of o, plus those of extra.
func tlsConfig(o TLSOptions, extra Extra) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12} //nolint:gosec // InsecureSkipVerify is set below only when the user asked for it.
	var pool *x509.CertPool
	addCAs := func(pem []byte) bool {
		if pool == nil {
			p, err := x509.SystemCertPool()
			if err != nil || p == nil {
				p = x509.NewCertPool()
			}
			pool = p
		}
		return pool.AppendCertsFromPEM(pem)
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, clierror.Invalid(fmt.Errorf("reading --registry-ca-file %q: %w", o.CAFile, errors.Unwrap(err)))
		}
		if !addCAs(pem) {
			return nil, clierror.Invalid(fmt.Errorf("--registry-ca-file %q holds no PEM certificate", o.CAFile))
		}
	}
	if len(extra.CAPEM) > 0 && !addCAs(extra.CAPEM) {
		return nil, clierror.Invalid(errors.New("the Secret's ca.crt holds no PEM certificate"))
	}
	for _, ca := range extra.PolicyCAs {
		if !addCAs(ca) {
			return nil, clierror.Invalid(errors.New("a CA of the registry policy holds no PEM certificate"))
		}
	}
	cfg.RootCAs = pool
	if o.CertFile != "" || o.KeyFile != "" {
		if o.CertFile == "" || o.KeyFile == "" {
			return nil, clierror.Invalid(errors.New("--registry-cert-file and --registry-key-file must be given together"))
		}
		if len(extra.CertPEM) > 0 {
			return nil, clierror.InvalidWithHint(errors.New("both --registry-cert-file and the Secret's tls.crt give a client certificate: only one can be used"),
				"drop the flags, or the Secret's tls.crt and tls.key")
		}
		pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, clierror.Invalid(fmt.Errorf("loading the client certificate from --registry-cert-file %q and --registry-key-file %q: the files must hold a matching PEM certificate and key", o.CertFile, o.KeyFile))
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if len(extra.CertPEM) > 0 {
		pair, err := tls.X509KeyPair(extra.CertPEM, extra.KeyPEM)
		if err != nil {
			return nil, clierror.Invalid(errors.New("the Secret's tls.crt and tls.key are not a matching PEM certificate and key"))
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	// The policy file's client certificate comes last: flag, else Secret, else file.
	if len(cfg.Certificates) == 0 && len(extra.PolicyCertPEM) > 0 {
		pair, err := tls.X509KeyPair(extra.PolicyCertPEM, extra.PolicyKeyPEM)
		if err != nil {
			return nil, clierror.Invalid(errors.New("the registry policy's certFile and keyFile are not a matching PEM certificate and key"))
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	cfg.InsecureSkipVerify = o.InsecureSkipTLSVerify || extra.InsecureSkipVerify
	return cfg, nil
}

// newTransport builds a base transport: TLS settings, proxy from the
// environment, and oras-go's retry policy for idempotent requests (the
// transport Helm's own client uses).
func newTransport(o TLSOptions, extra Extra) (http.RoundTripper, error) {
	cfg, err := tlsConfig(o, extra)
	if err != nil {
		return nil, err
	}
	// Whether the registry asks for a client certificate is recorded, to
	// tell why it closes a connection (see idempotentRetry).
	asked := &clientCertificateAsked{given: len(cfg.Certificates) > 0}
	certs := cfg.Certificates
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked.asked.Store(true)
		if len(certs) > 0 {
			return &certs[0], nil
		}
		return &tls.Certificate{}, nil
	}
	dialer := newPreDialer(cfg)
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       cfg,
		DialTLSContext:        dialer.DialTLSContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	return idempotentRetry{retry: retry.NewTransport(base), base: base, dialer: dialer, certificateAsked: asked}, nil
}

// clientCertificateAsked records whether a registry asked for a client
// certificate, and whether one is given.
type clientCertificateAsked struct {
	asked atomic.Bool
	given bool
}

// Connections a registry closed right after asking for a client
// certificate: it wanted one and none was given, or it refused the one
// given.
var (
	errCertificateRequired = errors.New("tls: certificate required")
	errCertificateRefused  = errors.New("tls: bad certificate")
)

// certificateAlert wraps a connection error on a transport whose registry
// asked for a client certificate.
type certificateAlert struct {
	err, kind error
}

func (e *certificateAlert) Error() string {
	if errors.Is(e.kind, errCertificateRequired) {
		return e.err.Error() + " (the registry asked for a client certificate, and none was given)"
	}
	return e.err.Error() + " (the registry asked for a client certificate and closed the connection: it refused the one given)"
}
func (e *certificateAlert) Unwrap() []error { return []error{e.err, e.kind} }

// closedConnection reports whether err is the peer closing the connection.
func closedConnection(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		// net/http's HTTP/2 client, when the connection closes before its
		// preface is answered (its error is not exported).
		strings.Contains(err.Error(), "http2: client conn could not be established")
}

// idempotentRetry sends GET and HEAD (and other idempotent methods) through
// oras-go's retry transport — the policy Helm's own client uses: up to 5
// retries on 408, 429, 5xx, timeouts, resets and unexpected EOFs, with
// exponential backoff from 250 ms (±10 %), each wait within 200 ms–3 s and a
// 429's Retry-After honoured within that bound — and everything else (the
// token POST) straight through.
type idempotentRetry struct {
	retry, base      http.RoundTripper
	dialer           *preDialer
	certificateAsked *clientCertificateAsked
}

func (t idempotentRetry) RoundTrip(req *http.Request) (*http.Response, error) {
	var resp *http.Response
	var err error
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		resp, err = t.retry.RoundTrip(req)
	default:
		resp, err = t.base.RoundTrip(req)
	}
	// With TLS 1.3 a registry refuses a client certificate (or its
	// absence) after the handshake, in an alert a client that writes first
	// may never read: it sees the connection closed.
	if a := t.certificateAsked; err != nil && a != nil && a.asked.Load() && closedConnection(err) {
		kind := errCertificateRequired
		if a.given {
			kind = errCertificateRefused
		}
		err = &certificateAlert{err: err, kind: kind}
	}
	return resp, err
}

// DefaultMaxChartSize is the default of --max-chart-size: Helm's own limit
// on a chart's decompressed size, so no archive Helm would load is refused.
const DefaultMaxChartSize = 100 << 20

// SizeError is a blob larger than the limit.
type SizeError struct {
	Limit, Size int64
}

func (e *SizeError) Error() string {
	if e.Size > 0 {
		return fmt.Sprintf("the registry sends %s, more than the maximum chart size of %s", units.Bytes(e.Size), units.Bytes(e.Limit))
	}
	return fmt.Sprintf("the registry sends more than the maximum chart size of %s", units.Bytes(e.Limit))
}

// Limits on what a chart pull reads. A Helm chart's manifest has a config
// (Chart.yaml as JSON) and one or two layers (the chart, its .prov).
const (
	// MaxConfigSize bounds the chart's config blob.
	MaxConfigSize = 1 << 20
	// MaxLayers bounds the layers of a chart's manifest.
	MaxLayers = 16
	// maxManifestSize is oras-go's own limit on manifests.
	maxManifestSize = 4 << 20
)

// ManifestError is a manifest that is not a Helm chart's, refused before any
// of its blobs is downloaded.
type ManifestError struct{ Reason string }

func (e *ManifestError) Error() string { return e.Reason }

// PlainHTTPCredentialsError is a request that would have carried credentials
// over plain HTTP to a host that is not this machine; it was not sent.
type PlainHTTPCredentialsError struct{ Host string }

func (e *PlainHTTPCredentialsError) Error() string {
	return fmt.Sprintf("refusing to send credentials over plain HTTP to %s: anyone on the network could read them", e.Host)
}

// guardTransport is the part of every request ocisrc checks itself, below
// Helm's and oras-go's clients:
//
//   - every request is tied to one operation's context (Helm's client makes
//     its requests with context.Background(), so without this neither
//     --timeout nor Ctrl-C could stop a pull);
//   - no request carrying credentials (an Authorization header, or a token
//     request's form) goes over plain HTTP to a host that is not this
//     machine — the registry's token realm included — unless allowed;
//   - a chart manifest is checked before any blob it names is fetched: an
//     OCI image manifest with at most MaxLayers layers, a config of at most
//     MaxConfigSize and layers of at most max bytes each;
//   - every other GET body — blobs, wherever a redirect sends them — is
//     refused beyond max bytes: by its Content-Length before it is read, and
//     by counting otherwise.
type guardTransport struct {
	ctx  context.Context
	base http.RoundTripper
	// max is --max-chart-size (0: no limit).
	max int64
	// allowPlainCredentials is --allow-plain-http-credentials.
	allowPlainCredentials bool
	// chartManifests checks manifests as a chart's.
	chartManifests bool
	// onManifest, when set, is given every chart manifest once checked.
	onManifest func([]byte)
	// onAnswer, when set, is told the status (or error) of every answer.
	onAnswer func(int, error)
}

func (t guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	if req.URL.Scheme == "http" && !t.allowPlainCredentials && !place.IsLoopbackAddress(req.URL.Host) &&
		(req.Header.Get("Authorization") != "" || req.Method == http.MethodPost) {
		return nil, &PlainHTTPCredentialsError{Host: req.URL.Host}
	}
	resp, err := t.base.RoundTrip(req.WithContext(t.ctx))
	if t.onAnswer != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.onAnswer(status, err)
	}
	if err != nil || req.Method != http.MethodGet || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	if strings.Contains(req.URL.Path, "/manifests/") {
		if t.chartManifests {
			return t.checkManifest(resp)
		}
		return resp, nil
	}
	if t.max <= 0 {
		return resp, nil
	}
	if resp.ContentLength > t.max {
		_ = resp.Body.Close()
		return nil, &SizeError{Limit: t.max, Size: resp.ContentLength}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max, limit: t.max}
	return resp, nil
}

// checkManifest reads a manifest response (oras-go would read it whole too)
// and refuses one that is not a chart's before its blobs are fetched.
func (t guardTransport) checkManifest(resp *http.Response) (*http.Response, error) {
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifestSize {
		return nil, &ManifestError{Reason: fmt.Sprintf("a manifest larger than the limit for manifests (%d bytes)", maxManifestSize)}
	}
	var m struct {
		MediaType string `json:"mediaType"`
		Config    *struct {
			Size int64 `json:"size"`
		} `json:"config"`
		Layers    []struct{ Size int64 } `json:"layers"`
		Manifests []json.RawMessage      `json:"manifests"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, &ManifestError{Reason: "a manifest that is not valid JSON"}
	}
	mediaType := m.MediaType
	if ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";"); mediaType == "" {
		mediaType = strings.TrimSpace(ct)
	}
	switch {
	case m.Manifests != nil || mediaType == ocispec.MediaTypeImageIndex || strings.Contains(mediaType, "manifest.list"):
		return nil, &ManifestError{Reason: "an index of manifests (a multi-platform image?), not a Helm chart's manifest"}
	case m.Config == nil:
		return nil, &ManifestError{Reason: "a manifest without a config: not a Helm chart's manifest"}
	case len(m.Layers) > MaxLayers:
		return nil, &ManifestError{Reason: fmt.Sprintf("a manifest with %d layers (a Helm chart has at most %d)", len(m.Layers), MaxLayers)}
	case m.Config.Size < 0 || m.Config.Size > MaxConfigSize:
		return nil, &ManifestError{Reason: fmt.Sprintf("a manifest whose config claims %d bytes (a Helm chart's config is at most %d)", m.Config.Size, MaxConfigSize)}
	}
	for _, l := range m.Layers {
		if l.Size < 0 {
			return nil, &ManifestError{Reason: "a manifest with a layer of negative size"}
		}
		if t.max > 0 && l.Size > t.max {
			return nil, &SizeError{Limit: t.max, Size: l.Size}
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	if t.onManifest != nil {
		t.onManifest(data)
	}
	return resp, nil
}

type limitedBody struct {
	rc          io.ReadCloser
	left, limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells "exactly the limit" from "over it".
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, &SizeError{Limit: b.limit}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// checkRedirect keeps credentials with the registry that was asked: a
// redirect to any other host:port (object storage serving blobs) loses the
// Authorization header, and HTTPS never redirects to plain HTTP. Go itself
// only strips the header for another host name, whatever the port.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	first := via[0].URL
	if first.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refusing a redirect from %s to plain HTTP (%s)", first.Host, req.URL.Host)
	}
	if !strings.EqualFold(req.URL.Host, first.Host) {
		req.Header.Del("Authorization")
		req.Header.Del("Cookie")
	}
	return nil
}
