// Package fetch is the fetch action: Component -> validated source ->
// credentials -> verified chart in the cache (and, if asked, a destination).
// It knows nothing of flags or output formats.
package fetch

import (
	"context"
	"errors"
	"fmt"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/credentials"
	"github.com/ocisrc/ocisrc/pkg/oci"
)

// ChartPuller pulls one chart; *oci.Puller is the implementation.
type ChartPuller interface {
	Pull(ctx context.Context, ref chartref.Reference, a oci.Auth) (*oci.Chart, error)
}

// Result is what happened to one Component. Its JSON form is the documented
// output contract of `fetch -o json|yaml`.
type Result struct {
	// Component is namespace/name.
	Component string `json:"component"`
	// Chart is spec.source.chart exactly as written in the Component.
	Chart string `json:"chart"`
	// Version is the chart version (from the chart itself once pulled).
	Version string `json:"version"`
	// Digest is the chart's manifest digest ("" in a dry run without a pinned digest).
	Digest string `json:"digest"`
	// Path is the chart archive in the cache ("" in a dry run).
	Path string `json:"path"`
	// Credentials is namespace/name of the Secret used, "" for an anonymous pull.
	Credentials string `json:"credentials"`
	// Cached is true when the chart came from the cache without a download.
	Cached bool `json:"cached"`
	// Destination is where --destination placed the chart (a file, or a directory with --untar).
	Destination string `json:"destination,omitempty"`
}

// Fetcher runs the fetch action for Components.
type Fetcher struct {
	Validator *component.Validator
	Secrets   credentials.SecretReader
	Puller    ChartPuller
	Store     *cache.ChartStore
	// SystemNamespace is where shared credentials may live.
	SystemNamespace string
	// DryRun resolves and validates everything and stops before the registry.
	DryRun bool
	// Destination, if set, also receives the chart; Untar expands it there.
	Destination string
	Untar       bool
	// PlainHTTP is --plain-http; AllowPlainHTTPCredentials lets credentials
	// go over it to a host that is not this machine.
	PlainHTTP                 bool
	AllowPlainHTTPCredentials bool
	// Warn receives warnings for the user (never a value).
	Warn func(string)
}

// Resolution is a Component's source with its credentials resolved.
type Resolution struct {
	Source *component.OCISource
	Ref    chartref.Reference
	// Secret is namespace/name of the Secret used, "" when anonymous.
	Secret string
	Auth   oci.Auth
}

// Resolve validates a Component's source and resolves its credentials,
// exactly as Fetch does, without contacting any registry. When the source is
// valid but the credentials are not, the Resolution is returned with the error.
func (f *Fetcher) Resolve(ctx context.Context, c component.Component) (*Resolution, error) {
	src, ref, err := f.Validator.DecodeSource(c.Source, c.SourceFound)
	if err != nil {
		var se *component.SourceError
		if errors.As(err, &se) {
			return nil, clierror.InvalidWithHint(fmt.Errorf("invalid %s %q: %w", c.Resource, c.Key(), err),
				fmt.Sprintf("fix the Component (kubectl edit %s %s -n %s)", c.Resource, c.Name, c.Namespace))
		}
		return nil, err
	}
	r := &Resolution{Source: src, Ref: ref}
	if src.Authentication != nil {
		resolved, err := credentials.Resolve(ctx, f.Secrets, credentials.Request{
			ComponentNamespace: c.Namespace,
			SystemNamespace:    f.SystemNamespace,
			SecretName:         src.Authentication.SecretRef.Name,
			SecretNamespace:    src.Authentication.SecretRef.Namespace,
			Host:               ref.Registry,
		})
		if err != nil {
			return r, fmt.Errorf("component %q: %w", c.Key(), err)
		}
		for _, w := range resolved.Warnings {
			f.warn(w)
		}
		r.Secret = resolved.Secret
		if resolved.Credential != auth.EmptyCredential {
			cred := resolved.Credential
			r.Auth.Credential = &cred
		}
		r.Auth.Extra = oci.Extra{CAPEM: resolved.CAPEM, CertPEM: resolved.CertPEM, KeyPEM: resolved.KeyPEM}
	}
	if err := oci.CheckPlainHTTP(ref.Registry, f.PlainHTTP, r.Auth.Credential != nil, f.AllowPlainHTTPCredentials); err != nil {
		return r, fmt.Errorf("component %q: %w", c.Key(), err)
	}
	return r, nil
}

// Fetch pulls one Component's chart into the cache.
func (f *Fetcher) Fetch(ctx context.Context, c component.Component) (Result, error) {
	res := Result{Component: c.Key()}
	r, err := f.Resolve(ctx, c)
	if r != nil {
		res.Chart = r.Source.Chart
	}
	if err != nil {
		return res, err
	}
	ref := r.Ref
	res.Version = ref.Version
	res.Digest = ref.Digest
	res.Credentials = r.Secret
	a := r.Auth
	if f.DryRun {
		return res, nil
	}
	if f.Destination != "" {
		if err := checkDestination(f.Destination, ref.Chart, f.Untar); err != nil {
			return res, err
		}
	}

	entry, path, cached, err := f.fromCache(ref)
	if err != nil {
		return res, err
	}
	if entry == nil {
		chart, err := f.Puller.Pull(ctx, ref, a)
		if err != nil {
			return res, err
		}
		e := cache.Entry{
			Ref:            ref.String(),
			Chart:          chart.Name,
			Version:        chart.Version,
			ManifestDigest: chart.ManifestDigest,
			ChartDigest:    chart.LayerDigest,
		}
		path, err = f.Store.Put(e, chart.Data)
		if err != nil {
			return res, err
		}
		entry = &e
	}
	res.Version = entry.Version
	res.Digest = entry.ManifestDigest
	res.Path = path
	res.Cached = cached
	if f.Destination != "" {
		dest, err := place(path, f.Destination, entry.Chart, f.Untar)
		if err != nil {
			return res, err
		}
		res.Destination = dest
	}
	return res, nil
}

func (f *Fetcher) warn(msg string) {
	if f.Warn != nil {
		f.Warn(msg)
	}
}

// fromCache answers a digest-pinned reference from the store without any
// registry request. A corrupt entry has been removed by the store and is a miss.
func (f *Fetcher) fromCache(ref chartref.Reference) (*cache.Entry, string, bool, error) {
	if ref.Digest == "" {
		return nil, "", false, nil
	}
	e, path, err := f.Store.Get(ref.Digest)
	var corrupt *cache.CorruptError
	switch {
	case errors.Is(err, cache.ErrMiss), errors.As(err, &corrupt):
		return nil, "", false, nil
	case err != nil:
		return nil, "", false, err
	}
	if ref.Version != "" && e.Version != ref.Version {
		return nil, "", false, fmt.Errorf("pulling %q: the chart at %s is version %q, not %q: the digest does not belong to this version", ref.String(), ref.Digest, e.Version, ref.Version)
	}
	if e.Chart != ref.Chart {
		return nil, "", false, fmt.Errorf("pulling %q: the chart at %s is named %q, not %q", ref.String(), ref.Digest, e.Chart, ref.Chart)
	}
	return e, path, true, nil
}
