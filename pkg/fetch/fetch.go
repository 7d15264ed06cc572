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

	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/credentials"
	"github.com/ocisrc/ocisrc/pkg/oci"
	"github.com/ocisrc/ocisrc/pkg/place"
	"github.com/ocisrc/ocisrc/pkg/policy"
	"github.com/ocisrc/ocisrc/pkg/trust"
)

// ChartPuller pulls charts and resolves tags; *oci.Puller is the implementation.
type ChartPuller interface {
	Pull(ctx context.Context, ref chartref.Reference, a oci.Auth) (*oci.Chart, error)
	Resolve(ctx context.Context, ref chartref.Reference, a oci.Auth) (string, error)
	Exists(ctx context.Context, ref chartref.Reference, digest string, a oci.Auth) error
	// ClientCertificate is the fingerprint of the client certificate a
	// connection with a presents ("" when none).
	ClientCertificate(a oci.Auth) string
	// CosignSignatures and SigstoreBundles read the signatures of a digest.
	CosignSignatures(ctx context.Context, ref chartref.Reference, digest string, a oci.Auth) ([]trust.SimpleSigning, error)
	SigstoreBundles(ctx context.Context, ref chartref.Reference, digest string, a oci.Auth) ([][]byte, error)
	// NotationSignatures reads the Notation signatures of a digest.
	NotationSignatures(ctx context.Context, ref chartref.Reference, digest string, a oci.Auth) ([]trust.NotationSignature, error)
	// Attestations reads the in-toto attestations of a digest.
	Attestations(ctx context.Context, ref chartref.Reference, digest string, a oci.Auth) ([]trust.Attestation, error)
	// Preconnect opens the connection to a registry host ahead of the first
	// request (no request is sent).
	Preconnect(host place.Host, e oci.Extra)
	// SignatureArtifacts reads them byte for byte, for bundles.
	SignatureArtifacts(ctx context.Context, ref chartref.Reference, digest string, a oci.Auth, sink oci.BlobSink) ([]oci.Artifact, error)
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
	// Source is host[:port]/path the chart was downloaded from: the origin
	// or a mirror of the registry policy; empty on a cache hit.
	Source string `json:"source,omitempty"`
	// Verified lists the signatures the chart was verified with (provider
	// and key fingerprint); omitted when none was required.
	Verified []cache.Verification `json:"verified,omitempty"`
	// Error is why this Component failed; the other fields hold what was known.
	Error string `json:"error,omitempty"`
	// Reason says what failed in one word, for programs (docs/output.md
	// lists them); Hint is what to do next; ExitCode is the code this
	// Component alone would exit with. Set with Error.
	Reason   string `json:"reason,omitempty"`
	Hint     string `json:"hint,omitempty"`
	ExitCode int    `json:"exitCode,omitempty"`

	downloaded int64
	mirror     bool
	entry      *cache.Entry
}

// FromMirror reports whether a mirror of the registry policy served the chart.
func (r Result) FromMirror() bool { return r.mirror }

// Downloaded is how many bytes of chart archive this Component's pull
// downloaded (0 for a cache hit, a dry run or a failure).
func (r Result) Downloaded() int64 { return r.downloaded }

// Entry is the cache entry the chart is in (nil in a dry run or on failure):
// its bytes leave the cache through ChartStore.CopyArchive.
func (r Result) Entry() *cache.Entry { return r.entry }

// Fetcher runs the fetch action for Components.
type Fetcher struct {
	Validator *component.Validator
	Secrets   credentials.SecretReader
	// Puller and Store are the transport and the writer: a dry run is given
	// neither, so that it contacts nothing and writes nothing by
	// construction.
	Puller ChartPuller
	Store  *cache.ChartStore
	// RegistryTLS are the run's registry flags (--registry-ca-file, …),
	// checked against each Component's TLS material without a request.
	RegistryTLS oci.TLSOptions
	// SystemNamespace is where shared credentials may live.
	SystemNamespace string
	// DryRun resolves and validates everything and stops before the registry.
	DryRun bool
	// Destination, if set, also receives the chart; Untar expands it there.
	Destination string
	Untar       bool
	// Policy is the run's registry policy: the local file and the ConfigMap.
	Policy policy.Set
	// RelaxHost is the one registry host of the run that --plain-http and
	// --registry-insecure-skip-tls-verify (PlainHTTP, InsecureSkipVerify)
	// apply to; a run over several registries cannot use those flags.
	RelaxHost          place.Host
	PlainHTTP          bool
	InsecureSkipVerify bool
	// AllowPlainHTTPCredentials lets credentials go over plain HTTP to a host
	// that is not this machine.
	AllowPlainHTTPCredentials bool
	// Offline answers from the cache only: tags from its index, no request.
	Offline bool
	// AllowUnbound lets Secrets from the system namespace that are bound to
	// no registry be used, with a warning.
	AllowUnbound bool
	// CosignKeys (--verify-key) and Keyrings (--keyring) require every chart
	// of the run to be signed by one of them.
	CosignKeys []trust.Key
	Keyrings   []KeyData
	// Identities (--verify-identity) are keyless cosign identities and
	// NotationCerts (--notation-cert) Notation trust store certificates;
	// like keys, they add to the registry policy's.
	Identities    []trust.Identity
	NotationCerts []KeyData
	// As is the run's impersonation as kubectl flags (" --as jane"), for
	// hints that suggest a kubectl command.
	As string
	// RequireProvenance (--require-provenance) requires every chart of the
	// run to have SLSA provenance from this source.
	RequireProvenance *ProvenanceFlag
	// ConfigMaps reads the system namespace's ConfigMaps a policy names
	// (keyless trusted roots); nil when no cluster is read.
	ConfigMaps ConfigMapReader
	// PublicRoot reads the public Sigstore instance's trusted root (through
	// TUF); nil in a dry run, which contacts nothing.
	PublicRoot func(ctx context.Context) (*trust.TrustedRoot, error)
	// Warn receives warnings for the user (never a value).
	Warn func(string)
	// Bulk says the run pulls many Components: a tag is then always
	// resolved first (once per place and tag for the whole run), so that a
	// digest is downloaded at most once, however many Components name it
	// by tag or by digest.
	Bulk bool

	inflight singleflight.Group
	// tags are the tags resolved in this run: place:tag -> digest.
	tags      sync.Map
	tagFlight singleflight.Group
	// entries are the cache entries proven from their bytes in this run
	// (digest -> *runEntry); indexed the tags this run looked up or
	// recorded (tag -> digest).
	entries sync.Map
	indexed sync.Map
	// proofFlight makes one HEAD per (place, identity) of a run, however
	// many Components ask at once.
	proofFlight singleflight.Group
	// prefetchQueue feeds the workers that read Secrets ahead (Prefetch);
	// prefetched are the Secrets queued.
	prefetchOnce  sync.Once
	prefetchQueue chan [2]string
	prefetched    sync.Map
	// provenRun are the (place, identity) pairs proven in this run;
	// pendingProofs what Flush writes; proofsRead the cache's records read.
	provenRun     sync.Map
	proofsMu      sync.Mutex
	pendingProofs map[place.Place][]cache.Identity
	proofsRead    sync.Map
	// placed is what --destination received in this run, by file name.
	placedMu sync.Mutex
	placed   map[string]placement
	keys     secretKeys
	// requirements are the signature requirements built in this run, by
	// the policy rules they come from (policy.VerifySettings.Rules).
	requirements sync.Map
	// public is the public Sigstore instance's trusted root, read once.
	publicOnce sync.Once
	public     *trust.TrustedRoot
	publicErr  error
}

// ConfigMapReader reads one key of a ConfigMap.
type ConfigMapReader interface {
	GetConfigMapKey(ctx context.Context, namespace, name, key string) ([]byte, error)
}

// placement is a chart placed in --destination by a Component of this run.
type placement struct {
	digest, component string
}

// Resolution is a Component's decision with its credentials resolved.
type Resolution struct {
	*Decision
	// Secret is namespace/name of the Secret read for the origin, "" when
	// none was read (anonymous, or origin: never).
	Secret string
	Auth   oci.Auth
	// request is how the Secret was looked up, to explain a refusal.
	request credentials.Request
	// trust is the signature and provenance requirement (nil: none).
	trust *requirement
}

// Prefetch starts reading, in the background, the Secret a listed
// Component's pull will read — the one in its own namespace, which is
// always read first — so that a bulk run reads Secrets as fast as it lists,
// not one namespace at a time behind the pulls. It reads nothing the
// Component's decision does not need (no secretRef, a refusal, origin:
// never). The read is the same one the pull makes (CachedReader shares it);
// the system namespace is never read ahead.
func (f *Fetcher) Prefetch(ctx context.Context, d *Decision) {
	cached, ok := f.Secrets.(*credentials.CachedReader)
	if !ok || f.Offline || !d.ReadsOriginSecret() {
		return
	}
	ns := d.Component.Namespace
	key := ns + "/" + d.Source.Authentication.SecretRef.Name
	if _, seen := f.prefetched.LoadOrStore(key, true); seen {
		return
	}
	f.prefetchOnce.Do(func() {
		f.prefetchQueue = make(chan [2]string, 1<<14)
		for range prefetchWorkers {
			go func() {
				for k := range f.prefetchQueue {
					_, _ = cached.GetSecret(ctx, k[0], k[1])
				}
			}()
		}
	})
	select {
	case f.prefetchQueue <- [2]string{ns, d.Source.Authentication.SecretRef.Name}:
	default: // the pulls will read it themselves
	}
}

// prefetchWorkers is how many Secrets Prefetch reads at once.
const prefetchWorkers = 32

// Resolve decides for a Component and resolves its credentials, exactly as
// Fetch does, without contacting any registry. When the source is valid
// but the rules or the credentials refuse it, the Resolution is returned
// with the error.
func (f *Fetcher) Resolve(ctx context.Context, c component.Component) (*Resolution, error) {
	return f.resolve(ctx, f.Decide(c))
}

// resolve reads the credentials d's pull uses at its origin: the Secret
// the Component names (credentials.Resolve: every rule applied), unless the
// origin is never contacted. The Secret is always read when it is to be
// used, a warm cache hit included: a record names the Secret as it was
// read (its UID and resourceVersion), and only the Secret as it is now can
// say whether it is that one.
func (f *Fetcher) resolve(ctx context.Context, d *Decision) (*Resolution, error) {
	if d.Invalid != nil {
		return nil, d.Invalid
	}
	r := &Resolution{Decision: d}
	if err := d.Err(); err != nil {
		return r, err
	}
	c, ref := d.Component, d.Ref
	f.connect(&r.Auth.Extra, ref.Registry, d.Settings.TLS)
	if d.ReadsOriginSecret() {
		src := d.Source
		r.request = credentials.Request{
			ComponentNamespace: c.Namespace,
			SystemNamespace:    f.SystemNamespace,
			SecretName:         src.Authentication.SecretRef.Name,
			SecretNamespace:    src.Authentication.SecretRef.Namespace,
			Host:               ref.Registry,
			// A file's Component gets no exemption from the local policy
			// file either: only --allow-unbound-secrets lets it use an
			// unbound Secret.
			AllowUnbound: f.AllowUnbound || (d.Settings.AllowUnboundSystemSecrets && c.File == ""),
			FromFile:     c.File != "",
			As:           f.As,
		}
		f.preconnect(r)
		if err := f.loadCredentials(ctx, r); err != nil {
			return r, err
		}
	}
	if err := oci.CheckPlainHTTP(ref.Registry, r.Auth.Extra.PlainHTTP, r.Auth.Credential != nil, f.AllowPlainHTTPCredentials); err != nil {
		return r, err
	}
	req, err := f.requirementFor(ctx, r)
	if err != nil {
		return r, err
	}
	r.trust = req
	return r, nil
}

// preconnect opens, while the API server is asked for the Secret, the
// connection to the first registry the chart will be asked of, for a
// reference the cache cannot answer alone (a tag, or a pin not in it).
func (f *Fetcher) preconnect(r *Resolution) {
	if f.Offline || f.DryRun || f.Puller == nil {
		return
	}
	if r.Ref.Digest != "" {
		if got, err := f.hit(r.Ref, r.Ref.Digest); err == nil && got != nil {
			return
		}
	}
	if len(r.Settings.Mirrors) > 0 {
		m := r.Settings.Mirrors[0]
		var e oci.Extra
		f.connect(&e, m.Host, m.TLS)
		f.Puller.Preconnect(m.Host, e)
		return
	}
	if r.Settings.Origin != policy.OriginNever {
		f.Puller.Preconnect(r.Ref.Registry, r.Auth.Extra)
	}
}

// loadCredentials reads and checks the Component's Secret: the namespace
// and binding rules, its type and keys.
func (f *Fetcher) loadCredentials(ctx context.Context, r *Resolution) error {
	resolved, err := credentials.Resolve(ctx, f.Secrets, r.request)
	if err != nil {
		return err
	}
	for _, w := range resolved.Warnings {
		f.warn(w)
	}
	a := SecretAuth(resolved)
	r.Secret = a.Secret
	r.Auth.Secret, r.Auth.SecretUID, r.Auth.SecretVersion, r.Auth.Credential = a.Secret, a.SecretUID, a.SecretVersion, a.Credential
	r.Auth.Extra.CAPEM, r.Auth.Extra.CertPEM, r.Auth.Extra.KeyPEM = a.Extra.CAPEM, a.Extra.CertPEM, a.Extra.KeyPEM
	return oci.CheckPlainHTTP(r.Ref.Registry, r.Auth.Extra.PlainHTTP, r.Auth.Credential != nil, f.AllowPlainHTTPCredentials)
}

// connect adds to e how to reach host: the policy's TLS settings for it, and
// the run's relaxing flags when host is the run's one registry.
func (f *Fetcher) connect(e *oci.Extra, host place.Host, t policy.TLSSettings) {
	e.PolicyCAs = t.CAPEMs()
	if c := t.ClientCertificate; c != nil {
		e.PolicyCertPEM, e.PolicyKeyPEM = c.CertPEM, c.KeyPEM
	}
	if t.InsecureSkipVerify {
		f.warn(fmt.Sprintf("the certificate of %s is not verified (insecureSkipVerify in the %s)", host, t.InsecureSkipVerifyFrom))
	}
	if t.PlainHTTP {
		f.warn(fmt.Sprintf("the connection to %s is not encrypted (plainHTTP in the %s)", host, t.PlainHTTPFrom))
	}
	e.InsecureSkipVerify = t.InsecureSkipVerify || (f.InsecureSkipVerify && host == f.RelaxHost)
	e.PlainHTTP = t.PlainHTTP || (f.PlainHTTP && host == f.RelaxHost)
}

// Fetch pulls one Component's chart into the cache. Its error names the
// Component.
func (f *Fetcher) Fetch(ctx context.Context, d *Decision) (Result, error) {
	res, err := f.fetch(ctx, d)
	if err != nil {
		return res, &ComponentError{Component: d.Key(), Err: err}
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

func (f *Fetcher) fetch(ctx context.Context, d *Decision) (Result, error) {
	res := Result{Component: d.Key()}
	if d.Source != nil {
		res.Chart = d.Source.Chart
	}
	r, err := f.resolve(ctx, d)
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
	if err := oci.CheckTLS(f.RegistryTLS, r.Auth.Extra); err != nil {
		return res, err
	}
	if f.DryRun {
		return res, nil
	}
	got, err := f.obtain(ctx, r)
	if err != nil {
		return res, f.explain(r, err)
	}
	res.Version = got.entry.Version
	res.Digest = got.entry.ManifestDigest
	res.Path = got.path
	res.entry = got.entry
	res.Cached = got.cached
	res.Source = got.source
	res.Verified = got.verified
	if got.via != nil {
		// The Secret of the place that served the chart, or whose record
		// (or proof) the cache matched: a Secret that was read.
		res.Credentials = got.via.auth.Secret
		res.mirror = got.via.mirror != nil && !got.cached
	}
	if !got.cached {
		res.downloaded = got.entry.Size
	}
	if f.Destination != "" {
		dest, err := f.placeInDestination(d.Component, got)
		if err != nil {
			return res, err
		}
		res.Destination = dest
	}
	return res, nil
}

// placeInDestination puts the chart into --destination, once per file name in a run: a
// second Component whose chart has the same name and version but other bytes
// (another registry) is an error naming both, never an overwrite; one with the
// same digest gets the same destination.
func (f *Fetcher) placeInDestination(c component.Component, got *obtained) (string, error) {
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
	dest, err := placeChart(f.Store, got.entry, f.Destination, f.Untar)
	if err != nil {
		return "", err
	}
	f.placed[name] = placement{digest: got.entry.ManifestDigest, component: c.Key()}
	return dest, nil
}

// explain adds to a registry's refusal of a Secret's credentials, when that
// Secret was the Component's own, that the system namespace's Secret of the
// same name, if any, was not read (nor is it read now).
func (f *Fetcher) explain(r *Resolution, err error) error {
	var ce *oci.CredentialError
	if !errors.As(err, &ce) || r.Secret == "" {
		return err
	}
	ns, _, _ := strings.Cut(r.Secret, "/")
	if hint := credentials.ShadowHint(r.request, ns); hint != "" {
		return clierror.WithHintLines(err, append(clierror.HintLines(err), hint)...)
	}
	return err
}

func (f *Fetcher) warn(msg string) {
	if f.Warn != nil {
		f.Warn(msg)
	}
}
