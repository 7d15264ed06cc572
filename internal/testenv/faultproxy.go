package testenv

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Fault is what the proxy does to a request instead of (or on top of)
// forwarding it.
type Fault struct {
	// Status answers with this status code without forwarding (503, 500, 429…).
	Status int
	// RetryAfter sets the Retry-After header (seconds) on a Status answer.
	RetryAfter int
	// Message is the error message of a Status answer (default "injected fault").
	Message string
	// Reset forwards the request, sends the headers and part of the body, then
	// drops the connection.
	Reset bool
	// Stall forwards the request and then sends nothing until the client goes away.
	Stall bool
	// Truncate forwards the request and sends only the first half of the body,
	// with a matching (short) Content-Length.
	Truncate bool
	// Corrupt forwards the request and flips bytes in the body (same length).
	Corrupt bool
	// Pad forwards the request and sends this many extra bytes after the body.
	Pad int
	// Digest forwards the request and answers with this Docker-Content-Digest
	// instead of the registry's: a registry that lies about what a tag is.
	Digest string
	// Claim answers a HEAD with 200 and this Docker-Content-Digest, without
	// forwarding: a registry that claims to hold a manifest it never had.
	Claim string
	// ServePath forwards the request with this path instead of its own: a
	// registry that serves other content than what was asked for.
	ServePath string
	// RedirectTo answers 307 to this URL, without forwarding.
	RedirectTo string
}

// Rule applies a Fault to the requests it matches, Times times (0: always).
type Rule struct {
	// Method ("" for any) and PathContains select the requests.
	Method       string
	PathContains string
	Times        int
	Fault        Fault

	hits int
}

// FaultProxy is a reverse proxy in front of a real registry that injects
// faults by rule. Requests that no rule takes are forwarded untouched.
type FaultProxy struct {
	// Host is 127.0.0.1:PORT of the proxy; charts are referenced through it.
	Host string

	accessLog[Request]

	server *httptest.Server
	proxy  *httputil.ReverseProxy
	mu     sync.Mutex
	rules  []*Rule
}

// NewFaultProxy starts a TLS proxy (certificate signed by ca) to target.
func NewFaultProxy(target *Registry, ca *CA) (*FaultProxy, error) {
	u, err := url.Parse(target.URL)
	if err != nil {
		return nil, err
	}
	fp := &FaultProxy{}
	fp.proxy = httputil.NewSingleHostReverseProxy(u)
	fp.proxy.Transport = target.Transport()
	fp.proxy.ErrorLog = log.New(io.Discard, "", 0)
	cert, err := ca.ServerCertificate()
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(fp.serve))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	fp.server = srv
	fp.Host = strings.TrimPrefix(srv.URL, "https://")
	return fp, nil
}

// Close stops the proxy; stalled responses end.
func (fp *FaultProxy) Close() {
	fp.server.CloseClientConnections()
	fp.server.Close()
}

// Set replaces the rules.
func (fp *FaultProxy) Set(rules ...*Rule) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.rules = rules
	fp.ResetLog()
}

func (fp *FaultProxy) take(r *http.Request) *Fault {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for _, rule := range fp.rules {
		if rule.Method != "" && rule.Method != r.Method {
			continue
		}
		if !strings.Contains(r.URL.Path, rule.PathContains) {
			continue
		}
		if rule.Times > 0 && rule.hits >= rule.Times {
			continue
		}
		rule.hits++
		f := rule.Fault
		return &f
	}
	return nil
}

func (fp *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	f := fp.take(r)
	entry := Request{Method: r.Method, Path: r.URL.Path, Status: http.StatusOK, Authorized: r.Header.Get("Authorization") != ""}
	defer func() { fp.add(entry) }()
	if f == nil {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		fp.proxy.ServeHTTP(sw, r)
		entry.Status = sw.status
		return
	}
	if f.Status != 0 {
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		msg := f.Message
		if msg == "" {
			msg = "injected fault"
		}
		body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": "UNAVAILABLE", "message": msg}}})
		_, _ = w.Write(body)
		entry.Status = f.Status
		return
	}
	if f.RedirectTo != "" {
		http.Redirect(w, r, f.RedirectTo, http.StatusTemporaryRedirect)
		entry.Status = http.StatusTemporaryRedirect
		return
	}
	if f.ServePath != "" {
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = f.ServePath, ""
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		fp.proxy.ServeHTTP(sw, r2)
		entry.Status = sw.status
		return
	}
	if f.Claim != "" {
		w.Header().Set("Docker-Content-Digest", f.Claim)
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Content-Length", "1024")
		w.WriteHeader(http.StatusOK)
		return
	}
	// Forward, then tamper with the answer.
	rec := httptest.NewRecorder()
	fp.proxy.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	entry.Status = rec.Code
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	switch {
	case f.Stall:
		w.WriteHeader(rec.Code)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		<-r.Context().Done()
	case f.Reset:
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body[:len(body)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
					if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
						_ = tcp.SetLinger(0)
					}
				}
				_ = conn.Close()
			}
		}
	case f.Truncate:
		half := body[:len(body)/2]
		w.Header().Set("Content-Length", strconv.Itoa(len(half)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(half)
	case f.Corrupt:
		bad := bytes.Clone(body)
		for i := 0; i < len(bad); i += 97 {
			bad[i] ^= 0xff
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(bad)
	case f.Digest != "":
		w.Header().Set("Docker-Content-Digest", f.Digest)
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	case f.Pad > 0:
		w.Header().Set("Content-Length", strconv.Itoa(len(body)+f.Pad))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
		_, _ = w.Write(make([]byte, f.Pad))
	default:
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}
}
