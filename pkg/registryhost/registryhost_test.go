package registryhost

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidate(t *testing.T) {
	for _, ok := range []string{
		"registry.example.com", "127.0.0.1:5000", "[::1]", "[::1]:5000", "localhost", "a", "ghcr.io",
		"Registry.Example.COM", "x-y.z", "1.2.3.4", "r:65535",
	} {
		if err := Validate(ok); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", ok, err)
		}
	}
	for in, why := range map[string]string{
		"":                            "it is empty",
		"x';touch$IFS'PWNED';'":       expected,
		"registry.gİtlab.com":         expected,
		"registry.xn--gitlab-qyd.com": "",
		"a b":                         expected,
		"a\x1b[31m":                   expected,
		"a..b":                        "an empty label",
		".a":                          "an empty label",
		"a.":                          "an empty label",
		"-a.b":                        "must not start or end with '-'",
		"a:":                          "an empty port",
		"a:0":                         "the port must be",
		"a:65536":                     "the port must be",
		"a:+80":                       "the port must be",
		"a:8o":                        "the port must be",
		"::1":                         "must be in brackets",
		"[::1":                        "without ']'",
		"[1.2.3.4]":                   "not an IPv6 address",
		"[::1]x":                      expected,
		":5000":                       "names no host",
		"a_b":                         expected,
		"a/b":                         expected,
		"a@b":                         expected,
		strings.Repeat("a", 64):       "at most 63",
	} {
		err := Validate(in)
		if why == "" {
			if err != nil {
				t.Errorf("Validate(%q) = %v, want nil", in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("Validate(%q) = %v, want an error containing %q", in, err, why)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"Registry.Example.com":          "registry.example.com",
		"https://registry.example.com/": "registry.example.com",
		"https://index.docker.io/v1/":   "docker.io",
		"registry-1.docker.io":          "docker.io",
		"docker.io:443":                 "docker.io",
		"r.io:443":                      "r.io",
		"r.io:5000":                     "r.io:5000",
		"http://127.0.0.1:5000":         "127.0.0.1:5000",
		" r.io ":                        "r.io",
		"[::1]:5000":                    "[::1]:5000",
		"[::1]":                         "[::1]",
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ftp://r.io", "https://u:p@r.io", "registry.gİtlab.com", "x';touch$IFS'y", "https://", "r.io:abc"} {
		if got, err := Normalize(bad); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", bad, got)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for h, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost": true, "LOCALHOST:1": true, "[::1]:80": true, "::1": true,
		"10.0.0.1": false, "registry.example.com": false, "127.0.0.1.nip.io": false,
	} {
		if got := IsLoopback(h); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", h, got, want)
		}
	}
}

// FuzzNormalize: whatever is accepted is printable ASCII without shell
// metacharacters, is stable under normalizing again, and validates.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"r.io", "https://index.docker.io/v1/", "[::1]:5000", "x';touch$IFS'y';'", "registry.gİtlab.com", "a:0", "A.B:443", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Normalize(s)
		if err != nil {
			if !utf8.ValidString(err.Error()) || strings.ContainsAny(err.Error(), "\n\r\x1b") {
				t.Fatalf("unprintable error for %q: %q", s, err.Error())
			}
			return
		}
		checkSafe(t, got)
		again, err := Normalize(got)
		if err != nil || again != got {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", s, got, got, again, err)
		}
		if err := Validate(got); err != nil {
			t.Fatalf("Normalize(%q) = %q, which does not validate: %v", s, got, err)
		}
		if strings.ToLower(got) != got {
			t.Fatalf("Normalize(%q) = %q is not lower case", s, got)
		}
	})
}

// FuzzValidate: a valid host is printable ASCII with nothing a shell, a URL or
// a path would read specially.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"r.io", "127.0.0.1:5000", "[::1]:5000", "a b", "a\x00", "[::ffff:1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Validate(s) != nil {
			return
		}
		checkSafe(t, s)
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
