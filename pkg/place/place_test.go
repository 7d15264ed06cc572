package place

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ocisrc/ocisrc/internal/dialkey"
)

func TestParseHostCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"registry.example.com":      "registry.example.com",
		"Registry.Example.COM":      "registry.example.com",
		"registry.example.com:443":  "registry.example.com",
		"registry.example.com:0443": "registry.example.com",
		"127.0.0.1:5000":            "127.0.0.1:5000",
		"127.0.0.1:05000":           "127.0.0.1:5000",
		"127.0.0.1:0000005000":      "127.0.0.1:5000",
		"docker.io":                 "docker.io",
		"index.docker.io":           "docker.io",
		"registry-1.docker.io":      "docker.io",
		"REGISTRY-1.DOCKER.IO:443":  "docker.io",
		"registry.hub.docker.com":   "docker.io",
		"docker.io:5000":            "docker.io:5000",
		"[::1]":                     "[::1]",
		"[0:0:0::1]:5000":           "[::1]:5000",
		"[2001:DB8::1]":             "[2001:db8::1]",
		"localhost":                 "localhost",
		"x-y.z":                     "x-y.z",
		"r:65535":                   "r:65535",
		"1.2.3.4":                   "1.2.3.4",
	} {
		h, err := ParseHost(in)
		if err != nil || h.String() != want {
			t.Errorf("ParseHost(%q) = %q, %v; want %q", in, h, err, want)
		}
	}
}

func TestParseHostRefused(t *testing.T) {
	for in, why := range map[string]string{
		"":                            "it is empty",
		"x';touch$IFS'PWNED';'":       expected,
		"registry.gİtlab.com":         expected,
		"a b":                         expected,
		"a\x1b[31m":                   expected,
		"a..b":                        "an empty label",
		".a":                          "an empty label",
		"a.":                          "an empty label",
		"-a.b":                        "must not start or end with '-'",
		"a:":                          "an empty port",
		"a:0":                         "the port must be",
		"a:00":                        "the port must be",
		"a:65536":                     "the port must be",
		"a:065536":                    "the port must be",
		"a:+80":                       "the port must be",
		"a:8o":                        "the port must be",
		"::1":                         "must be in brackets",
		"[::1":                        "without ']'",
		"[1.2.3.4]":                   "not an IPv6 address",
		"[::ffff:127.0.0.1]":          "IPv4-mapped",
		"[fe80::1%eth0]":              "not an IPv6 address",
		"[::1]x":                      expected,
		"[::1]:":                      "an empty port",
		":5000":                       "names no host",
		"a_b":                         expected,
		"a/b":                         expected,
		"a@b":                         expected,
		"127.1":                       "dotted-decimal",
		"127.000.000.001":             "dotted-decimal",
		"0177.0.0.1":                  "dotted-decimal",
		"2130706433":                  "dotted-decimal",
		"0x7f.0.0.1":                  "dotted-decimal",
		"a.0x7f":                      "dotted-decimal",
		"1.2.3.4.5":                   "dotted-decimal",
		strings.Repeat("a", 64):       "at most 63",
		"registry.xn--gitlab-qyd.com": "",
	} {
		h, err := ParseHost(in)
		if why == "" {
			if err != nil {
				t.Errorf("ParseHost(%q) = %v, want it accepted", in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseHost(%q) = %q, %v; want an error containing %q", in, h, err, why)
		}
	}
}

func TestParseServer(t *testing.T) {
	for in, want := range map[string]string{
		"https://registry.example.com/": "registry.example.com",
		"https://index.docker.io/v1/":   "docker.io",
		"http://127.0.0.1:5000":         "127.0.0.1:5000",
		" r.io ":                        "r.io",
		"r.io:443":                      "r.io",
	} {
		h, err := ParseServer(in)
		if err != nil || h.String() != want {
			t.Errorf("ParseServer(%q) = %q, %v; want %q", in, h, err, want)
		}
	}
	for _, bad := range []string{"", "ftp://r.io", "https://u:p@r.io", "https://", "r.io:abc"} {
		if h, err := ParseServer(bad); err == nil {
			t.Errorf("ParseServer(%q) = %q, want an error", bad, h)
		}
	}
}

func TestDial(t *testing.T) {
	for in, want := range map[string]string{
		"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io",
		"docker.io:5000": "docker.io:5000", "r.io:443": "r.io", "r.io:8443": "r.io:8443",
	} {
		h, err := ParseHost(in)
		if err != nil || h.Dial() != want {
			t.Errorf("ParseHost(%q).Dial() = %q, %v; want %q", in, h.Dial(), err, want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for h, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost": true, "LOCALHOST:1": true, "[::1]:80": true, "127.9.9.9": true,
		"10.0.0.1": false, "registry.example.com": false, "127.0.0.1.nip.io": false,
	} {
		if got := IsLoopbackAddress(h); got != want {
			t.Errorf("IsLoopbackAddress(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestPlace(t *testing.T) {
	for in, want := range map[string]string{
		"Registry.Example.com:443/charts/": "registry.example.com/charts",
		"127.0.0.1:05000":                  "127.0.0.1:5000",
		"index.docker.io/bitnamicharts":    "docker.io/bitnamicharts",
		"r.io/a/b__c/d-e/f.g":              "r.io/a/b__c/d-e/f.g",
	} {
		p, err := ParsePlace(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePlace(%q) = %q, %v; want %q", in, p, err, want)
		}
	}
	for in, why := range map[string]string{
		"":                   "is empty",
		"https://r.io/x":     "must not have a scheme",
		"r.io/Charts":        "invalid path",
		"r.io/a//b":          "invalid path",
		"r.io/a:1.0":         "invalid path",
		"r.io/a@sha256:00":   "invalid path",
		"r.io/-a":            "invalid path",
		"r.io/a_-b":          "invalid path",
		"r.io/a___b":         "invalid path",
		"127.1/charts":       "dotted-decimal",
		"r.io:0/charts":      "the port must be",
		"r\x1b.io/charts":    expected,
		"r.io/charts\n/x":    "invalid path",
		"r.io/../../etc":     "invalid path",
		"r.io/charts/%2e%2e": "invalid path",
	} {
		p, err := ParsePlace(in)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParsePlace(%q) = %q, %v; want an error containing %q", in, p, err, why)
		}
	}
}

func TestContainsAndRebase(t *testing.T) {
	must := func(s string) Place {
		p, err := ParsePlace(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		prefix, repo string
		want         bool
	}{
		{"r.io/charts", "r.io/charts/app", true},
		{"r.io/charts", "r.io/charts", true},
		{"r.io/charts", "r.io/charts-old/app", false},
		{"r.io", "r.io/charts/app", true},
		{"r.io:443", "R.IO/charts/app", true},
		{"registry-1.docker.io", "docker.io/charts/app", true},
		{"127.0.0.1:5000/x", "127.0.0.1:05000/x/app", true},
		{"r.io:5000", "r.io/charts/app", false},
	} {
		if got := must(c.prefix).Contains(must(c.repo)); got != c.want {
			t.Errorf("%q.Contains(%q) = %v, want %v", c.prefix, c.repo, got, c.want)
		}
	}
	got, ok := must("r.io/charts/app").Rebase(must("r.io/charts"), must("mirror.internal/ext"))
	if !ok || got.String() != "mirror.internal/ext/app" {
		t.Errorf("Rebase = %q, %v", got, ok)
	}
	got, ok = must("r.io/charts/app").Rebase(must("r.io"), must("mirror.internal"))
	if !ok || got.String() != "mirror.internal/charts/app" {
		t.Errorf("Rebase = %q, %v", got, ok)
	}
	if _, ok := must("r.io/charts").Rebase(must("r.io/charts"), must("mirror.internal")); ok {
		t.Error("Rebase of the prefix itself onto a bare host names no repository, want !ok")
	}
	if _, ok := must("q.io/charts/app").Rebase(must("r.io"), must("mirror.internal")); ok {
		t.Error("Rebase of a place not under the prefix, want !ok")
	}
}

func TestTextRoundTrip(t *testing.T) {
	var rec struct {
		Place Place `json:"place"`
		Host  Host  `json:"host"`
	}
	if err := json.Unmarshal([]byte(`{"place":"r.io:5000/charts/app","host":"docker.io"}`), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Place.String() != "r.io:5000/charts/app" || rec.Host.String() != "docker.io" {
		t.Fatalf("decoded %+v", rec)
	}
	for _, bad := range []string{
		`{"place":"R.io/charts"}`, `{"place":"r.io:443/charts"}`, `{"place":"../../etc"}`,
		`{"host":"index.docker.io"}`, `{"host":"r.io:05000"}`, `{"place":"r.io/a\u001b[2J"}`,
	} {
		if err := json.Unmarshal([]byte(bad), &rec); err == nil {
			t.Errorf("decoding %s: want an error for a record not in canonical form", bad)
		}
	}
}

// FuzzParseHost: what is accepted is printable ASCII without shell or URL
// metacharacters, is stable under parsing again, and two accepted spellings
// are the same Host exactly when a dialler reaches the same host and port.
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{
		"r.io", "R.IO:443", "127.0.0.1:05000", "[::1]:5000", "[0::1]:5000", "index.docker.io", "registry-1.docker.io",
		"x';touch$IFS'y';'", "registry.gİtlab.com", "a:0", ":", "127.1", "2130706433",
	} {
		f.Add(s, "r.io")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ha, err := ParseHost(a)
		if err != nil {
			if !utf8.ValidString(err.Error()) || strings.ContainsAny(err.Error(), "\n\r\x1b") {
				t.Fatalf("unprintable error for %q: %q", a, err.Error())
			}
			return
		}
		checkSafe(t, ha.String())
		again, err := ParseHost(ha.String())
		if err != nil || again != ha {
			t.Fatalf("ParseHost(%q) = %q, but ParseHost(%q) = %q, %v", a, ha, ha, again, err)
		}
		if strings.ToLower(ha.String()) != ha.String() {
			t.Fatalf("ParseHost(%q) = %q is not lower case", a, ha)
		}
		hb, err := ParseHost(b)
		if err != nil {
			return
		}
		ka, okA := dialkey.Of(a)
		kb, okB := dialkey.Of(b)
		if !okA || !okB {
			t.Fatalf("accepted %q and %q, but a URL parser reads them as %v, %v", a, b, okA, okB)
		}
		if (ha == hb) != (ka == kb) {
			t.Fatalf("ParseHost(%q) = %q and ParseHost(%q) = %q, but they dial %q and %q", a, ha, b, hb, ka, kb)
		}
		if kd, _ := dialkey.Of(ha.Dial()); kd != ka {
			t.Fatalf("%q dials %q, its canonical form %q dials %q", a, ka, ha.Dial(), kd)
		}
	})
}

// FuzzParsePlace: an accepted place is canonical, safe to print and to use
// in a path, and Contains agrees with its segments.
func FuzzParsePlace(f *testing.F) {
	for _, s := range []string{"r.io/charts", "R.IO:443/charts/", "r.io/a/../b", "r.io/a%2f", "127.0.0.1:5000/x/y"} {
		f.Add(s, "r.io/charts/app")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		pa, err := ParsePlace(a)
		if err != nil {
			return
		}
		checkSafe(t, strings.ReplaceAll(pa.String(), "/", ""))
		if strings.Contains(pa.Path(), "..") || strings.HasPrefix(pa.Path(), "/") {
			t.Fatalf("ParsePlace(%q) has path %q", a, pa.Path())
		}
		again, err := ParsePlace(pa.String())
		if err != nil || again != pa {
			t.Fatalf("ParsePlace(%q) = %q, then %q, %v", a, pa, again, err)
		}
		pb, err := ParsePlace(b)
		if err != nil {
			return
		}
		segsA, segsB := strings.Split(pa.String(), "/"), strings.Split(pb.String(), "/")
		under := len(segsB) >= len(segsA)
		for i := 0; under && i < len(segsA); i++ {
			under = segsA[i] == segsB[i]
		}
		if pa.Contains(pb) != under {
			t.Fatalf("%q.Contains(%q) = %v, segments say %v", pa, pb, pa.Contains(pb), under)
		}
	})
}

func checkSafe(t *testing.T, s string) {
	t.Helper()
	for _, c := range s {
		if c > 0x7e || c < 0x21 || strings.ContainsRune("'\"$;()&<>|`\\/@?#%*!{}=,~^ ", c) {
			t.Fatalf("accepted %q, which has %q", s, c)
		}
	}
}
