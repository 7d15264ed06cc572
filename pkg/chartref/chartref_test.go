package chartref

import (
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/pkg/place"
)

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParse(t *testing.T) {
	for name, tc := range map[string]struct {
		in      string
		want    Reference
		wantErr string
	}{
		"tag": {
			in:   "oci://ghcr.io/org/charts/app:1.2.3",
			want: Reference{Registry: h("ghcr.io"), Repository: "org/charts/app", Chart: "app", Version: "1.2.3"},
		},
		"host with port": {
			in:   "oci://127.0.0.1:5000/charts/app:0.1.0",
			want: Reference{Registry: h("127.0.0.1:5000"), Repository: "charts/app", Chart: "app", Version: "0.1.0"},
		},
		"ipv6 host": {
			in:   "oci://[::1]:5000/app:1.0.0",
			want: Reference{Registry: h("[::1]:5000"), Repository: "app", Chart: "app", Version: "1.0.0"},
		},
		"single path element": {
			in:   "oci://registry.example.com/app:1.0.0",
			want: Reference{Registry: h("registry.example.com"), Repository: "app", Chart: "app", Version: "1.0.0"},
		},
		"tag and digest": {
			in:   "oci://ghcr.io/org/app:1.2.3@sha256:" + hex64,
			want: Reference{Registry: h("ghcr.io"), Repository: "org/app", Chart: "app", Version: "1.2.3", Digest: "sha256:" + hex64},
		},
		"digest only": {
			in:   "oci://ghcr.io/org/app@sha256:" + hex64,
			want: Reference{Registry: h("ghcr.io"), Repository: "org/app", Chart: "app", Digest: "sha256:" + hex64},
		},
		"version with build metadata": {
			in:   "oci://ghcr.io/org/app:1.2.3+build.7",
			want: Reference{Registry: h("ghcr.io"), Repository: "org/app", Chart: "app", Version: "1.2.3+build.7"},
		},
		"version already written with underscore": {
			in:   "oci://ghcr.io/org/app:1.2.3_build.7",
			want: Reference{Registry: h("ghcr.io"), Repository: "org/app", Chart: "app", Version: "1.2.3_build.7"},
		},
		"prerelease": {
			in:   "oci://ghcr.io/org/app:2.0.0-rc.1",
			want: Reference{Registry: h("ghcr.io"), Repository: "org/app", Chart: "app", Version: "2.0.0-rc.1"},
		},
		"docker hub": {
			in:   "oci://docker.io/bitnamicharts/redis:19.0.0",
			want: Reference{Registry: h("docker.io"), Repository: "bitnamicharts/redis", Chart: "redis", Version: "19.0.0"},
		},
		"repository with dots, dashes and underscores": {
			in:   "oci://r.example.com/a.b/c-d/e_f:1.0.0",
			want: Reference{Registry: h("r.example.com"), Repository: "a.b/c-d/e_f", Chart: "e_f", Version: "1.0.0"},
		},
		"empty":                {in: "", wantErr: "must be an oci:// chart reference"},
		"no scheme":            {in: "ghcr.io/org/app:1.0.0", wantErr: "must start with oci://"},
		"https scheme":         {in: "https://ghcr.io/org/app:1.0.0", wantErr: "must use the oci:// scheme, not https://"},
		"upper-case scheme":    {in: "OCI://ghcr.io/org/app:1.0.0", wantErr: "must use the oci:// scheme, not OCI://"},
		"no repository":        {in: "oci://ghcr.io", wantErr: "must name a registry host and a chart repository"},
		"empty repository":     {in: "oci://ghcr.io/:1.0.0", wantErr: "must name a chart repository after the registry host"},
		"no host":              {in: "oci:///app:1.0.0", wantErr: "must name a registry host"},
		"no version or digest": {in: "oci://ghcr.io/org/app", wantErr: "must pin a version or a digest: add :VERSION (for example oci://ghcr.io/org/app:1.2.3)"},
		"empty version":        {in: "oci://ghcr.io/org/app:", wantErr: "has an empty version after ':'"},
		"upper-case repo":      {in: "oci://ghcr.io/Org/App:1.0.0", wantErr: `has an invalid repository path "Org/App"`},
		"bad tag characters":   {in: "oci://ghcr.io/org/app:1.0.0~1", wantErr: `has an invalid version "1.0.0~1"`},
		"tag too long":         {in: "oci://ghcr.io/org/app:" + strings.Repeat("1", 129), wantErr: "has an invalid version"},
		"short digest":         {in: "oci://ghcr.io/org/app@sha256:abc", wantErr: `has an invalid digest "sha256:abc"`},
		"sha512 digest":        {in: "oci://ghcr.io/org/app@sha512:" + hex64 + hex64, wantErr: "expected sha256: followed by 64 lowercase hex characters"},
		"upper-case digest":    {in: "oci://ghcr.io/org/app@sha256:" + strings.ToUpper(hex64), wantErr: "has an invalid digest"},
		"whitespace":           {in: " oci://ghcr.io/org/app:1.0.0", wantErr: "must not contain whitespace"},
		"inner whitespace":     {in: "oci://ghcr.io/org/app:1.0 .0", wantErr: "must not contain whitespace"},
		"query":                {in: "oci://ghcr.io/org/app:1.0.0?x=1", wantErr: "must not contain a query or fragment"},
		"credentials in host":  {in: "oci://user:pass@ghcr.io/org/app:1.0.0", wantErr: "must not carry credentials"},
		"bad port":             {in: "oci://ghcr.io:abc/org/app:1.0.0", wantErr: `has an invalid registry host "ghcr.io:abc"`},
		"double slash":         {in: "oci://ghcr.io/org//app:1.0.0", wantErr: "has an invalid repository path"},
		"shell in host":        {in: "oci://x';touch$IFS'PWNED';'/charts/app:1.0.0", wantErr: `has an invalid registry host "x';touch$IFS'PWNED';'": expected a DNS name`},
		"non-ASCII host":       {in: "oci://registry.gİtlab.com/charts/app:1.0.0", wantErr: `has an invalid registry host "registry.g\u0130tlab.com"`},
		"escape in host":       {in: "oci://r\x1b[31m.io/charts/app:1.0.0", wantErr: `has an invalid registry host`},
		"unbracketed ipv6":     {in: "oci://::1/charts/app:1.0.0", wantErr: "must be in brackets"},
		"trailing slash":       {in: "oci://ghcr.io/org/app/:1.0.0", wantErr: "has an invalid repository path"},
		"backslash":            {in: `oci://ghcr.io/org\app:1.0.0`, wantErr: "must not contain a backslash"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want an error containing %q", tc.in, got, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) error = %q, want it to contain %q", tc.in, err, tc.wantErr)
				}
				if !IsError(err) {
					t.Errorf("error %T is not a reference error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.in {
				t.Errorf("String() = %q, want the input back", s)
			}
		})
	}
}

func TestReferenceForms(t *testing.T) {
	r, err := Parse("oci://ghcr.io/org/app:1.2.3+build.7@sha256:" + hex64)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ got, want string }{
		"Tag":     {r.Tag(), "1.2.3_build.7"},
		"Repo":    {r.Repo(), "ghcr.io/org/app"},
		"TagRef":  {r.TagRef(), "ghcr.io/org/app:1.2.3_build.7"},
		"PullRef": {r.PullRef(), "ghcr.io/org/app@sha256:" + hex64},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", name, tc.got, tc.want)
		}
	}
	noDigest, _ := Parse("oci://ghcr.io/org/app:1.2.3+b")
	if got := noDigest.PullRef(); got != "ghcr.io/org/app:1.2.3_b" {
		t.Errorf("PullRef without digest = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"oci://ghcr.io/org/app:1.2.3",
		"oci://127.0.0.1:5000/charts/app:1.0.0+b@sha256:" + hex64,
		"oci://[::1]/a@sha256:" + hex64,
		"oci://h/a:",
		"oci://",
		"https://x/y:1",
		"oci://x';touch$IFS'PWNED';'/charts/app:1.0.0",
		"oci://registry.gİtlab.com/charts/app:1.0.0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !IsError(err) {
				t.Fatalf("Parse(%q) returned a %T", s, err)
			}
			return
		}
		if r.Chart == "" || r.Registry.IsZero() || (r.Version == "" && r.Digest == "") {
			t.Fatalf("Parse(%q) accepted an incomplete reference %+v", s, r)
		}
		if again, err := place.ParseHost(r.Registry.String()); err != nil || again != r.Registry {
			t.Fatalf("Parse(%q) accepted the host %q: %v", s, r.Registry, err)
		}
		for _, c := range r.String() {
			if c < 0x21 || c > 0x7e || strings.ContainsRune("'\"$;()&<>|`\\", c) {
				t.Fatalf("Parse(%q) accepted %q", s, c)
			}
		}
		again, err := Parse(r.String())
		if err != nil || again != r {
			t.Fatalf("round trip of %q: %+v, %v", s, again, err)
		}
	})
}

func h(s string) place.Host {
	got, err := place.ParseHost(s)
	if err != nil {
		panic(err)
	}
	return got
}
