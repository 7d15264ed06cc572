package oci

import (
	"net/http"
	"strings"
	"testing"

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
			err := CheckPlainHTTP(tc.host, tc.plain, tc.creds, tc.allowed)
			if (err != nil) != tc.bad {
				t.Fatalf("err = %v, want error %v", err, tc.bad)
			}
			if err != nil && clierror.ExitCode(err) != 2 {
				t.Errorf("exit code %d", clierror.ExitCode(err))
			}
		})
	}
}
