package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"helm.sh/helm/v4/pkg/helmpath"
	"oras.land/oras-go/v2/registry/remote/auth"
	orascreds "oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/place"
)

// RegistryConfigPath is Helm's registry config file, as Helm resolves it:
// HELM_REGISTRY_CONFIG, else <helm config home>/registry/config.json.
func RegistryConfigPath(getenv func(string) string) string {
	if p := getenv("HELM_REGISTRY_CONFIG"); p != "" {
		return p
	}
	return helmpath.ConfigPath("registry", "config.json")
}

// RegistryConfig is Helm's registry config file (the docker config format).
// It is read and written as a plain file: no OS credential helper is ever
// asked to store or hand out anything.
type RegistryConfig struct {
	Path string
}

func (c RegistryConfig) store() (*orascreds.FileStore, error) {
	fs, err := orascreds.NewFileStore(c.Path)
	if err != nil {
		return nil, fmt.Errorf("reading Helm's registry config %q: it is not a valid docker config file", c.Path)
	}
	return fs, nil
}

// Login stores cred for host. The file is replaced atomically (written beside
// it and renamed) and is readable by its owner only.
func (c RegistryConfig) Login(ctx context.Context, host place.Host, cred auth.Credential) error {
	if cred == auth.EmptyCredential {
		return errors.New("the Secret holds no credential to log in with (only TLS material)")
	}
	if err := c.checkNoHelper(host); err != nil {
		return err
	}
	fs, err := c.store()
	if err != nil {
		return err
	}
	if err := fs.Put(ctx, orascreds.ServerAddressFromRegistry(host.String()), cred); err != nil {
		return fmt.Errorf("writing Helm's registry config %q: %w", c.Path, err)
	}
	if err := os.Chmod(c.Path, 0o600); err != nil {
		return fmt.Errorf("restricting Helm's registry config %q to its owner: %w", c.Path, err)
	}
	return nil
}

// checkNoHelper refuses to log in when the registry config names a
// credential helper for host ("credsStore", as helm registry login writes
// where a helper exists, or "credHelpers"): Helm would then ask only the
// helper, and an entry written to the file would be silently ignored. ocisrc
// never hands credentials to a helper.
func (c RegistryConfig) checkNoHelper(host place.Host) error {
	raw, err := os.ReadFile(c.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Helm's registry config %q: %w", c.Path, err)
	}
	var cfg struct {
		CredsStore  string            `json:"credsStore"`
		CredHelpers map[string]string `json:"credHelpers"`
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return clierror.Invalid(fmt.Errorf("reading Helm's registry config %q: it is not a valid docker config file", c.Path))
	}
	helper, key := "", "credHelpers"
	for server, h := range cfg.CredHelpers {
		if got, err := place.ParseServer(server); err == nil && got == host {
			helper = h
		}
	}
	if helper == "" {
		helper, key = cfg.CredsStore, "credsStore"
	}
	if helper == "" {
		return nil
	}
	return clierror.InvalidWithHint(
		fmt.Errorf("logging in to %s: Helm's registry config %q names the credential helper %+q (%s), which helm would ask instead of the file, so credentials stored in the file would be ignored; ocisrc never hands credentials to a helper", host, c.Path, helper, key),
		fmt.Sprintf("use \"fetch\", which needs no login; or remove %q from that file (helm registry login would then store credentials in it too); or point --registry-config (HELM_REGISTRY_CONFIG) at a file of its own and give helm the same --registry-config", key))
}

// Credential is the login stored for host (EmptyCredential when none), as
// helm push would use it from the file. Credential helpers are not asked.
func (c RegistryConfig) Credential(ctx context.Context, host place.Host) (auth.Credential, error) {
	if _, err := os.Stat(c.Path); errors.Is(err, os.ErrNotExist) {
		return auth.EmptyCredential, nil
	}
	fs, err := c.store()
	if err != nil {
		return auth.EmptyCredential, err
	}
	cred, err := fs.Get(ctx, orascreds.ServerAddressFromRegistry(host.String()))
	if err != nil {
		return auth.EmptyCredential, fmt.Errorf("reading Helm's registry config %q: %w", c.Path, err)
	}
	return cred, nil
}

// ErrNotLoggedIn is returned by Logout when there is nothing stored for the host.
var ErrNotLoggedIn = errors.New("not logged in")

// Logout removes the entry for host.
func (c RegistryConfig) Logout(ctx context.Context, host place.Host) error {
	if _, err := os.Stat(c.Path); errors.Is(err, os.ErrNotExist) {
		return ErrNotLoggedIn
	}
	fs, err := c.store()
	if err != nil {
		return err
	}
	addr := orascreds.ServerAddressFromRegistry(host.String())
	got, err := fs.Get(ctx, addr)
	if err != nil {
		return fmt.Errorf("reading Helm's registry config %q: %w", c.Path, err)
	}
	if got == auth.EmptyCredential {
		return ErrNotLoggedIn
	}
	if err := fs.Delete(ctx, addr); err != nil {
		return fmt.Errorf("writing Helm's registry config %q: %w", c.Path, err)
	}
	return nil
}
