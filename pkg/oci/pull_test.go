package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/registry"
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
			Meta:                  &chart.Metadata{Name: "app", Version: version},
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
		"chart bytes altered":    {ref: "oci://r.io/charts/app:1.2.3", mutate: func(r *registry.PullResult) { r.Chart.Data = []byte("evil") }, wantErr: "chart layer digest mismatch"},
		"layer digest differs":   {ref: "oci://r.io/charts/app:1.2.3", mutate: func(r *registry.PullResult) { r.Chart.Digest = "sha256:" + strings.Repeat("e", 64) }, wantErr: "chart layer digest mismatch"},
		"other version":          {ref: "oci://r.io/charts/app:1.2.4", wantErr: `is version "1.2.3", not "1.2.4"`},
		"other chart":            {ref: "oci://r.io/charts/web:1.2.3", wantErr: `is named "app", not "web"`},
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
			c, err := verify(mustRef(t, tc.ref), res)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("verify = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ManifestDigest != manifestDigest || c.LayerDigest != digestOf(data) || string(c.Data) != string(data) || c.Version != "1.2.3" {
				t.Errorf("got %+v", c)
			}
		})
	}
}

func TestDescribePullError(t *testing.T) {
	ref := mustRef(t, "oci://r.io/charts/app:1.2.3")
	for name, tc := range map[string]struct {
		err      error
		want     string
		wantHint string
	}{
		"401":   {err: &errcode.ErrorResponse{StatusCode: http.StatusUnauthorized}, want: "the registry r.io refused the credentials (401 unauthorized)", wantHint: "check the Secret"},
		"403":   {err: &errcode.ErrorResponse{StatusCode: http.StatusForbidden}, want: "denied access (403 forbidden)"},
		"404":   {err: &errcode.ErrorResponse{StatusCode: http.StatusNotFound}, want: "not found in the registry r.io", wantHint: "check the repository"},
		"500":   {err: &errcode.ErrorResponse{StatusCode: http.StatusInternalServerError}, want: "the registry r.io answered 500 Internal Server Error"},
		"other": {err: errors.New("connection refused"), want: `pulling "oci://r.io/charts/app:1.2.3": connection refused`},
	} {
		t.Run(name, func(t *testing.T) {
			err := describePullError(context.Background(), ref, tc.err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want %q", err, tc.want)
			}
			if tc.wantHint != "" && !strings.Contains(clierror.Hint(err), tc.wantHint) {
				t.Errorf("hint = %q, want %q", clierror.Hint(err), tc.wantHint)
			}
			if clierror.ExitCode(err) != 1 {
				t.Errorf("exit code %d, want 1", clierror.ExitCode(err))
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	if err := describePullError(ctx, ref, errors.New("x")); !strings.Contains(err.Error(), "timed out") || !strings.Contains(clierror.Hint(err), "--timeout") {
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
