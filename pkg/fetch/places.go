package fetch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/credentials"
	"github.com/ocisrc/ocisrc/pkg/oci"
	"github.com/ocisrc/ocisrc/pkg/place"
	"github.com/ocisrc/ocisrc/pkg/policy"
	"github.com/ocisrc/ocisrc/pkg/trust"
)

// site is one registry place a chart can come from: a mirror of the
// registry policy, or the origin (the registry the Component names).
type site struct {
	// at is the chart's repository at this place (canonical): what the
	// cache's records name.
	at place.Place
	// ref is the reference at this place.
	ref chartref.Reference
	// mirror is nil for the origin.
	mirror *policy.MirrorSettings
	// auth is how to authenticate here and id who that is, once ready has
	// read it; err is why the place cannot be used.
	auth  oci.Auth
	id    cache.Identity
	err   error
	ready bool
}

func (p *site) what() string {
	if p.mirror != nil {
		return "mirror " + p.at.String()
	}
	return "origin " + p.at.String()
}

// sites lists where ref can come from, in the order to try them: the
// policy's mirrors, then the origin unless the policy says never. It reads
// nothing: ready reads a place's credentials before anything is decided
// for it. The Component's credentials go to the origin only; a mirror gets
// its own Secret (from the system namespace, bound to the mirror) or
// nothing.
func (f *Fetcher) sites(r *Resolution, ref chartref.Reference) []*site {
	var out []*site
	for i := range r.Settings.Mirrors {
		m := &r.Settings.Mirrors[i]
		p := &site{mirror: m, at: m.Repository}
		if m.Repository.IsZero() {
			p.err, p.ready = fmt.Errorf("the mirror %s names no repository for %s", m.Location, ref.Repo()), true
		} else {
			p.ref = ref.At(m.Repository)
		}
		out = append(out, p)
	}
	if r.Settings.Origin != policy.OriginNever {
		out = append(out, &site{at: ref.Place(), ref: ref})
	}
	return out
}

// ready reads what p needs, and so who p's requests are: a mirror's Secret
// (read now, as it is), or the Component's credentials (read by resolve).
// It returns why p cannot be used.
func (f *Fetcher) ready(ctx context.Context, r *Resolution, p *site) error {
	if p.ready {
		return p.err
	}
	p.ready = true
	if p.mirror != nil {
		p.auth, p.err = f.mirrorAuth(ctx, p.mirror)
	} else {
		p.auth = r.Auth
	}
	p.id = f.identity(p.auth)
	return p.err
}

// identity is who a request with a authenticates as: the Secret as read,
// and the client certificate the connection presents.
func (f *Fetcher) identity(a oci.Auth) cache.Identity {
	id := cache.Identity{Secret: a.Secret, UID: a.SecretUID, ResourceVersion: a.SecretVersion}
	if f.Puller != nil {
		id.Certificate = f.Puller.ClientCertificate(a)
	}
	return id
}

// places is sites with every place made ready: for callers that decide
// from the cache's records (which name identities) or ask each in turn.
func (f *Fetcher) places(ctx context.Context, r *Resolution, ref chartref.Reference) []*site {
	out := f.sites(r, ref)
	for _, p := range out {
		_ = f.ready(ctx, r, p)
	}
	return out
}

// mirrorAuth is how to reach a mirror: the policy's TLS for its host and,
// with a secretRef, the credentials of that Secret in the system namespace,
// which must be bound to the mirror's host. It is checked before any
// request goes to the mirror.
func (f *Fetcher) mirrorAuth(ctx context.Context, m *policy.MirrorSettings) (oci.Auth, error) {
	var a oci.Auth
	if m.SecretRef != "" {
		res, err := credentials.ResolveBound(ctx, f.Secrets, f.SystemNamespace, m.SecretRef, m.Host)
		if err != nil {
			return a, err
		}
		a = SecretAuth(res)
	}
	f.connect(&a.Extra, m.Host, m.TLS)
	if err := oci.CheckPlainHTTP(m.Host, a.Extra.PlainHTTP, a.Credential != nil, f.AllowPlainHTTPCredentials); err != nil {
		return a, err
	}
	return a, nil
}

// proofKey is a (place, identity) pair proven in this run.
type proofKey struct {
	at place.Place
	id cache.Identity
}

// prove notes that p's identity read p's repository (see cache.Proofs); the
// run's proofs are written once per place by Flush.
func (f *Fetcher) prove(p *site) {
	if _, loaded := f.provenRun.LoadOrStore(proofKey{p.at, p.id}, true); loaded {
		return
	}
	f.proofsMu.Lock()
	defer f.proofsMu.Unlock()
	if f.pendingProofs == nil {
		f.pendingProofs = map[place.Place][]cache.Identity{}
	}
	f.pendingProofs[p.at] = append(f.pendingProofs[p.at], p.id)
}

// proven reports whether p's identity (or anyone) is known to read p's
// repository: proven in this run, or recorded in the cache.
func (f *Fetcher) proven(p *site) bool {
	if _, ok := f.provenRun.Load(proofKey{p.at, p.id}); ok {
		return true
	}
	recorded := f.recordedProofs(p.at)
	_, ok := recorded[p.id]
	_, anyone := recorded[cache.Identity{}]
	return ok || anyone
}

// recordedProofs reads the cache's proofs of a place once per run.
func (f *Fetcher) recordedProofs(at place.Place) map[cache.Identity]time.Time {
	if v, ok := f.proofsRead.Load(at); ok {
		return v.(map[cache.Identity]time.Time)
	}
	got := f.Store.LoadProofs(at)
	if got == nil {
		got = map[cache.Identity]time.Time{}
	}
	v, _ := f.proofsRead.LoadOrStore(at, got)
	return v.(map[cache.Identity]time.Time)
}

// Flush writes what the run proved to the cache, once per place.
func (f *Fetcher) Flush() {
	if f.Store == nil {
		return
	}
	f.proofsMu.Lock()
	defer f.proofsMu.Unlock()
	for at, ids := range f.pendingProofs {
		if err := f.Store.SaveProofs(at, ids); err != nil {
			f.warn(fmt.Sprintf("could not record access to %s in the cache: %v", at, err))
		}
	}
	f.pendingProofs = nil
}

// SecretAuth is what a pull authenticates with from a resolved Secret: its
// credential (none when it holds only TLS material) and its TLS material.
func SecretAuth(res *credentials.Resolved) oci.Auth {
	a := oci.Auth{Secret: res.Secret, SecretUID: res.UID, SecretVersion: res.ResourceVersion, Extra: oci.Extra{CAPEM: res.CAPEM, CertPEM: res.CertPEM, KeyPEM: res.KeyPEM}}
	if res.Credential != auth.EmptyCredential {
		cred := res.Credential
		a.Credential = &cred
	}
	return a
}

// routed reports whether the policy sends r anywhere but its origin.
func routed(r *Resolution) bool {
	return len(r.Settings.Mirrors) > 0 || r.Settings.Origin == policy.OriginNever
}

// resolveTag asks what ref's tag points to: the origin (unless never), then
// the mirrors that may resolve tags. One HEAD where the first answers.
func (f *Fetcher) resolveTag(ctx context.Context, r *Resolution, ref chartref.Reference) (string, error) {
	var tried []string
	var last error
	candidates := 0
	for _, p := range f.sites(r, ref) {
		if p.mirror != nil && !p.mirror.ResolveTags {
			continue
		}
		candidates++
		if err := f.ready(ctx, r, p); err != nil {
			tried, last = append(tried, p.what()+": "+err.Error()), err
			continue
		}
		digest, err := f.resolveAt(ctx, p)
		if err == nil {
			return digest, nil
		}
		if ctx.Err() != nil {
			return "", err
		}
		tried, last = append(tried, p.what()+": "+err.Error()), err
	}
	if candidates == 1 {
		return "", last
	}
	return "", &PlacesError{Ref: ref.String(), Doing: "resolving the tag of", Tried: tried}
}

// resolveAt resolves p's tag at p, once per place and tag for the run: a
// tag names the same digest for every client of a repository. Another
// Component's resolution is shared (what it resolved to is served to this
// Component only after its own access proof, see authorize); one that
// failed — another Secret's credentials — is tried again with p's own.
func (f *Fetcher) resolveAt(ctx context.Context, p *site) (string, error) {
	key := p.at.String() + ":" + p.ref.Tag()
	if d, ok := f.tags.Load(key); ok {
		return d.(string), nil
	}
	mine := false
	v, err, _ := f.tagFlight.Do(key, func() (any, error) {
		mine = true
		d, err := f.Puller.Resolve(ctx, p.ref, p.auth)
		if err == nil {
			f.tags.Store(key, d)
		}
		return d, err
	})
	if err != nil && !mine && ctx.Err() == nil {
		d, err := f.Puller.Resolve(ctx, p.ref, p.auth)
		if err == nil {
			f.tags.Store(key, d)
		}
		return d, err
	}
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// download pulls ref from the first place that serves it, verifies it (the
// digest always; the signatures under a requirement) and stores it, with an
// access record for that place and the Secret used there — never for
// another place: a mirror's pull records the mirror. A mirror serves only a
// reference whose digest is known, unless it resolves tags. A mirror that
// fails (network, not found, content that does not match the digest, its
// credentials) is skipped with a warning naming it.
func (f *Fetcher) download(ctx context.Context, ref chartref.Reference, r *Resolution) (*obtained, error) {
	var tried []string
	var last, refusal error
	candidates := 0
	for _, p := range f.sites(r, ref) {
		if p.mirror != nil && ref.Digest == "" && !p.mirror.ResolveTags {
			continue
		}
		candidates++
		if err := f.ready(ctx, r, p); err != nil {
			tried, last = append(tried, p.what()+": "+err.Error()), err
			f.warn(fmt.Sprintf("skipping the %s for %s: %v", p.what(), ref.String(), err))
			continue
		}
		chart, err := f.Puller.Pull(ctx, p.ref, p.auth)
		var verified []cache.Verification
		var material trust.Material
		if err == nil && r.trust != nil {
			// Signatures are verified before the chart enters the store.
			verified, material, err = f.verifyAt(ctx, r.trust, p, subjectOf(p.ref.Repo(), chart.Manifest, chart.ManifestDigest, chart.Name, chart.Version, chart.LayerDigest), chart.Prov)
			var ue *UnsignedError
			var pe *UnprovenError
			if errors.As(err, &ue) || errors.As(err, &pe) {
				refusal = err
			}
		}
		if err != nil {
			if chart != nil {
				f.Store.RemoveTemp(chart.File)
			}
			if ctx.Err() != nil {
				return nil, err
			}
			tried, last = append(tried, p.what()+": "+err.Error()), err
			if p.mirror != nil {
				f.warn(fmt.Sprintf("the %s failed for %s, trying the next place: %v", p.what(), ref.String(), err))
			}
			continue
		}
		e, path, err := f.Store.PutFile(cache.Stored{
			Ref:      ref.String(),
			Access:   []cache.Access{{Repository: p.at, Identity: p.id}},
			Verified: verified,
		}, chart.File, cache.Extras{Prov: chart.Prov, Manifest: chart.Manifest, Config: chart.Config, Signatures: material})
		if err != nil {
			return nil, err
		}
		f.prove(p)
		f.remember(e, path)
		got := &obtained{entry: e, path: path, source: p.at.String(), verified: verified, via: p}
		return got, nil
	}
	switch {
	case refusal != nil:
		// Some place served the chart, but not signed as required.
		return nil, refusal
	case candidates == 0:
		return nil, clierror.Invalid(fmt.Errorf("pulling %q: no place may serve it: its mirrors serve digest-pinned references only and its origin is never contacted", ref.String()))
	case candidates == 1 && last != nil:
		return nil, last
	}
	return nil, &PlacesError{Ref: ref.String(), Doing: "pulling", Tried: tried}
}

// PlacesError is a chart that no place (mirror or origin) could serve: one
// line per place tried.
type PlacesError struct {
	Ref   string
	Doing string
	Tried []string
}

func (e *PlacesError) Error() string {
	return fmt.Sprintf("%s %q: every place failed: %s", e.Doing, e.Ref, strings.Join(e.Tried, "; "))
}

// TerminalLines is the message for a terminal: one line per place.
func (e *PlacesError) TerminalLines() []string {
	lines := []string{fmt.Sprintf("%s %q: every place failed:", e.Doing, e.Ref)}
	for _, t := range e.Tried {
		lines = append(lines, "    "+t)
	}
	return lines
}

// Hint says where to look.
func (e *PlacesError) Hint() string {
	return "check the mirrors and the origin the registry policy names: ocisrc policy explain " + e.Ref
}
