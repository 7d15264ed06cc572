package secretformat

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/place"
)

// ParseHost turns a registry address as people write it in a docker config
// or a registry key (host, host:port, https://host/v1/, a Docker Hub alias)
// into its canonical form (see pkg/place).
func ParseHost(s string) (place.Host, error) {
	return place.ParseServer(s)
}

// dockerEntry is one registry in a docker config file.
type dockerEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// decodeDockerConfig reads a .dockerconfigjson ({"auths": {...}}) or a legacy
// .dockercfg ({...}) and picks the entry for host. The entries bind the
// credential: no entry for host is invalid input naming the hosts there are.
func decodeDockerConfig(name string, secret Secret, key string, wrapped bool, want place.Host) (Decoded, error) {
	raw, ok := secret.Data[key]
	if !ok {
		return Decoded{}, badKeys(name, secret, fmt.Sprintf("the %q key is missing", key))
	}
	var entries map[string]dockerEntry
	if wrapped {
		var doc struct {
			Auths map[string]dockerEntry `json:"auths"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return Decoded{}, clierror.Invalid(fmt.Errorf("secret %q: the %q key is not a docker config: expected JSON with an \"auths\" object", name, key))
		}
		entries = doc.Auths
	} else if err := json.Unmarshal(raw, &entries); err != nil {
		return Decoded{}, clierror.Invalid(fmt.Errorf("secret %q: the %q key is not a docker config: expected a JSON object of registries", name, key))
	}

	var hosts []place.Host
	var entry *dockerEntry
	var entryKey string
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h, err := ParseHost(k)
		if err != nil {
			return Decoded{}, clierror.Invalid(fmt.Errorf("secret %q: the %q key has an entry that is not a registry host", name, key))
		}
		hosts = append(hosts, h)
		if h == want && entry == nil {
			e := entries[k]
			entry, entryKey = &e, k
		}
	}
	if entry == nil {
		have := "none"
		if len(hosts) > 0 {
			have = HostList(hosts)
		}
		return Decoded{}, clierror.InvalidWithHint(
			fmt.Errorf("secret %q has no credentials for the registry %s (its %q has entries for: %s)", name, want, key, have),
			"add an entry for the chart's registry host to the Secret, or point the Component at the Secret for that registry")
	}
	d := Decoded{Hosts: hosts}
	where := fmt.Sprintf("secret %q: the %q entry for %q", name, key, entryKey)
	user, pass := entry.Username, entry.Password
	if entry.Auth != "" {
		plain, err := base64.StdEncoding.DecodeString(entry.Auth)
		if err != nil {
			return Decoded{}, clierror.Invalid(fmt.Errorf("%s has an \"auth\" field that is not valid base64", where))
		}
		u, p, ok := strings.Cut(string(plain), ":")
		if !ok || u == "" {
			return Decoded{}, clierror.Invalid(fmt.Errorf("%s has an \"auth\" field that does not decode to username:password", where))
		}
		user, pass = u, p
	}
	switch {
	case entry.IdentityToken != "":
		d.Credential, d.Kind = auth.Credential{Username: user, RefreshToken: entry.IdentityToken}, KindIdentityToken
	case entry.RegistryToken != "":
		d.Credential, d.Kind = auth.Credential{AccessToken: entry.RegistryToken}, KindBearer
	case user != "" && pass != "":
		d.Credential, d.Kind = auth.Credential{Username: user, Password: pass}, KindBasic
	default:
		return Decoded{}, clierror.Invalid(fmt.Errorf("%s has no credential: expected auth, username and password, identitytoken or registrytoken", where))
	}
	return d, nil
}
