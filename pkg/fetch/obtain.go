package fetch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
)

// obtained is a chart in the store.
type obtained struct {
	entry  *cache.Entry
	path   string
	cached bool
	// source is where it was downloaded from ("" for a cache hit); via is
	// the place that served it, or whose record or proof the cache matched.
	source string
	via    *site
	// verified is the signatures it was verified with, under a requirement.
	verified []cache.Verification
}

// obtain gets the chart into the store with as few registry requests as
// possible. The cache never takes a registry's word that it holds a digest:
//
//	digest pinned, in the store, served at one of the Component's places to its Secret  0 requests
//	digest pinned, in the store, served at one of its places to another Secret          1 (HEAD there, with this Secret)
//	digest pinned, in the store, never served at any of its places                      the pull there, verified
//	tag known to the index                                                              1 (resolve the tag), then as above
//	anything else                                                                       the pull (manifest, config, chart)
//
// With Offline, pins and tags are answered from the store and nothing is
// requested: --offline trusts the local cache's records (never its bytes:
// every entry is proven from them on read).
func (f *Fetcher) obtain(ctx context.Context, r *Resolution) (*obtained, error) {
	ref := r.Ref
	if ref.Digest != "" {
		got, err := f.hit(ref, ref.Digest)
		switch {
		case err != nil:
			return nil, err
		case got != nil && f.Offline:
			if err := f.recorded(ctx, r, ref, got); err != nil {
				return nil, err
			}
			return f.trusted(ctx, r, ref, got)
		case got != nil:
			if got, err = f.authorize(ctx, r, ref, got); err != nil {
				return nil, err
			}
			return f.trusted(ctx, r, ref, got)
		case f.Offline:
			return nil, offlineMiss(ref)
		}
		return f.pull(ctx, ref, r, false)
	}
	tag := ref.TagRef()
	known := f.lookup(tag)
	if f.Offline {
		if known == "" {
			return nil, offlineMiss(ref)
		}
		got, err := f.hit(ref, known)
		if got == nil && err == nil {
			return nil, offlineMiss(ref)
		}
		if err != nil {
			return nil, err
		}
		pinned := ref
		pinned.Digest = known
		if err := f.recorded(ctx, r, pinned, got); err != nil {
			return nil, err
		}
		return f.trusted(ctx, r, pinned, got)
	}
	if known == "" && !routed(r) && !f.Bulk {
		// A tag never seen, and only the origin: one pull by tag.
		got, err := f.pull(ctx, ref, r, false)
		if err == nil {
			f.record(tag, got.entry.ManifestDigest)
		}
		return got, err
	}
	// The tag's digest first (one HEAD): it may be in the store already,
	// and mirrors serve known digests only.
	digest, err := f.resolveTag(ctx, r, ref)
	if err != nil {
		return nil, err
	}
	pinned := ref
	pinned.Digest = digest
	got, err := f.hit(ref, digest)
	switch {
	case err != nil:
		return nil, err
	case got != nil:
		if got, err = f.authorize(ctx, r, pinned, got); err == nil {
			got, err = f.trusted(ctx, r, pinned, got)
		}
	default:
		got, err = f.pull(ctx, pinned, r, false)
	}
	if err == nil {
		f.record(tag, got.entry.ManifestDigest)
	}
	return got, err
}

// authorize serves a chart the store holds to a Component only through a
// place that served these bytes (the manifest downloaded there hashed to
// the digest): with no request when that place served them to the Secret
// the Component uses there, or after one HEAD repo@digest there with that
// Secret's credentials (then recorded). A place that never served these
// bytes proves nothing by answering a HEAD — any registry can say 200 — so
// at such a place the chart is downloaded and verified like any other. A
// digest alone never opens the store: another tenant's private chart is
// not served to a Component that merely knows its digest.
//
// Under a registry policy with mirrors, the places are the mirrors (with
// their own Secrets) and then the origin unless never: the policy serves
// that reference from there to any Component.
func (f *Fetcher) authorize(ctx context.Context, r *Resolution, pinned chartref.Reference, got *obtained) (*obtained, error) {
	sites := f.places(ctx, r, pinned)
	for _, p := range sites {
		// This identity, or anyone, was served these bytes here; or the
		// place served them and this identity is proven to read the
		// repository.
		if p.err == nil && (got.entry.Allows(p.at, p.id) || got.entry.Served(p.at) && f.proven(p)) {
			got.cached, got.via = true, p
			return got, nil
		}
	}
	var tried []string
	var last error
	asked := 0
	for _, p := range sites {
		if p.err != nil || !got.entry.Served(p.at) {
			continue
		}
		asked++
		err := f.proveAt(ctx, p, got.entry)
		if err == nil {
			// Recorded as a proof for the repository (written once per
			// run), not in the entry: the entry is not rewritten.
			f.prove(p)
			got.cached, got.via = true, p
			return got, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		tried, last = append(tried, p.what()+": "+err.Error()), err
	}
	if asked > 0 {
		who := "anonymous access"
		if r.Secret != "" {
			who = fmt.Sprintf("secret %q", r.Secret)
		}
		if asked == 1 {
			return nil, fmt.Errorf("the cache holds %s, but the registry that served it did not confirm that %s may read it, so it is not served: %w", got.entry.ManifestDigest, who, last)
		}
		return nil, &PlacesError{Ref: pinned.String(), Doing: fmt.Sprintf("the cache holds %s, but no place that served it confirmed that %s may read it, so it is not served; proving access to", got.entry.ManifestDigest, who), Tried: tried}
	}
	// No place of this Component served these bytes: download them here.
	return f.pull(ctx, pinned, r, true)
}

// proveAt asks place p, which served the entry's bytes, whether p's Secret
// may read them: one HEAD by digest, shared by the Components of a run that
// ask for the same place, Secret and digest at once; a Component that
// shares another's success is then served by the proof it recorded.
func (f *Fetcher) proveAt(ctx context.Context, p *site, e *cache.Entry) error {
	key := fmt.Sprintf("%s\x00%+v\x00%s", p.at, p.id, e.ManifestDigest)
	mine := false
	_, err, _ := f.proofFlight.Do(key, func() (any, error) {
		mine = true
		if f.proven(p) {
			return nil, nil
		}
		err := f.Puller.Exists(ctx, p.ref, e.ManifestDigest, p.auth)
		if err == nil {
			f.prove(p)
		}
		return nil, err
	})
	if err != nil && !mine && ctx.Err() == nil {
		return f.Puller.Exists(ctx, p.ref, e.ManifestDigest, p.auth)
	}
	return err
}

// recorded is authorize for --offline, which can ask no registry: the entry
// must record that one of the Component's places served these bytes to the
// Secret it uses there.
func (f *Fetcher) recorded(ctx context.Context, r *Resolution, pinned chartref.Reference, got *obtained) error {
	var at []string
	for _, p := range f.places(ctx, r, pinned) {
		if p.err == nil && (got.entry.Allows(p.at, p.id) || got.entry.Served(p.at) && f.proven(p)) {
			got.via = p
			return nil
		}
		at = append(at, p.at.String())
	}
	who := "anonymous access"
	if r.Secret != "" {
		who = fmt.Sprintf("secret %q", r.Secret)
	}
	return clierror.WithReason(clierror.WithHint(fmt.Errorf("--offline: the cache holds %s, but does not record that %s may read it at %s, so it is not served", got.entry.ManifestDigest, who, strings.Join(at, " or ")),
		"run once without --offline: the registry proves access once, and later --offline runs are served"), ReasonAccessNotConfirmed)
}

func (f *Fetcher) record(tag, digest string) {
	if v, ok := f.indexed.Load(tag); ok && v.(string) == digest {
		return
	}
	f.indexed.Store(tag, digest)
	if err := f.Store.Record(tag, digest); err != nil {
		f.warn(fmt.Sprintf("could not record %s in the cache index: %v", tag, err))
	}
}

func offlineMiss(ref chartref.Reference) error {
	return clierror.WithReason(clierror.WithHint(fmt.Errorf("--offline: %s is not in the cache", ref.String()),
		"run once without --offline to fetch it"), ReasonNotInCache)
}

// pull downloads ref into the store. Concurrent pulls of the same reference
// (a bulk run) share one download, whichever Secret each Component names:
//
//   - a digest pin shared is a cache entry served at the sharing
//     Component's places (see authorize);
//   - a tag shared with a download made with another Secret is resolved again
//     with this Component's own credentials (one HEAD), so a Component whose
//     Secret is wrong never gets a chart through another's pull;
//   - a shared download that failed with another Secret is tried again with
//     this one, so a Component whose Secret is right never fails for another's.
//
// A download that another Component finished between this one's look at the
// store and its turn here is not made again (unless again, which authorize
// asks for when no place of this Component served the stored bytes): the
// store (or the tag index) is checked once more inside the shared call, and
// the chart is then obtained as a cache hit.
func (f *Fetcher) pull(ctx context.Context, ref chartref.Reference, r *Resolution, again bool) (*obtained, error) {
	downloaded := false
	v, err, _ := f.inflight.Do(ref.PullRef(), func() (any, error) {
		if !again && f.landed(ref) {
			return &shared{}, errLanded
		}
		downloaded = true
		got, err := f.download(ctx, ref, r)
		if err == nil && ref.Digest == "" {
			f.record(ref.TagRef(), got.entry.ManifestDigest)
		}
		return &shared{obtained: got, id: f.identity(r.Auth)}, err
	})
	if errors.Is(err, errLanded) {
		return f.obtain(ctx, r)
	}
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
	case downloaded || s.id == f.identity(r.Auth):
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
		got, err := f.authorize(ctx, r, ref, &obtained{entry: s.entry, path: s.path})
		if err != nil {
			return nil, err
		}
		return f.trusted(ctx, r, ref, got)
	}
	digest, err := f.resolveTag(ctx, r, ref)
	if err != nil {
		return nil, err
	}
	pinned := ref
	pinned.Digest = digest
	if digest == s.entry.ManifestDigest {
		if err := matches(ref, s.entry); err != nil {
			return nil, err
		}
		got, err := f.authorize(ctx, r, pinned, &obtained{entry: s.entry, path: s.path})
		if err != nil {
			return nil, err
		}
		return f.trusted(ctx, r, pinned, got)
	}
	return f.download(ctx, pinned, r)
}

// errLanded says that what pull was asked for is in the store now.
var errLanded = errors.New("landed in the store meanwhile")

// landed reports whether ref is in the store now: its digest, or its tag in
// the index.
func (f *Fetcher) landed(ref chartref.Reference) bool {
	if ref.Digest == "" {
		return f.Store.Lookup(ref.TagRef()) != nil
	}
	if _, ok := f.entries.Load(ref.Digest); ok {
		return true
	}
	e, _, err := f.Store.Get(ref.Digest)
	return err == nil && e != nil
}

// shared is a download and the identity of the Component that made it
// (its Secret as read, its client certificate).
type shared struct {
	*obtained
	id cache.Identity
}

// hit answers ref from the store entry for digest, if there is one that
// proves out from its bytes. An entry that fails its checks is ignored with
// a warning (the download replaces it); with --offline it is an error
// naming it.
func (f *Fetcher) hit(ref chartref.Reference, digest string) (*obtained, error) {
	if v, ok := f.entries.Load(digest); ok {
		re := v.(*runEntry)
		if err := matches(ref, re.entry); err != nil {
			return nil, err
		}
		return &obtained{entry: re.entry, path: re.path, cached: true}, nil
	}
	e, path, err := f.Store.Get(digest)
	var bad *cache.BadEntryError
	switch {
	case errors.Is(err, cache.ErrMiss):
		return nil, nil
	case errors.As(err, &bad) && f.Offline:
		return nil, clierror.WithReason(clierror.WithHint(fmt.Errorf("--offline: %s: %w", ref.String(), bad),
			"run once without --offline to pull it again; the download replaces the entry"), ReasonCacheEntryBad)
	case errors.As(err, &bad):
		f.warn(fmt.Sprintf("%v; pulling it again", bad))
		return nil, nil
	case err != nil:
		return nil, err
	}
	f.remember(e, path)
	if err := matches(ref, e); err != nil {
		return nil, err
	}
	return &obtained{entry: e, path: path, cached: true}, nil
}

// runEntry is a cache entry proven from its bytes in this run: proven once
// per digest, however many Components name it.
type runEntry struct {
	entry *cache.Entry
	path  string
}

// remember keeps a proven entry for the rest of the run.
func (f *Fetcher) remember(e *cache.Entry, path string) {
	f.entries.Store(e.ManifestDigest, &runEntry{entry: e, path: path})
}

// lookup is what the tag index says of tag, read once per run.
func (f *Fetcher) lookup(tag string) string {
	if v, ok := f.indexed.Load(tag); ok {
		return v.(string)
	}
	d := ""
	if e := f.Store.Lookup(tag); e != nil {
		d = e.Digest
	}
	f.indexed.Store(tag, d)
	return d
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
