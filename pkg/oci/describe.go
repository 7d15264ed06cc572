package oci

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/place"
	"github.com/ocisrc/ocisrc/pkg/termsafe"
)

// describeConnection says in one sentence what went wrong on the way to
// the registry host — an HTTP answer to HTTPS, a client certificate it
// requires or refuses, a certificate that cannot be verified — with the
// flag or policy field that fixes it; nil for any other error. what starts
// the sentence ("pulling \"oci://…\"").
func describeConnection(what string, host place.Host, err error) error {
	msg := err.Error()
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	switch {
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return clierror.WithHint(fmt.Errorf("%s: the registry %s answers plain HTTP, not HTTPS", what, host),
			fmt.Sprintf("if %s is meant to speak plain HTTP (a registry on a trusted network), set plainHTTP: true for its prefix in the registry policy file, or pass --plain-http for a run over this registry alone", host))
	case errors.Is(err, errCertificateRequired) || strings.Contains(msg, "tls: certificate required"):
		return clierror.WithHint(fmt.Errorf("%s: the registry %s requires a client certificate (mutual TLS), and none was given", what, host),
			"put tls.crt and tls.key in the Component's Secret, or pass --registry-cert-file and --registry-key-file (certFile and keyFile in the registry policy file)")
	case errors.Is(err, errCertificateRefused) || strings.Contains(msg, "tls: bad certificate") || strings.Contains(msg, "tls: unknown certificate authority"):
		return clierror.WithHint(fmt.Errorf("%s: the registry %s refused the client certificate", what, host),
			"check that the client certificate (tls.crt in the Secret, --registry-cert-file, or certFile in the policy) is issued by a CA the registry trusts")
	case errors.As(err, &certErr) || errors.As(err, &recordErr):
		// TLS's own words, without the library's ("failed to perform …").
		cause := recordErr.Error()
		if certErr != nil {
			cause = certErr.Error()
		}
		return clierror.WithHint(fmt.Errorf("%s: TLS connection to %s failed: %s", what, host, termsafe.Escape(cause)),
			"pass --registry-ca-file with the registry's CA; --registry-insecure-skip-tls-verify turns verification off (not recommended)")
	}
	return nil
}

// DescribePushError says why pushing to the registry host failed, in one
// sentence and a hint: the connection (see describeConnection), missing
// or refused credentials (loginFrom says where credentials for host were
// looked for), and oras-go's copy errors without their "failed to perform
// …" wording. Whatever the registry said is escaped.
func DescribePushError(what string, host place.Host, loginFrom string, err error) error {
	var copyErr *oras.CopyError
	if errors.As(err, &copyErr) {
		if copyErr.Origin == oras.CopyErrorOriginSource {
			return fmt.Errorf("%s: reading the bundle: %s", what, termsafe.Escape(copyErr.Err.Error()))
		}
		err = copyErr.Err
	}
	if d := describeConnection(what, host, err); d != nil {
		return d
	}
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return clierror.WithHint(fmt.Errorf("%s: the registry %s requires credentials, and there are none for it in %s", what, host, loginFrom),
			fmt.Sprintf("log in once with: helm registry login %s (or name a secretRef for this mirror in the registry policy)", host))
	}
	return fmt.Errorf("%s: %s", what, termsafe.Escape(err.Error()))
}
