package oci

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/ocisrc/ocisrc/pkg/clierror"
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

// newTransport builds the base transport: TLS settings, proxy from the
// environment, and oras-go's retry policy for idempotent requests (the
// transport Helm's own client uses).
func newTransport(o TLSOptions) (http.RoundTripper, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12} //nolint:gosec // InsecureSkipVerify is set below only when the user asked for it.
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, clierror.Invalid(fmt.Errorf("reading --registry-ca-file %q: %w", o.CAFile, errors.Unwrap(err)))
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, clierror.Invalid(fmt.Errorf("--registry-ca-file %q holds no PEM certificate", o.CAFile))
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		if o.CertFile == "" || o.KeyFile == "" {
			return nil, clierror.Invalid(errors.New("--registry-cert-file and --registry-key-file must be given together"))
		}
		pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, clierror.Invalid(fmt.Errorf("loading the client certificate from --registry-cert-file %q and --registry-key-file %q: the files must hold a matching PEM certificate and key", o.CertFile, o.KeyFile))
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	cfg.InsecureSkipVerify = o.InsecureSkipTLSVerify

	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       cfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	return retry.NewTransport(base), nil
}

// boundTransport ties every request to one operation's context: Helm's
// registry client makes its requests with context.Background(), so without
// this neither --timeout nor Ctrl-C could stop a pull.
type boundTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t boundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	return t.base.RoundTrip(req.WithContext(t.ctx))
}
