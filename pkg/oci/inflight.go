package oci

import (
	"bytes"
	"io"
	"net/http"
	"sync"
)

// hostLimit bounds the requests in flight to each registry host, however
// many Components a run pulls at once: a request holds a slot of its host
// from the moment it is sent until its response body is closed or read to
// its end (a response without a body frees it at once).
type hostLimit struct {
	mu    sync.Mutex
	n     int
	slots map[string]chan struct{}
}

// setMax sets the bound (0: none). Call it before the first request.
func (l *hostLimit) setMax(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n = n
}

func (l *hostLimit) slot(host string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n <= 0 {
		return nil
	}
	if l.slots == nil {
		l.slots = map[string]chan struct{}{}
	}
	s, ok := l.slots[host]
	if !ok {
		s = make(chan struct{}, l.n)
		l.slots[host] = s
	}
	return s
}

// wrap bounds rt's requests (and logs them at -v=6).
func (l *hostLimit) wrap(rt http.RoundTripper) http.RoundTripper {
	return limited{rt: logged{drained{rt}}, l: l}
}

// drained reads a small error answer's body (a 401 challenge, a 404) whole
// before handing it on: closed unread, it would cost its HTTP/1.1
// connection, and the next request (the same one, with credentials) a new
// TCP and TLS handshake — two round trips.
type drained struct{ rt http.RoundTripper }

// maxDrained bounds the body of an error answer read ahead.
const maxDrained = 64 << 10

func (t drained) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 || resp.Body == nil || resp.ContentLength > maxDrained {
		return resp, err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxDrained+1))
	if rerr != nil || len(body) > maxDrained {
		// Too large or broken: hand on what was read and the rest.
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return resp, nil
	}
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

type limited struct {
	rt http.RoundTripper
	l  *hostLimit
}

func (t limited) RoundTrip(req *http.Request) (*http.Response, error) {
	slot := t.l.slot(req.URL.Host)
	if slot == nil {
		return t.rt.RoundTrip(req)
	}
	select {
	case slot <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	release := sync.OnceFunc(func() { <-slot })
	resp, err := t.rt.RoundTrip(req)
	if err != nil || resp.Body == nil || resp.Body == http.NoBody || req.Method == http.MethodHead {
		release()
		return resp, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody frees its request's slot when it is closed or read to its
// end.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.release()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	defer b.release()
	return b.ReadCloser.Close()
}
