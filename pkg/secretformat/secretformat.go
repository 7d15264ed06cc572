// Package secretformat decodes the registry credentials users keep in
// Kubernetes Secrets: plain keys, docker config JSON (new and legacy) and TLS
// material. It has no Kubernetes dependencies, so its fuzz targets run fast.
//
// Nothing in this package ever puts a Secret's value into an error, a log
// line or any output: errors name keys, never values.
package secretformat

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/place"
)

// Secret keys ocisrc reads.
const (
	KeyUsername      = "username"
	KeyPassword      = "password"
	KeyToken         = "token"
	KeyIdentityToken = "identitytoken"
	// KeyRegistry binds the Secret to registry hosts: one host[:port] or a comma-separated list.
	KeyRegistry = "registry"
	// TLS material, as Flux's certSecretRef keeps it.
	KeyCA         = "ca.crt"
	KeyClientCert = "tls.crt"
	KeyClientKey  = "tls.key"
	// Docker config keys, and the Secret types that hold them.
	KeyDockerConfigJSON  = ".dockerconfigjson"
	KeyDockerCfg         = ".dockercfg"
	TypeDockerConfigJSON = "kubernetes.io/dockerconfigjson"
	TypeDockerCfg        = "kubernetes.io/dockercfg"
	// The other Secret types ocisrc reads.
	TypeOpaque    = "Opaque"
	TypeBasicAuth = "kubernetes.io/basic-auth"
	TypeTLS       = "kubernetes.io/tls"
)

// credentialKeys are the keys that hold a credential; a kubernetes.io/tls
// Secret must hold none of them.
var credentialKeys = []string{KeyUsername, KeyPassword, KeyToken, KeyIdentityToken, KeyDockerConfigJSON, KeyDockerCfg}

// Secret is what the decoders need of a Kubernetes Secret.
type Secret struct {
	// Name is namespace/name, for messages.
	Name string
	Type string
	Data map[string][]byte
}

// Kind says how a credential authenticates, for output; never the value.
type Kind string

// Credential kinds.
const (
	KindBasic         Kind = "basic"              // username + password
	KindBearer        Kind = "registry-token"     // a registry (bearer) token sent as is
	KindTokenAsBasic  Kind = "token"              // username + token, the token used as the password
	KindIdentityToken Kind = "identity-token"     // an OAuth2 refresh token exchanged at the token realm
	KindClientCert    Kind = "client-certificate" // mutual TLS only
)

// Decoded is what a Secret yields for one registry host. It holds secret
// material: it prints as its kind only.
type Decoded struct {
	Credential auth.Credential
	Kind       Kind
	// Hosts binds the credential: the registry hosts the Secret names (its
	// registry key, or its docker config entries). Nil means unbound.
	Hosts []place.Host
	// CAPEM is extra CAs to trust for the registry (ca.crt).
	CAPEM []byte
	// CertPEM and KeyPEM are a client certificate (tls.crt, tls.key).
	CertPEM, KeyPEM []byte
}

// String never shows the credential.
func (d Decoded) String() string { return fmt.Sprintf("credentials(%s)", d.Kind) }

// GoString never shows the credential either (%#v).
func (d Decoded) GoString() string { return d.String() }

// Decode reads the credential for registry host from secret, in whichever
// format it is: a kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg
// Secret (or an Opaque one with that key), or plain keys in an Opaque (or
// untyped) or kubernetes.io/basic-auth Secret:
//
//	username + password        basic auth
//	username + token           the token used as the password (personal access tokens)
//	token                      a registry (bearer) token
//	identitytoken [+ username] an OAuth2 refresh token
//
// plus the optional registry, ca.crt, tls.crt and tls.key keys. A
// kubernetes.io/tls Secret gives TLS material only (a client certificate, as
// Flux's certSecretRef) and must hold no credential key. A Secret of any other
// type (a service-account token, a bootstrap token, …) is never used. Any
// other combination, an empty value or malformed content is invalid input
// (exit 2); the error names the keys, never their values.
func Decode(secret Secret, host place.Host) (Decoded, error) {
	name := secret.Name
	var d Decoded
	var err error
	switch secret.Type {
	case "", TypeOpaque, TypeBasicAuth, TypeDockerConfigJSON, TypeDockerCfg, TypeTLS:
	default:
		return Decoded{}, clierror.InvalidWithHint(
			fmt.Errorf("secret %q is of type %+q, which ocisrc never uses for registry authentication", name, secret.Type),
			"point spec.source.authentication.secretRef at a Secret of type Opaque, kubernetes.io/basic-auth, kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg (kubernetes.io/tls for a client certificate only)")
	}
	switch {
	case secret.Type == TypeTLS:
		for _, k := range credentialKeys {
			if hasKey(secret, k) {
				return Decoded{}, clierror.InvalidWithHint(
					fmt.Errorf("secret %q is of type %s, which may hold a client certificate only, but it has a %q key", name, TypeTLS, k),
					"keep registry credentials in an Opaque, kubernetes.io/basic-auth or kubernetes.io/dockerconfigjson Secret")
			}
		}
		if hasKey(secret, KeyRegistry) {
			if d.Hosts, err = registryKey(name, secret); err != nil {
				return Decoded{}, err
			}
		}
	case secret.Type == TypeDockerConfigJSON || secret.Type != TypeDockerCfg && hasKey(secret, KeyDockerConfigJSON):
		d, err = decodeDockerConfig(name, secret, KeyDockerConfigJSON, true, host)
	case secret.Type == TypeDockerCfg || hasKey(secret, KeyDockerCfg):
		d, err = decodeDockerConfig(name, secret, KeyDockerCfg, false, host)
	default:
		d, err = decodeKeys(name, secret)
	}
	if err != nil {
		return Decoded{}, err
	}
	if err := decodeTLS(name, secret, &d); err != nil {
		return Decoded{}, err
	}
	if d.Credential == auth.EmptyCredential && d.CertPEM == nil {
		return Decoded{}, badKeys(name, secret, "no registry credential found")
	}
	return d, nil
}

func hasKey(s Secret, k string) bool { _, ok := s.Data[k]; return ok }

func decodeKeys(name string, secret Secret) (Decoded, error) {
	present := func(k string) bool { return hasKey(secret, k) }
	for _, k := range []string{KeyUsername, KeyPassword, KeyToken, KeyIdentityToken, KeyRegistry} {
		if present(k) && len(secret.Data[k]) == 0 {
			return Decoded{}, clierror.Invalid(fmt.Errorf("secret %q has an empty %q key: expected a non-empty value", name, k))
		}
	}
	var d Decoded
	if present(KeyRegistry) {
		hosts, err := registryKey(name, secret)
		if err != nil {
			return Decoded{}, err
		}
		d.Hosts = hosts
	}
	user, pass := string(secret.Data[KeyUsername]), string(secret.Data[KeyPassword])
	token, identity := string(secret.Data[KeyToken]), string(secret.Data[KeyIdentityToken])
	secrets := 0
	for _, k := range []string{KeyPassword, KeyToken, KeyIdentityToken} {
		if present(k) {
			secrets++
		}
	}
	switch {
	case secrets > 1:
		return Decoded{}, badKeys(name, secret, "password, token and identitytoken exclude each other: keep one")
	case present(KeyPassword):
		if !present(KeyUsername) {
			return Decoded{}, badKeys(name, secret, "password needs a username")
		}
		d.Credential, d.Kind = auth.Credential{Username: user, Password: pass}, KindBasic
	case present(KeyToken) && present(KeyUsername):
		d.Credential, d.Kind = auth.Credential{Username: user, Password: token}, KindTokenAsBasic
	case present(KeyToken):
		d.Credential, d.Kind = auth.Credential{AccessToken: token}, KindBearer
	case present(KeyIdentityToken):
		d.Credential, d.Kind = auth.Credential{Username: user, RefreshToken: identity}, KindIdentityToken
	case present(KeyUsername):
		return Decoded{}, badKeys(name, secret, "username needs a password, a token or an identitytoken")
	}
	return d, nil
}

func decodeTLS(name string, secret Secret, d *Decoded) error {
	if ca, ok := secret.Data[KeyCA]; ok {
		if !x509.NewCertPool().AppendCertsFromPEM(ca) {
			return clierror.Invalid(fmt.Errorf("secret %q has a %q key that holds no PEM certificate", name, KeyCA))
		}
		d.CAPEM = ca
	}
	cert, hasCert := secret.Data[KeyClientCert]
	key, hasKey := secret.Data[KeyClientKey]
	switch {
	case hasCert != hasKey:
		return clierror.Invalid(fmt.Errorf("secret %q has only one of %q and %q: a client certificate needs both", name, KeyClientCert, KeyClientKey))
	case hasCert:
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			return clierror.Invalid(fmt.Errorf("secret %q: %q and %q are not a matching PEM certificate and key", name, KeyClientCert, KeyClientKey))
		}
		d.CertPEM, d.KeyPEM = cert, key
		if d.Kind == "" {
			d.Kind = KindClientCert
		}
	}
	return nil
}

func badKeys(name string, secret Secret, why string) error {
	return clierror.InvalidWithHint(
		fmt.Errorf("secret %q cannot be used for registry authentication: %s (keys present: %s)", name, why, keyList(secret)),
		"the Secret needs username and password, username and token, a token, an identitytoken, or a .dockerconfigjson")
}

// keyList names the data keys of a Secret, sorted; never values.
func keyList(secret Secret) string {
	if len(secret.Data) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(secret.Data))
	for k := range secret.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// registryKey reads the registry key: the hosts the Secret is bound to.
func registryKey(name string, secret Secret) ([]place.Host, error) {
	if len(secret.Data[KeyRegistry]) == 0 {
		return nil, clierror.Invalid(fmt.Errorf("secret %q has an empty %q key: expected a non-empty value", name, KeyRegistry))
	}
	hosts, err := parseHostList(string(secret.Data[KeyRegistry]))
	if err != nil {
		return nil, clierror.InvalidWithHint(fmt.Errorf("secret %q has an invalid %q key: %w", name, KeyRegistry, err),
			"set it to the registry host, e.g. registry.example.com or registry.example.com:5000, or a comma-separated list")
	}
	return hosts, nil
}

// parseHostList parses the registry key: host[:port] entries separated by commas.
func parseHostList(s string) ([]place.Host, error) {
	var hosts []place.Host
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		h, err := ParseHost(part)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, errors.New("it names no host")
	}
	return hosts, nil
}

// HostList is hosts as a comma-separated list, for messages.
func HostList(hosts []place.Host) string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.String()
	}
	return strings.Join(out, ", ")
}
