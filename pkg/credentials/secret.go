// Package credentials turns a Component's authentication.secretRef into a
// registry credential: it enforces where the Secret may live, reads it with
// the user's own identity, and decodes the formats users keep.
//
// Nothing in this package ever puts a Secret's value into an error, a log
// line or any output: errors name keys, never values.
package credentials

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/pkg/clierror"
)

// Secret keys ocisrc reads.
const (
	KeyUsername = "username"
	KeyPassword = "password"
	KeyToken    = "token"
)

// Kind says how a credential authenticates, for output; never the value.
type Kind string

// Credential kinds.
const (
	KindBasic        Kind = "basic"          // username + password
	KindBearer       Kind = "registry-token" // token alone, sent as a registry (bearer) token
	KindTokenAsBasic Kind = "token"          // username + token, the token used as the password
)

// Decoded is a credential decoded from a Secret.
type Decoded struct {
	Credential auth.Credential
	Kind       Kind
}

// Decode reads registry credentials from the Secret's data:
//
//	username + password  basic auth
//	token                a registry (bearer) token
//	username + token     the token used as the password (personal access tokens)
//
// Any other combination, or an empty value, is invalid input (exit 2); the
// error names the keys present, never their values.
func Decode(secret *corev1.Secret) (Decoded, error) {
	name := secret.Namespace + "/" + secret.Name
	present := func(k string) bool { _, ok := secret.Data[k]; return ok }
	for _, k := range []string{KeyUsername, KeyPassword, KeyToken} {
		if present(k) && len(secret.Data[k]) == 0 {
			return Decoded{}, clierror.Invalid(fmt.Errorf("secret %q has an empty %q key: expected a non-empty value", name, k))
		}
	}
	user, pass, token := string(secret.Data[KeyUsername]), string(secret.Data[KeyPassword]), string(secret.Data[KeyToken])
	switch {
	case present(KeyPassword) && present(KeyToken):
		return Decoded{}, badKeys(name, secret, "both password and token are set: keep one")
	case present(KeyUsername) && present(KeyPassword):
		return Decoded{Credential: auth.Credential{Username: user, Password: pass}, Kind: KindBasic}, nil
	case present(KeyUsername) && present(KeyToken):
		return Decoded{Credential: auth.Credential{Username: user, Password: token}, Kind: KindTokenAsBasic}, nil
	case present(KeyToken):
		return Decoded{Credential: auth.Credential{AccessToken: token}, Kind: KindBearer}, nil
	case present(KeyUsername):
		return Decoded{}, badKeys(name, secret, "username needs a password or a token")
	case present(KeyPassword):
		return Decoded{}, badKeys(name, secret, "password needs a username")
	default:
		return Decoded{}, badKeys(name, secret, "no registry credential found")
	}
}

func badKeys(name string, secret *corev1.Secret, why string) error {
	return clierror.InvalidWithHint(
		fmt.Errorf("secret %q cannot be used for registry authentication: %s (keys present: %s)", name, why, keyList(secret)),
		"the Secret needs username and password, a token alone, or username and token")
}

// keyList names the data keys of a Secret, sorted; never values.
func keyList(secret *corev1.Secret) string {
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
