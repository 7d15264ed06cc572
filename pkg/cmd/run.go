package cmd

import (
	"context"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/fetch"
	"github.com/ocisrc/ocisrc/pkg/termsafe"
)

// finished is one Component's end: its place in the run (the order asked
// or listed), its decision (nil for a name that does not exist) and what
// happened.
type finished struct {
	seq int
	d   *fetch.Decision
	res fetch.Result
	err error
}

// fetchRun is a run's selection and pulls, each Component handed to done
// as it finishes (in completion order, one call at a time).
type fetchRun struct {
	o    *FetchOptions
	s    *session
	f    *fetch.Fetcher
	done func(finished)
	// none is set when the selection found no Component.
	none bool
	// total is how many Components the run took on.
	total int

	mu       sync.Mutex
	progress *progress
	// held is how many Components are decided and not yet finished;
	// maxHeld the most at once (shown at -v=2).
	held, maxHeld atomic.Int64
}

// run selects the Components (NAMEs, -l, --all, -A or -f) and pulls them,
// several at once. A selection by label or --all is listed page by page,
// each Component decided as it is read (its raw source dropped) and pulled
// as soon as a slot is free; the listing runs up to two pages ahead, so
// that the Secrets those Components need are read ahead of their pulls.
// Nothing is kept of a Component once done has seen it. The error is the
// run's own (the cluster, the files, the policy), not a Component's.
func (o *FetchOptions) run(ctx context.Context, showProgress bool, done func(finished)) (*fetchRun, error) {
	s, f, err := o.prepare(ctx)
	if err != nil {
		return &fetchRun{}, err
	}
	r := &fetchRun{o: o, s: s, f: f, done: done}
	// The cluster's policy does not depend on the Components: read it while
	// they are read (one round trip instead of two).
	policyDone := make(chan error, 1)
	go func() {
		set, err := o.Policy.load(ctx, s, o.SystemNamespace, f.Warn)
		f.Policy = set
		policyDone <- err
	}()
	listed := len(o.Names) == 0 && len(o.Files.Filenames) == 0
	if listed && !o.Registry.InsecureSkipTLSVerify && !o.Registry.PlainHTTP {
		err = r.listed(ctx, policyDone, showProgress)
	} else {
		err = r.selected(ctx, policyDone, showProgress)
	}
	f.Flush()
	if err == nil && r.total == 0 {
		r.none = true
		termsafe.NewPrinter(o.ErrOut).Printf("No %s found%s.\n", o.Resource, scopeText(s.namespace, o.AllNamespaces))
	}
	return r, err
}

// selected runs the Components of NAMEs, -f, or a listing that the relaxing
// flags need whole first (they apply to one registry only).
func (r *fetchRun) selected(ctx context.Context, policyDone <-chan error, showProgress bool) error {
	o, s, f := r.o, r.s, r.f
	var found []component.Component
	var missing map[string]error
	var err error
	switch {
	case len(o.Files.Filenames) > 0:
		found, err = component.FromFiles(o.Files, component.Namespaces{Effective: s.namespace, AcceptClaims: o.AllNamespaces})
	default:
		found, missing, err = s.finder.Find(component.Query{Namespace: s.namespace, AllNamespaces: o.AllNamespaces, Names: o.Names, Selector: o.Selector})
	}
	policyErr := <-policyDone
	if err != nil {
		return err
	}
	if policyErr != nil {
		return policyErr
	}
	// NAMEs keep the order asked (the missing ones too); a listing its own.
	type item struct {
		d    *fetch.Decision
		miss error
		key  string
	}
	var items []item
	if len(o.Names) > 0 {
		byName := map[string]component.Component{}
		for _, c := range found {
			byName[c.Name] = c
		}
		for _, n := range uniq(o.Names) {
			key := s.namespace + "/" + n
			if e, ok := missing[n]; ok {
				items = append(items, item{key: key, miss: &fetch.ComponentError{Component: key, Err: clierror.WithHint(e, "check the name, or pass -n/--namespace")}})
				continue
			}
			items = append(items, item{key: key, d: f.Decide(byName[n])})
		}
	} else {
		for _, c := range found {
			items = append(items, item{key: c.Key(), d: f.Decide(c)})
		}
	}
	var decided []*fetch.Decision
	for _, it := range items {
		if it.d != nil {
			decided = append(decided, it.d)
		}
	}
	if err := o.relax(f, decided); err != nil {
		return err
	}
	f.Bulk = len(decided) > 1
	r.total = len(items)
	r.progress = newProgress(o.ErrOut, len(decided), showProgress)
	defer r.progress.finish()
	g := new(errgroup.Group)
	g.SetLimit(o.Concurrency)
	for i, it := range items {
		if it.d == nil {
			r.finish(finished{seq: i, res: fetch.Result{Component: it.key, Error: it.miss.Error()}, err: it.miss})
			continue
		}
		r.held.Add(1)
		g.Go(func() error {
			r.pull(ctx, i, it.d)
			return nil
		})
	}
	return g.Wait()
}

// listed runs the Components a selector or --all lists, as they are listed.
func (r *fetchRun) listed(ctx context.Context, policyDone <-chan error, showProgress bool) error {
	o, s, f := r.o, r.s, r.f
	f.Bulk = true
	r.progress = newProgress(o.ErrOut, 0, showProgress)
	defer r.progress.finish()
	g := new(errgroup.Group)
	g.SetLimit(o.Concurrency)
	backlog := 2 * o.ChunkSize
	if backlog <= 0 {
		backlog = 1000
	}
	type job struct {
		seq int
		d   *fetch.Decision
	}
	jobs := make(chan job, backlog)
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		for j := range jobs {
			g.Go(func() error {
				r.pull(ctx, j.seq, j.d)
				return nil
			})
		}
	}()
	policyRead := false
	s.finder.ChunkSize = o.ChunkSize
	err := s.finder.Each(ctx, component.Query{Namespace: s.namespace, AllNamespaces: o.AllNamespaces, Selector: o.Selector}, func(c component.Component) error {
		if !policyRead {
			policyRead = true
			if err := <-policyDone; err != nil {
				return err
			}
		}
		d := f.Decide(c)
		if n := r.held.Add(1); n > r.maxHeld.Load() {
			r.maxHeld.Store(n)
		}
		f.Prefetch(ctx, d)
		seq := r.total
		r.total++
		r.progress.grow(1)
		select {
		case jobs <- job{seq: seq, d: d}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(jobs)
	<-dispatched
	_ = g.Wait()
	klog.V(2).Infof("listed %d Components, held at most %d at once (pages of %d, %d at once)", r.total, r.maxHeld.Load(), o.ChunkSize, o.Concurrency)
	if !policyRead {
		if perr := <-policyDone; err == nil {
			err = perr
		}
	}
	return err
}

// pull runs one Component's pull and hands on what happened.
func (r *fetchRun) pull(ctx context.Context, seq int, d *fetch.Decision) {
	res, err := r.f.Fetch(ctx, d)
	if err != nil {
		res.Error = err.Error()
	}
	r.finish(finished{seq: seq, d: d, res: res, err: err})
	r.held.Add(-1)
}

func (r *fetchRun) finish(fin finished) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		r.done(fin)
	}
	r.progress.done(fin.res.Downloaded())
}
