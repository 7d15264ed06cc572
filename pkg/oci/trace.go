package oci

import (
	"net/http"
	"time"

	"k8s.io/klog/v2"

	"github.com/ocisrc/ocisrc/pkg/termsafe"
)

// logged logs each registry request at -v=6, as client-go logs the API
// server's: the method, the URL (no query: a token request's would hold
// the scope only, but nothing of a request's headers or body is ever
// logged), the status and how long it took.
type logged struct{ rt http.RoundTripper }

func (t logged) RoundTrip(req *http.Request) (*http.Response, error) {
	if !klog.V(6).Enabled() {
		return t.rt.RoundTrip(req)
	}
	start := time.Now()
	resp, err := t.rt.RoundTrip(req)
	u := *req.URL
	u.RawQuery, u.User = "", nil
	status := "error"
	if err == nil {
		status = http.StatusText(resp.StatusCode)
		if status == "" {
			status = "status"
		}
		status = termsafe.Escape(status)
	}
	code := 0
	if resp != nil {
		code = resp.StatusCode
	}
	klog.V(6).InfoS("Registry response", "verb", req.Method, "url", termsafe.Escape(u.String()), "status", code, "text", status, "milliseconds", time.Since(start).Milliseconds())
	return resp, err
}
