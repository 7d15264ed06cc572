package testenv

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
)

// ProxiedRequest is one request a RecordingProxy received. It never holds a
// header value or a body, only whether they were there.
type ProxiedRequest struct {
	Method string
	// Host is where the client wanted to go.
	Host string
	Path string
	// Authorization is whether the request carried that header; Body whether
	// it carried a body (a token request's form holds credentials).
	Authorization, Body bool
}

// RecordingProxy is an HTTP forward proxy on loopback that records what
// clients send through it and forwards nothing: it answers 502. Set as
// HTTP_PROXY, it stands for "a host that is not this machine" without a
// packet leaving the machine.
type RecordingProxy struct {
	URL string

	accessLog[ProxiedRequest]

	server *httptest.Server
}

// NewRecordingProxy starts the proxy.
func NewRecordingProxy() *RecordingProxy {
	p := &RecordingProxy{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		p.add(ProxiedRequest{Method: r.Method, Host: r.Host, Path: r.URL.Path, Authorization: r.Header.Get("Authorization") != "", Body: n > 0})
		http.Error(w, "the test proxy forwards nothing", http.StatusBadGateway)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	p.server, p.URL = srv, srv.URL
	return p
}

// Close stops the proxy.
func (p *RecordingProxy) Close() { p.server.Close() }
