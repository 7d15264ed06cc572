// Package fetch is the fetch action: Component -> validated source ->
// credentials -> verified chart in the cache (and, if asked, a destination).
// It knows nothing of flags or output formats.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sync/singleflight"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/credentials"
	"github.com/ocisrc/ocisrc/pkg/oci"
)

// ChartPuller pulls charts and resolves tags; *oci.Puller is the implementation.
type ChartPuller interface {
	Pull(ctx context.Context, ref chartref.Reference, a oci.Auth) (*oci.Chart, error)
	Resolve(ctx context.Context, ref chartref.Reference, a oci.Auth) (string, error)
	Exists(ctx context.Context, ref chartref.Reference, digest string, a oci.Auth) error
	// CheckTLS builds the TLS settings a's material gives, without a request.
	CheckTLS(a oci.Auth) error
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
	// Error is why this Component failed; the other fields hold what was known.
	Error string `json:"error,omitempty"`

	size int64
}

// Size is the chart archive's size in bytes (0 in a dry run or on failure).
func (r Result) Size() int64 { return r.size }

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
	// Offline answers from the cache only: tags from its index, no request.
	Offline bool
	// AllowUnbound lets Secrets from the system namespace that are bound to
	// no registry be used, with a warning.
	AllowUnbound bool
	// Warn receives warnings for the user (never a value).
	Warn func(string)

	inflight singleflight.Group
	// placed is what --destination received in this run, by file name.
	placedMu sync.Mutex
	placed   map[string]placement
}

// placement is a chart placed in --destination by a Component of this run.
type placement struct {
	digest, component string
}

// Resolution is a Component's source with its credentials resolved.
type Resolution struct {
	Source *component.OCISource
	Ref    chartref.Reference
	// Secret is namespace/name of the Secret used, "" when anonymous.
	Secret string
	Auth   oci.Auth
	// request is how the Secret was looked up, to explain a refusal.
	request credentials.Request
}

// Source validates a Component's source; an invalid one is invalid input
// (exit 2) naming the Component and the fields.
func (f *Fetcher) Source(c component.Component) (*Resolution, error) {
	src, ref, err := f.Validator.DecodeSource(c.Source, c.SourceFound)
	if err != nil {
		var se *component.SourceError
		if errors.As(err, &se) {
			return nil, clierror.InvalidWithHint(fmt.Errorf("invalid %s %q: %w", c.Resource, c.Key(), err),
				fmt.Sprintf("fix the Component (kubectl edit %s %s -n %s)", c.Resource, c.Name, c.Namespace))
		}
		return nil, err
	}
	return &Resolution{Source: src, Ref: ref}, nil
}

// Resolve validates a Component's source and resolves its credentials,
// exactly as Fetch does, without contacting any registry. When the source is
// valid but the credentials are not, the Resolution is returned with the error.
func (f *Fetcher) Resolve(ctx context.Context, c component.Component) (*Resolution, error) {
	r, err := f.Source(c)
	if err != nil {
		return nil, err
	}
	src, ref := r.Source, r.Ref
	if src.Authentication != nil {
		r.request = credentials.Request{
			ComponentNamespace: c.Namespace,
			SystemNamespace:    f.SystemNamespace,
			SecretName:         src.Authentication.SecretRef.Name,
			SecretNamespace:    src.Authentication.SecretRef.Namespace,
			Host:               ref.Registry,
			AllowUnbound:       f.AllowUnbound,
		}
		resolved, err := credentials.Resolve(ctx, f.Secrets, r.request)
		if err != nil {
			return r, err
		}
		for _, w := range resolved.Warnings {
			f.warn(w)
		}
		r.Secret = resolved.Secret
		r.Auth.Secret = resolved.Secret
		if resolved.Credential != auth.EmptyCredential {
			cred := resolved.Credential
			r.Auth.Credential = &cred
		}
		r.Auth.Extra = oci.Extra{CAPEM: resolved.CAPEM, CertPEM: resolved.CertPEM, KeyPEM: resolved.KeyPEM}
	}
	if err := oci.CheckPlainHTTP(ref.Registry, f.PlainHTTP, r.Auth.Credential != nil, f.AllowPlainHTTPCredentials); err != nil {
		return r, err
	}
	return r, nil
}

// Fetch pulls one Component's chart into the cache. Its error names the
// Component.
func (f *Fetcher) Fetch(ctx context.Context, c component.Component) (Result, error) {
	res, err := f.fetch(ctx, c)
	if err != nil {
		return res, &ComponentError{Component: c.Key(), Err: err}
	}
	return res, nil
}

// ComponentError is the failure of one Component.
type ComponentError struct {
	// Component is namespace/name.
	Component string
	Err       error
}

func (e *ComponentError) Error() string { return fmt.Sprintf("component %q: %s", e.Component, e.Err) }
func (e *ComponentError) Unwrap() error { return e.Err }

func (f *Fetcher) fetch(ctx context.Context, c component.Component) (Result, error) {
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
	// Every check that needs no registry runs before the dry run stops.
	if f.Destination != "" {
		if err := checkDestination(f.Destination, ref.Chart, f.Untar); err != nil {
			return res, err
		}
	}
	if err := f.Puller.CheckTLS(r.Auth); err != nil {
		return res, err
	}
	if f.DryRun {
		return res, nil
	}
	got, err := f.obtain(ctx, r)
	if err != nil {
		return res, f.explain(ctx, r, err)
	}
	res.Version = got.entry.Version
	res.Digest = got.entry.ManifestDigest
	res.Path = got.path
	res.Cached = got.cached
	res.size = got.entry.Size
	if f.Destination != "" {
		dest, err := f.place(c, got)
		if err != nil {
			return res, err
		}
		res.Destination = dest
	}
	return res, nil
}

// place puts the chart into --destination, once per file name in a run: a
// second Component whose chart has the same name and version but other bytes
// (another registry) is an error naming both, never an overwrite; one with the
// same digest gets the same destination.
func (f *Fetcher) place(c component.Component, got *obtained) (string, error) {
	name := got.entry.FileName()
	if f.Untar {
		name = got.entry.Chart
	}
	f.placedMu.Lock()
	defer f.placedMu.Unlock()
	if f.placed == nil {
		f.placed = map[string]placement{}
	}
	target := filepath.Join(f.Destination, name)
	if p, ok := f.placed[name]; ok {
		if p.digest == got.entry.ManifestDigest {
			return target, nil
		}
		return "", fmt.Errorf("--destination: %s %q and %s %q both pull a chart named %s, with different content (%s and %s): refusing to overwrite %q",
			c.Resource, p.component, c.Resource, c.Key(), name, p.digest, got.entry.ManifestDigest, target)
	}
	dest, err := place(got.path, f.Destination, got.entry.Chart, f.Untar)
	if err != nil {
		return "", err
	}
	f.placed[name] = placement{digest: got.entry.ManifestDigest, component: c.Key()}
	return dest, nil
}

// explain adds to a registry's refusal of a Secret's credentials a hint when
// that Secret, in the Component's namespace, shadowed the system
// namespace's Secret of the same name.
func (f *Fetcher) explain(ctx context.Context, r *Resolution, err error) error {
	var ce *oci.CredentialError
	if !errors.As(err, &ce) || r.Secret == "" {
		return err
	}
	ns, _, _ := strings.Cut(r.Secret, "/")
	if shadowed := credentials.Shadowed(ctx, f.Secrets, r.request, ns); shadowed != "" {
		return clierror.WithHint(err, credentials.ShadowHint(r.Secret, shadowed))
	}
	return err
}

func (f *Fetcher) warn(msg string) {
	if f.Warn != nil {
		f.Warn(msg)
	}
}

// obtained is a chart in the store.
type obtained struct {
	entry  *cache.Entry
	path   string
	cached bool
}

// obtain gets the chart into the store with as few registry requests as
// possible:
//
//	digest pinned, in the store, read before at this place with this Secret  0 requests
//	digest pinned, in the store, not yet read so                             1 (HEAD repo@digest proves access)
//	tag known to the index                                                   1 (resolve the tag), + the proof or the pull as above
//	anything else                                                            the pull (manifest, config, chart)
//
// With Offline, pins and tags are answered from the store and nothing is
// requested: --offline trusts the local cache.
func (f *Fetcher) obtain(ctx context.Context, r *Resolution) (*obtained, error) {
	ref := r.Ref
	if ref.Digest != "" {
		got, err := f.hit(ref, ref.Digest)
		switch {
		case err != nil:
			return nil, err
		case got != nil && f.Offline:
			return got, nil
		case got != nil:
			return f.authorize(ctx, r, ref, got)
		case f.Offline:
			return nil, offlineMiss(ref)
		}
		return f.pull(ctx, ref, r)
	}
	tag := ref.TagRef()
	known := f.Store.Lookup(tag)
	if f.Offline {
		if known == nil {
			return nil, offlineMiss(ref)
		}
		got, err := f.hit(ref, known.Digest)
		if got == nil && err == nil {
			return nil, offlineMiss(ref)
		}
		return got, err
	}
	if known != nil {
		digest, err := f.Puller.Resolve(ctx, ref, r.Auth)
		if err != nil {
			return nil, err
		}
		pinned := ref
		pinned.Digest = digest
		if got, err := f.hit(ref, digest); got != nil || err != nil {
			if err != nil {
				return nil, err
			}
			if got, err = f.authorize(ctx, r, pinned, got); err != nil {
				return nil, err
			}
			f.record(tag, digest)
			return got, nil
		}
		got, err := f.pull(ctx, pinned, r)
		if err == nil {
			f.record(tag, got.entry.ManifestDigest)
		}
		return got, err
	}
	got, err := f.pull(ctx, ref, r)
	if err == nil {
		f.record(tag, got.entry.ManifestDigest)
	}
	return got, err
}

// authorize serves a chart the store holds to a Component only when the store
// records that the Component's Secret read it at the Component's place
// (registry and repository); otherwise one HEAD repo@digest at that place,
// with that Secret's credentials, must find it first (and is then recorded).
// A digest alone never opens the store: another tenant's private chart is
// not served to a Component that merely knows its digest.
func (f *Fetcher) authorize(ctx context.Context, r *Resolution, pinned chartref.Reference, got *obtained) (*obtained, error) {
	digest := got.entry.ManifestDigest
	place := pinned.Repo()
	if got.entry.Allows(place, r.Secret) {
		return got, nil
	}
	if err := f.Puller.Exists(ctx, pinned, digest, r.Auth); err != nil {
		who := "anonymous access"
		if r.Secret != "" {
			who = fmt.Sprintf("secret %q", r.Secret)
		}
		return nil, fmt.Errorf("the cache holds %s, but the registry did not confirm that %s may read it at %s, so it is not served: %w", digest, who, place, err)
	}
	if err := f.Store.Grant(digest, place, r.Secret); err != nil {
		f.warn(fmt.Sprintf("could not record access to %s in the cache: %v", digest, err))
	}
	got.cached = true
	return got, nil
}

func (f *Fetcher) record(tag, digest string) {
	if err := f.Store.Record(tag, digest); err != nil {
		f.warn(fmt.Sprintf("could not record %s in the cache index: %v", tag, err))
	}
}

func offlineMiss(ref chartref.Reference) error {
	return clierror.WithHint(fmt.Errorf("--offline: %s is not in the cache", ref.String()),
		"run once without --offline to fetch it")
}

// pull downloads ref into the store. Concurrent pulls of the same reference
// (a bulk run) share one download, whichever Secret each Component names:
//
//   - a digest pin shared is as good as a cache hit;
//   - a tag shared with a download made with another Secret is resolved again
//     with this Component's own credentials (one HEAD), so a Component whose
//     Secret is wrong never gets a chart through another's pull;
//   - a shared download that failed with another Secret is tried again with
//     this one, so a Component whose Secret is right never fails for another's.
func (f *Fetcher) pull(ctx context.Context, ref chartref.Reference, r *Resolution) (*obtained, error) {
	downloaded := false
	v, err, _ := f.inflight.Do(ref.PullRef(), func() (any, error) {
		downloaded = true
		got, err := f.download(ctx, ref, r)
		return &shared{obtained: got, secret: r.Secret}, err
	})
	s := v.(*shared)
	// A Component that waited for another's download did not download: for
	// it the chart came from the cache.
	reuse := func() (*obtained, error) {
		if err := matches(ref, s.entry); err != nil {
			return nil, err
		}
		got := *s.obtained
		got.cached = !downloaded
		return &got, nil
	}
	switch {
	case s.secret == r.Secret:
		if err != nil {
			return nil, err
		}
		return reuse()
	case err != nil:
		return f.download(ctx, ref, r)
	case ref.Digest != "":
		if err := matches(ref, s.entry); err != nil {
			return nil, err
		}
		return f.authorize(ctx, r, ref, &obtained{entry: s.entry, path: s.path})
	}
	digest, err := f.Puller.Resolve(ctx, ref, r.Auth)
	if err != nil {
		return nil, err
	}
	pinned := ref
	pinned.Digest = digest
	if digest == s.entry.ManifestDigest {
		if err := matches(ref, s.entry); err != nil {
			return nil, err
		}
		return f.authorize(ctx, r, pinned, &obtained{entry: s.entry, path: s.path})
	}
	return f.download(ctx, pinned, r)
}

// shared is a download and the Secret it was made with.
type shared struct {
	*obtained
	secret string
}

// download pulls ref with r's credentials and stores it.
func (f *Fetcher) download(ctx context.Context, ref chartref.Reference, r *Resolution) (*obtained, error) {
	chart, err := f.Puller.Pull(ctx, ref, r.Auth)
	if err != nil {
		return nil, err
	}
	e := cache.Entry{
		Ref:            ref.String(),
		Chart:          chart.Name,
		Version:        chart.Version,
		ManifestDigest: chart.ManifestDigest,
		ChartDigest:    chart.LayerDigest,
		Size:           int64(len(chart.Data)),
		Access:         []cache.Access{{Repository: ref.Repo(), Secret: r.Secret}},
	}
	path, err := f.Store.Put(e, chart.Data)
	if err != nil {
		return nil, err
	}
	return &obtained{entry: &e, path: path}, nil
}

// hit answers ref from the store entry for digest, if there is a good one.
// A corrupt entry has been removed by the store: it is a miss, with a warning.
func (f *Fetcher) hit(ref chartref.Reference, digest string) (*obtained, error) {
	e, path, err := f.Store.Get(digest)
	var corrupt *cache.CorruptError
	switch {
	case errors.Is(err, cache.ErrMiss):
		return nil, nil
	case errors.As(err, &corrupt):
		f.warn(fmt.Sprintf("the cached chart for %s was corrupt: removed it, pulling it again", digest))
		return nil, nil
	case err != nil:
		return nil, err
	}
	if err := matches(ref, e); err != nil {
		return nil, err
	}
	return &obtained{entry: e, path: path, cached: true}, nil
}

// matches checks a stored chart against what ref asks for: the chart's name,
// and its version when ref has one (a digest pin of another version fails).
func matches(ref chartref.Reference, e *cache.Entry) error {
	if ref.Version != "" && e.Version != ref.Version {
		return fmt.Errorf("pulling %q: the chart at %s is version %q, not %q: the digest does not belong to this version", ref.String(), e.ManifestDigest, e.Version, ref.Version)
	}
	if e.Chart != ref.Chart {
		return fmt.Errorf("pulling %q: the chart at %s is named %q, not %q", ref.String(), e.ManifestDigest, e.Chart, ref.Chart)
	}
	return nil
}
