package testenv

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
)

// BlobServer stands for the object storage a registry redirects blob
// downloads to. It serves the blobs it was given and records whether each
// request carried an Authorization header (never its value).
type BlobServer struct {
	URL string

	accessLog[Request]

	server *httptest.Server
	mu     sync.Mutex
	blobs  map[string][]byte
	status int
}

// Refuse makes every request answer status (0: serve again), as object
// storage does when a signed URL has expired.
func (bs *BlobServer) Refuse(status int) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.status = status
}

// NewBlobServer starts a TLS blob server whose certificate ca signs.
func NewBlobServer(ca *CA) (*BlobServer, error) {
	cert, err := ca.ServerCertificate()
	if err != nil {
		return nil, err
	}
	bs := &BlobServer{blobs: map[string][]byte{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(bs.serve))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	bs.server, bs.URL = srv, srv.URL
	return bs, nil
}

// Close stops the server.
func (bs *BlobServer) Close() { bs.server.Close() }

// Put makes data available under its digest.
func (bs *BlobServer) Put(data ...[]byte) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for _, d := range data {
		bs.blobs[digest.FromBytes(d).String()] = d
	}
}

func (bs *BlobServer) serve(w http.ResponseWriter, r *http.Request) {
	d := strings.TrimPrefix(r.URL.Path, "/blobs/")
	bs.mu.Lock()
	data, ok := bs.blobs[d]
	refuse := bs.status
	bs.mu.Unlock()
	status := http.StatusOK
	if !ok {
		status = http.StatusNotFound
	}
	if refuse != 0 {
		bs.add(Request{Method: r.Method, Path: r.URL.Path, Status: refuse, Authorized: r.Header.Get("Authorization") != ""})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(refuse)
		_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"signature expired"}]}`)
		return
	}
	bs.add(Request{Method: r.Method, Path: r.URL.Path, Status: status, Authorized: r.Header.Get("Authorization") != ""})
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(data)
}
