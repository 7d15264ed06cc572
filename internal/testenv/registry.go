package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	// The registry's htpasswd access controller and in-memory storage.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// Request is one request the registry served, as its access log records it.
// It never holds a header value.
type Request struct {
	Method string
	Path   string
	Status int
	// Authorized is whether the request carried an Authorization header.
	Authorized bool
	// Bytes is how many bytes of body the registry sent.
	Bytes int64
}

// Registry is a real distribution registry, in-process, behind a TLS server
// whose certificate is signed by a test CA, with htpasswd (bcrypt) users.
type Registry struct {
	// Host is 127.0.0.1:PORT, as charts reference it.
	Host string
	// URL is https://127.0.0.1:PORT.
	URL string
	// CA is the CA that signed the server certificate; CAFile holds it as PEM.
	CA     *CA
	CAFile string
	// ClientCertificate is what the harness itself presents to a registry
	// that requires one (to push test charts).
	ClientCertificate *tls.Certificate

	accessLog[Request]

	server *httptest.Server
	mu     sync.Mutex
	// blobs, when set, receives every blob GET by redirect.
	blobs *BlobServer
	// hook, when set, runs before each request is served (and may hold it).
	hook func(*http.Request)
	// inFlight is the requests being served; maxInFlight the most at once.
	inFlight, maxInFlight int
	// connections is how many connections clients opened.
	connections int
	// transport is the harness's own transport (see Transport).
	transport     *http.Transport
	transportCert *tls.Certificate
}

// RegistryOptions configures NewRegistry.
type RegistryOptions struct {
	// Users maps user names to passwords for htpasswd; none means anonymous access.
	Users map[string]string
	// Dir holds the CA and htpasswd files.
	Dir string
	// PlainHTTP serves HTTP instead of HTTPS.
	PlainHTTP bool
	// CA signs the server certificate; a new one is made when nil.
	CA *CA
	// Token, when set, is the registry's token realm (distribution's token
	// auth) instead of htpasswd.
	Token *TokenServer
	// TokenRealm, when set, is the realm the registry names in its challenges
	// instead of Token's URL.
	TokenRealm string
	// ClientCA, when set, makes the registry require client certificates it signed.
	ClientCA *CA
	// HTTP1 serves HTTP/1.1 only, as some registries (and proxies in front
	// of them) do: each request in flight needs a connection of its own.
	HTTP1 bool
}

// NewRegistry starts a registry. Close it when done.
func NewRegistry(o RegistryOptions) (*Registry, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("testenv: RegistryOptions.Dir is required")
	}
	// The registry logs through logrus' standard logger; keep test output clean.
	logrus.SetOutput(io.Discard)

	cfg := &configuration.Configuration{}
	cfg.Log.AccessLog.Disabled = true
	cfg.Log.Level = "error"
	cfg.HTTP.Secret = "ocisrc-testenv"
	cfg.HTTP.DrainTimeout = time.Second
	cfg.Storage = configuration.Storage{
		"inmemory":    configuration.Parameters{},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}
	if len(o.Users) > 0 {
		var b strings.Builder
		for user, pass := range o.Users {
			hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, "%s:%s\n", user, hash)
		}
		htpasswd := filepath.Join(o.Dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(b.String()), 0o600); err != nil {
			return nil, err
		}
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "ocisrc-test", "path": htpasswd}}
	}
	if o.Token != nil {
		tc := o.Token.authConfig()
		if o.TokenRealm != "" {
			tc["realm"] = o.TokenRealm
		}
		cfg.Auth = configuration.Auth{"token": configuration.Parameters(tc)}
	}
	app := handlers.NewApp(context.Background(), cfg)

	r := &Registry{}
	srv := httptest.NewUnstartedServer(r.record(app))
	// HTTP/2 over TLS, as distribution serves it (Go's server speaks h2 when
	// TLS is on); httptest would offer HTTP/1.1 only.
	srv.EnableHTTP2 = !o.HTTP1
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.mu.Lock()
			r.connections++
			r.mu.Unlock()
		}
	}
	// Failed handshakes are what some tests are about; do not log them.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if o.PlainHTTP {
		srv.Start()
	} else {
		ca := o.CA
		if ca == nil {
			var err error
			if ca, err = NewCA(); err != nil {
				return nil, err
			}
		}
		cert, err := ca.ServerCertificate()
		if err != nil {
			return nil, err
		}
		caFile := filepath.Join(o.Dir, "registry-ca.pem")
		if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
			return nil, err
		}
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if o.ClientCA != nil {
			pool := x509.NewCertPool()
			pool.AddCert(o.ClientCA.Cert)
			srv.TLS.ClientCAs = pool
			srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		}
		srv.StartTLS()
		r.CA, r.CAFile = ca, caFile
	}
	r.server = srv
	r.URL = srv.URL
	r.Host = strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https://"), "http://")
	return r, nil
}

// Close stops the registry.
func (r *Registry) Close() {
	r.mu.Lock()
	if r.transport != nil {
		r.transport.CloseIdleConnections()
	}
	r.mu.Unlock()
	r.server.Close()
}

// record wraps h with the access log.
func (r *Registry) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		r.mu.Lock()
		blobs, hook := r.blobs, r.hook
		r.inFlight++
		r.maxInFlight = max(r.maxInFlight, r.inFlight)
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			r.inFlight--
			r.mu.Unlock()
		}()
		if hook != nil {
			hook(req)
		}
		if blobs != nil && req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
			// Authenticate as the registry would, then send the client elsewhere.
			probe := &statusWriter{ResponseWriter: discardWriter{header: http.Header{}}, status: http.StatusOK}
			head := req.Clone(req.Context())
			head.Method = http.MethodHead
			h.ServeHTTP(probe, head)
			if probe.status == http.StatusOK {
				digest := req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]
				http.Redirect(sw, req, blobs.URL+"/blobs/"+digest, http.StatusTemporaryRedirect)
			} else {
				h.ServeHTTP(sw, req)
			}
		} else {
			h.ServeHTTP(sw, req)
		}
		r.add(Request{Method: req.Method, Path: req.URL.Path, Status: sw.status, Authorized: req.Header.Get("Authorization") != "", Bytes: sw.bytes})
	})
}

// MaxInFlight is the most requests the registry served at once since the
// last ResetInFlight.
func (r *Registry) MaxInFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxInFlight
}

// ResetInFlight starts counting MaxInFlight again.
func (r *Registry) ResetInFlight() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxInFlight = r.inFlight
}

// Connections is how many connections clients opened since the registry
// started.
func (r *Registry) Connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connections
}

// Hook runs fn before each request is served, in the request's goroutine
// (nil removes it): a test holds a request there, or changes something
// while the client waits for the answer.
func (r *Registry) Hook(fn func(*http.Request)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hook = fn
}

// RedirectBlobs makes every blob download redirect to bs (nil stops it), as
// registries backed by object storage do.
func (r *Registry) RedirectBlobs(bs *BlobServer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blobs = bs
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}
