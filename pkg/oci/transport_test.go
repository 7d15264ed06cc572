package oci

import (
	"github.com/ocisrc/ocisrc/pkg/place"

	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocisrc/ocisrc/pkg/clierror"
)

func TestCheckRedirect(t *testing.T) {
	mk := func(url string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Basic x")
		r.Header.Set("Cookie", "c=1")
		return r
	}
	for name, tc := range map[string]struct {
		from, to string
		keep     bool
		wantErr  string
	}{
		"same host and port":       {from: "https://r.io/v2/a/blobs/x", to: "https://r.io/other", keep: true},
		"same host, other port":    {from: "https://127.0.0.1:5000/v2/a/blobs/x", to: "https://127.0.0.1:9000/blobs/x"},
		"object storage":           {from: "https://r.io/v2/a/blobs/x", to: "https://bucket.s3.amazonaws.com/x"},
		"subdomain":                {from: "https://r.io/v2/a/blobs/x", to: "https://cdn.r.io/x"},
		"https to http is refused": {from: "https://r.io/v2/a/blobs/x", to: "http://r.io/x", wantErr: "refusing a redirect from r.io to plain HTTP"},
		"plain http stays allowed": {from: "http://127.0.0.1:5000/v2/a", to: "http://127.0.0.1:5000/b", keep: true},
	} {
		t.Run(name, func(t *testing.T) {
			req := mk(tc.to)
			err := checkRedirect(req, []*http.Request{mk(tc.from)})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			kept := req.Header.Get("Authorization") != "" && req.Header.Get("Cookie") != ""
			if kept != tc.keep {
				t.Errorf("credentials kept = %v, want %v", kept, tc.keep)
			}
		})
	}
	via := make([]*http.Request, 10)
	for i := range via {
		via[i] = mk("https://r.io/")
	}
	if err := checkRedirect(mk("https://r.io/"), via); err == nil {
		t.Error("an 11th redirect was followed")
	}
}

func TestCheckPlainHTTP(t *testing.T) {
	for name, tc := range map[string]struct {
		host                       string
		plain, creds, allowed, bad bool
	}{
		"https":                   {host: "r.io", creds: true},
		"plain, anonymous":        {host: "r.io", plain: true},
		"plain, creds, remote":    {host: "r.io:5000", plain: true, creds: true, bad: true},
		"plain, creds, allowed":   {host: "r.io:5000", plain: true, creds: true, allowed: true},
		"plain, creds, 127.x":     {host: "127.0.0.2:5000", plain: true, creds: true},
		"plain, creds, ::1":       {host: "[::1]:5000", plain: true, creds: true},
		"plain, creds, localhost": {host: "localhost:5000", plain: true, creds: true},
		"plain, creds, private":   {host: "10.0.0.1", plain: true, creds: true, bad: true},
	} {
		t.Run(name, func(t *testing.T) {
			h, perr := place.ParseHost(tc.host)
			if perr != nil {
				t.Fatal(perr)
			}
			err := CheckPlainHTTP(h, tc.plain, tc.creds, tc.allowed)
			if (err != nil) != tc.bad {
				t.Fatalf("err = %v, want error %v", err, tc.bad)
			}
			if err != nil && clierror.ExitCode(err) != 2 {
				t.Errorf("exit code %d", clierror.ExitCode(err))
			}
		})
	}
}

func TestGuardTransport(t *testing.T) {
	layers := func(n int, size int64) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"sha256:%064d","size":%d}`, i, size)
		}
		return b.String()
	}
	manifest := func(configSize int64, layerJSON string) string {
		return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:%064d","size":%d},"layers":[%s]}`, 0, configSize, layerJSON)
	}
	for name, tc := range map[string]struct {
		path, body string
		wantErr    string
	}{
		"a chart's manifest":  {path: "/v2/charts/app/manifests/1.0.0", body: manifest(100, layers(2, 1000))},
		"hundreds of layers":  {path: "/v2/charts/app/manifests/1.0.0", body: manifest(100, layers(300, 10)), wantErr: "a manifest with 300 layers (a Helm chart has at most 16)"},
		"an oversized config": {path: "/v2/charts/app/manifests/1.0.0", body: manifest(64<<20, layers(1, 10)), wantErr: "whose config claims 67108864 bytes"},
		"an oversized layer":  {path: "/v2/charts/app/manifests/1.0.0", body: manifest(100, layers(1, 2<<20)), wantErr: "the registry sends 2.0 MiB, more than the maximum chart size of 1.0 MiB"},
		"an index":            {path: "/v2/charts/app/manifests/1.0.0", body: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`, wantErr: "an index of manifests"},
		"not JSON":            {path: "/v2/charts/app/manifests/1.0.0", body: `<html>`, wantErr: "not valid JSON"},
		"a blob under limit":  {path: "/v2/charts/app/blobs/sha256:x", body: strings.Repeat("x", 1<<20)},
		"a blob over limit":   {path: "/v2/charts/app/blobs/sha256:x", body: strings.Repeat("x", 1<<20+1), wantErr: "more than the maximum chart size"},
		"object storage over": {path: "/bucket/some-object", body: strings.Repeat("x", 1<<20+1), wantErr: "more than the maximum chart size"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.Contains(name, "over") {
					w.(http.Flusher).Flush() // no Content-Length: the limit counts
				}
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			g := guardTransport{ctx: context.Background(), base: http.DefaultTransport, max: 1 << 20, chartManifests: true}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			resp, err := g.RoundTrip(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestGuardTransportPlainHTTPCredentials(t *testing.T) {
	sent := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { sent++ }))
	defer srv.Close()
	for name, tc := range map[string]struct {
		url, method, authz string
		allow              bool
		refused            bool
	}{
		"basic auth to another host": {url: "http://realm.example.test/token", method: http.MethodGet, authz: "Basic x", refused: true},
		"token form to another host": {url: "http://realm.example.test/token", method: http.MethodPost, refused: true},
		"anonymous to another host":  {url: "http://realm.example.test/token", method: http.MethodGet},
		"allowed":                    {url: "http://realm.example.test/token", method: http.MethodPost, allow: true},
		"loopback":                   {url: srv.URL + "/token", method: http.MethodPost},
		"https":                      {url: "https://realm.example.test/token", method: http.MethodPost, authz: "Basic x"},
	} {
		t.Run(name, func(t *testing.T) {
			g := guardTransport{ctx: context.Background(), base: roundTripFunc(func(*http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody}, nil
			}), allowPlainCredentials: tc.allow}
			req, _ := http.NewRequest(tc.method, tc.url, nil)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			_, err := g.RoundTrip(req)
			var pe *PlainHTTPCredentialsError
			if errors.As(err, &pe) != tc.refused {
				t.Fatalf("err = %v, refused want %v", err, tc.refused)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestPreconnect: the connection opened ahead is the one the first request
// uses; no request is sent ahead.
func TestPreconnect(t *testing.T) {
	var mu sync.Mutex
	conns, reqs := 0, 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs++
		mu.Unlock()
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.StartTLS()
	defer srv.Close()
	p, err := NewPuller(TLSOptions{InsecureSkipTLSVerify: true}, "test")
	if err != nil {
		t.Fatal(err)
	}
	host, err := place.ParseHost(strings.TrimPrefix(srv.URL, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	p.Preconnect(host, Extra{})
	for deadline := time.Now().Add(5 * time.Second); ; {
		mu.Lock()
		n := conns
		mu.Unlock()
		if n == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	if conns != 1 || reqs != 0 {
		t.Fatalf("after Preconnect: %d connections, %d requests; want 1 and 0", conns, reqs)
	}
	mu.Unlock()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
	resp, err := p.base.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 || reqs != 1 {
		t.Errorf("the request opened its own connection: %d connections, %d requests", conns, reqs)
	}
}
