package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// pullResult builds what Helm's client returns for a chart with the given bytes.
func pullResult(t *testing.T, chartData []byte, version string) *registry.PullResult {
	t.Helper()
	layer := digestOf(chartData)
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: registry.ConfigMediaType, Digest: toDigest("sha256:" + strings.Repeat("c", 64)), Size: 2},
		Layers:    []ocispec.Descriptor{{MediaType: registry.ChartLayerMediaType, Digest: toDigest(layer), Size: int64(len(chartData))}},
	}
	m.SchemaVersion = 2
	mdata, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return &registry.PullResult{
		Manifest: &registry.DescriptorPullSummary{Data: mdata, Digest: digestOf(mdata), Size: int64(len(mdata))},
		Chart: &registry.DescriptorPullSummaryWithMeta{
			DescriptorPullSummary: registry.DescriptorPullSummary{Data: chartData, Digest: layer, Size: int64(len(chartData))},
			Meta:                  &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "app", Version: version},
		},
	}
}

func mustRef(t *testing.T, s string) chartref.Reference {
	t.Helper()
	r, err := chartref.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerify(t *testing.T) {
	data := []byte("chart archive")
	good := pullResult(t, data, "1.2.3")
	manifestDigest := good.Manifest.Digest

	for name, tc := range map[string]struct {
		ref     string
		mutate  func(r *registry.PullResult)
		wantErr string
	}{
		"tag":                    {ref: "oci://r.io/charts/app:1.2.3"},
		"tag and matching pin":   {ref: "oci://r.io/charts/app:1.2.3@" + manifestDigest},
		"pin alone":              {ref: "oci://r.io/charts/app@" + manifestDigest},
		"pin of another digest":  {ref: "oci://r.io/charts/app@sha256:" + strings.Repeat("d", 64), wantErr: "manifest digest mismatch: expected sha256:dddd"},
		"manifest bytes altered": {ref: "oci://r.io/charts/app:1.2.3", mutate: func(r *registry.PullResult) { r.Manifest.Data = append(r.Manifest.Data, ' ') }, wantErr: "manifest digest mismatch"},
		"other version":          {ref: "oci://r.io/charts/app:1.2.4", wantErr: `is version "1.2.3", not "1.2.4"`},
		"other chart":            {ref: "oci://r.io/charts/web:1.2.3", wantErr: `is named "app", not "web"`},
		"version not SemVer": {ref: "oci://r.io/charts/app@" + manifestDigest, mutate: func(r *registry.PullResult) { r.Chart.Meta.Version = "0.1.0\nWarning: injected" },
			wantErr: `whose version "0.1.0\nWarning: injected" is not a SemVer version`},
		"version with ANSI": {ref: "oci://r.io/charts/app@" + manifestDigest, mutate: func(r *registry.PullResult) { r.Chart.Meta.Version = "1.0.0-\x1b[31mred" },
			wantErr: `whose version "1.0.0-\x1b[31mred" is not a SemVer version`},
		"version with ../": {ref: "oci://r.io/charts/app@" + manifestDigest, mutate: func(r *registry.PullResult) { r.Chart.Meta.Version = "../../x" },
			wantErr: `whose version "../../x" is not a SemVer version`},
		"name with a newline": {ref: "oci://r.io/charts/app@" + manifestDigest, mutate: func(r *registry.PullResult) { r.Chart.Meta.Name = "app\n" },
			wantErr: `whose name "app\n" is not a valid chart name`},
		"name with a slash": {ref: "oci://r.io/charts/app@" + manifestDigest, mutate: func(r *registry.PullResult) { r.Chart.Meta.Name = "x/app" },
			wantErr: `whose name "x/app" is not a valid chart name`},
		"bad type": {ref: "oci://r.io/charts/app@" + manifestDigest, mutate: func(r *registry.PullResult) { r.Chart.Meta.Type = "evil" },
			wantErr: `whose metadata is invalid: "chart.metadata.type must be application or library"`},
		"no chart layer": {ref: "oci://r.io/charts/app:1.2.3", mutate: func(r *registry.PullResult) {
			r.Manifest.Data = []byte(`{"schemaVersion":2,"layers":[]}`)
			r.Manifest.Digest = digestOf(r.Manifest.Data)
		}, wantErr: "the manifest has no chart layer"},
	} {
		t.Run(name, func(t *testing.T) {
			res := pullResult(t, data, "1.2.3")
			if tc.mutate != nil {
				tc.mutate(res)
			}
			c, layer, err := verify(mustRef(t, tc.ref), res)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("verify = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ManifestDigest != manifestDigest || c.LayerDigest != digestOf(data) || layer.Digest.String() != digestOf(data) || layer.Size != int64(len(data)) || c.Version != "1.2.3" {
				t.Errorf("got %+v", c)
			}
		})
	}
}

func TestDescribePullError(t *testing.T) {
	ref := mustRef(t, "oci://r.io/charts/app:1.2.3")
	withSecret := Auth{Credential: &auth.Credential{Username: "u", Password: "p"}, Secret: "team-a/registry-credentials"}
	at := func(method, raw string) *url.URL {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for name, tc := range map[string]struct {
		err            error
		auth           Auth
		want           string
		wantHint       string
		wantCredential bool
		wantCode       int
	}{
		"401": {err: &errcode.ErrorResponse{StatusCode: http.StatusUnauthorized, URL: at("GET", "https://r.io/v2/charts/app/manifests/1.2.3")}, auth: withSecret,
			want: `the registry r.io refused the credentials from secret "team-a/registry-credentials" (401 unauthorized)`, wantHint: `check the values in secret "team-a/registry-credentials"`, wantCredential: true},
		"401 anonymous": {err: &errcode.ErrorResponse{StatusCode: http.StatusUnauthorized}, want: "the registry r.io requires credentials (401 unauthorized)", wantHint: "add spec.source.authentication"},
		"403": {err: &errcode.ErrorResponse{StatusCode: http.StatusForbidden}, auth: withSecret,
			want: `denied access to the credentials from secret "team-a/registry-credentials" (403 forbidden)`, wantCredential: true},
		"token service 401": {err: &errcode.ErrorResponse{Method: http.MethodPost, StatusCode: http.StatusUnauthorized, URL: at("POST", "https://auth.r.io/token")}, auth: withSecret,
			want: `the token service of the registry r.io (auth.r.io) refused the credentials from secret "team-a/registry-credentials" (401 unauthorized)`, wantCredential: true},
		"token service GET 401": {err: &errcode.ErrorResponse{Method: http.MethodGet, StatusCode: http.StatusUnauthorized, URL: at("GET", "https://auth.r.io/token?scope=repository:charts/app:pull&service=r.io")}, auth: withSecret,
			want: `the token service of the registry r.io (auth.r.io) refused`, wantCredential: true},
		"401 after a redirect": {err: &errcode.ErrorResponse{Method: http.MethodGet, StatusCode: http.StatusUnauthorized, URL: at("GET", "https://bucket.s3.example.com/blobs/x")}, auth: withSecret,
			want: `the registry r.io redirected the download to bucket.s3.example.com, which answered 401 Unauthorized; no credentials are sent to another host`, wantHint: "the credentials are fine"},
		"404": {err: &errcode.ErrorResponse{StatusCode: http.StatusNotFound}, want: "not found in the registry r.io", wantHint: "check the repository"},
		"500": {err: &errcode.ErrorResponse{StatusCode: http.StatusInternalServerError}, want: "the registry r.io answered 500 Internal Server Error"},
		"500 with control characters": {err: &errcode.ErrorResponse{StatusCode: http.StatusInternalServerError, Method: "GET", URL: at("GET", "https://r.io/v2/x"), Errors: errcode.Errors{{Code: "X", Message: "boom\nWarning: injected \x1b[2J"}}},
			want: `the registry r.io answered 500 Internal Server Error to GET /v2/x: "boom\nWarning: injected \x1b[2J"`},
		"other":            {err: errors.New("connection refused"), want: `pulling "oci://r.io/charts/app:1.2.3": connection refused`},
		"other with a CR":  {err: errors.New("x\ry"), want: `pulling "oci://r.io/charts/app:1.2.3": x\ry`},
		"config not JSON":  {err: &json.SyntaxError{}, want: "served a chart whose config is not a chart's metadata as JSON"},
		"too many layers":  {err: &ManifestError{Reason: "a manifest with 300 layers (a Helm chart has at most 16)"}, want: "the registry r.io served a manifest with 300 layers"},
		"plain http realm": {err: &url.Error{Op: "Post", URL: "http://auth.example", Err: &PlainHTTPCredentialsError{Host: "auth.example"}}, want: "refusing to send credentials over plain HTTP to auth.example", wantCode: 2},
	} {
		t.Run(name, func(t *testing.T) {
			err := describePullError(context.Background(), ref, tc.auth, tc.err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want %q", err, tc.want)
			}
			if tc.wantHint != "" && !strings.Contains(clierror.Hint(err), tc.wantHint) {
				t.Errorf("hint = %q, want %q", clierror.Hint(err), tc.wantHint)
			}
			want := tc.wantCode
			if want == 0 {
				want = 1
			}
			if clierror.ExitCode(err) != want {
				t.Errorf("exit code %d, want %d", clierror.ExitCode(err), want)
			}
			var ce *CredentialError
			if errors.As(err, &ce) != tc.wantCredential {
				t.Errorf("credential error = %v, want %v", !tc.wantCredential, tc.wantCredential)
			}
			if strings.ContainsAny(err.Error(), "\n\r\x1b") {
				t.Errorf("unescaped control characters in %q", err.Error())
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	if err := describePullError(ctx, ref, Auth{}, errors.New("x")); !strings.Contains(err.Error(), "timed out") || !strings.Contains(clierror.Hint(err), "--timeout") {
		t.Errorf("timeout: %v", err)
	}
}

func TestNewPullerRejectsBadTLSFiles(t *testing.T) {
	for name, tc := range map[string]struct {
		o    TLSOptions
		want string
	}{
		"missing CA":      {TLSOptions{CAFile: "/nonexistent/ca.pem"}, "reading --registry-ca-file"},
		"cert no key":     {TLSOptions{CertFile: "/x.pem"}, "must be given together"},
		"unreadable pair": {TLSOptions{CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}, "must hold a matching PEM certificate and key"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewPuller(tc.o, "test")
			if err == nil || !strings.Contains(err.Error(), tc.want) || clierror.ExitCode(err) != 2 {
				t.Errorf("NewPuller = %v (exit %d), want %q and exit 2", err, clierror.ExitCode(err), tc.want)
			}
		})
	}
}

func toDigest(s string) digest.Digest { return digest.Digest(s) }
