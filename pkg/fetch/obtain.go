package fetch

import (
	"context"
	"errors"
	"fmt"

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
	// the mirror when a mirror served it.
	source string
	via    *site
	// verified is the signatures it was verified with, under a requirement.
	verified []cache.Verification
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
			return f.trusted(ctx, r, ref, got)
		case got != nil:
			if got, err = f.authorize(ctx, r, ref, got); err != nil {
				return nil, err
			}
			return f.trusted(ctx, r, ref, got)
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
		if err != nil {
			return nil, err
		}
		pinned := ref
		pinned.Digest = known.Digest
		return f.trusted(ctx, r, pinned, got)
	}
	if known == nil && !routed(r) {
		// A tag never seen, and only the origin: one pull by tag.
		got, err := f.pull(ctx, ref, r)
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
		got, err = f.pull(ctx, pinned, r)
	}
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
//
// Under a registry policy with mirrors, the HEAD goes to the first place that
// answers (mirrors first, with their own credentials; the origin unless
// never): the policy serves that reference from there to any Component.
func (f *Fetcher) authorize(ctx context.Context, r *Resolution, pinned chartref.Reference, got *obtained) (*obtained, error) {
	digest := got.entry.ManifestDigest
	here := pinned.Repo()
	if got.entry.Allows(here, r.Secret) {
		return got, nil
	}
	who := "anonymous access"
	if r.Secret != "" {
		who = fmt.Sprintf("secret %q", r.Secret)
	}
	var tried []string
	var last error
	places := f.places(ctx, r, pinned)
	for _, p := range places {
		err := p.err
		if err == nil {
			err = f.Puller.Exists(ctx, p.ref, digest, p.auth)
		}
		if err == nil {
			if err := f.Store.Grant(digest, here, r.Secret); err != nil {
				f.warn(fmt.Sprintf("could not record access to %s in the cache: %v", digest, err))
			}
			got.cached = true
			return got, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		tried, last = append(tried, p.what()+": "+err.Error()), err
	}
	if len(places) == 1 {
		return nil, fmt.Errorf("the cache holds %s, but the registry did not confirm that %s may read it at %s, so it is not served: %w", digest, who, here, last)
	}
	return nil, &PlacesError{Ref: pinned.String(), Doing: fmt.Sprintf("the cache holds %s, but no place confirmed that %s may read it, so it is not served; proving access to", digest, who), Tried: tried}
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
//
// A download that another Component finished between this one's look at the
// store and its turn here is not made again: the store (or the tag index) is
// checked once more inside the shared call, and the chart is then obtained
// as a cache hit.
func (f *Fetcher) pull(ctx context.Context, ref chartref.Reference, r *Resolution) (*obtained, error) {
	downloaded := false
	v, err, _ := f.inflight.Do(ref.PullRef(), func() (any, error) {
		if f.landed(ref) {
			return &shared{}, errLanded
		}
		downloaded = true
		got, err := f.download(ctx, ref, r)
		if err == nil && ref.Digest == "" {
			f.record(ref.TagRef(), got.entry.ManifestDigest)
		}
		return &shared{obtained: got, secret: r.Secret}, err
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
	e, _, err := f.Store.Get(ref.Digest)
	return err == nil && e != nil
}

// shared is a download and the Secret it was made with.
type shared struct {
	*obtained
	secret string
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
