package oci

import (
	"strings"

	"github.com/ocisrc/ocisrc/pkg/place"

	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// preDialer opens TLS connections to a registry ahead of the first request:
// the TCP and TLS handshakes (two round trips on a real network) run while
// the API server is still being asked for the Component's Secret. The
// transport then takes the connection when it dials that address. No HTTP
// request is sent ahead: nothing is counted, nothing is authenticated.
type preDialer struct {
	cfg     *tls.Config
	dialer  net.Dialer
	mu      sync.Mutex
	pending map[string]chan dialed
}

type dialed struct {
	conn net.Conn
	err  error
}

func newPreDialer(cfg *tls.Config) *preDialer {
	return &preDialer{cfg: cfg, dialer: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}, pending: map[string]chan dialed{}}
}

// preconnect starts a TLS connection to addr (host:port), once.
func (d *preDialer) preconnect(addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.pending[addr]; ok {
		return
	}
	ch := make(chan dialed, 1)
	d.pending[addr] = ch
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := d.dialTLS(ctx, addr)
		ch <- dialed{conn: conn, err: err}
		// Not taken within a while (another transport served the pull): drop it.
		time.AfterFunc(30*time.Second, func() {
			d.mu.Lock()
			if d.pending[addr] == ch {
				delete(d.pending, addr)
				if r, ok := <-ch; ok && r.conn != nil {
					_ = r.conn.Close()
				}
			}
			d.mu.Unlock()
		})
	}()
}

// DialTLSContext is the transport's TLS dialer: a connection opened ahead
// for addr if there is one, else a new one.
func (d *preDialer) DialTLSContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	ch, ok := d.pending[addr]
	if ok {
		delete(d.pending, addr)
	}
	d.mu.Unlock()
	if ok {
		select {
		case r := <-ch:
			if r.err == nil {
				return r.conn, nil
			}
		case <-ctx.Done():
			go func() {
				if r := <-ch; r.conn != nil {
					_ = r.conn.Close()
				}
			}()
			return nil, ctx.Err()
		}
	}
	return d.dialTLS(ctx, addr)
}

func (d *preDialer) dialTLS(ctx context.Context, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg := d.cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	cfg.NextProtos = []string{"h2", "http/1.1"}
	td := tls.Dialer{NetDialer: &d.dialer, Config: cfg}
	return td.DialContext(ctx, "tcp", addr)
}

// Preconnect opens, ahead, the TLS connection a request to host (host[:port])
// with e's settings would use; nothing when the connection is plain HTTP or
// goes through a proxy (the transport dials those itself).
func (p *Puller) Preconnect(host place.Host, e Extra) {
	if p.opts.PlainHTTP || e.PlainHTTP {
		return
	}
	u := &url.URL{Scheme: "https", Host: host.Dial(), Path: "/v2/"}
	if proxy, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err != nil || proxy != nil {
		return
	}
	t, err := p.transport(e)
	if err != nil {
		return
	}
	if l, ok := t.(limited); ok {
		t = l.rt
	}
	if l, ok := t.(logged); ok {
		t = l.rt
	}
	if d, ok := t.(drained); ok {
		t = d.rt
	}
	if rt, ok := t.(idempotentRetry); ok && rt.dialer != nil {
		addr := host.Dial()
		if host.Port() == 0 {
			addr = net.JoinHostPort(strings.Trim(addr, "[]"), "443")
		}
		rt.dialer.preconnect(addr)
	}
}
