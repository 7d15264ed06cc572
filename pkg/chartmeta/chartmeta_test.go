package chartmeta

import (
	"strings"
	"testing"
	"unicode"
)

func TestFromConfig(t *testing.T) {
	for config, want := range map[string]string{
		`{"apiVersion":"v2","name":"app","version":"1.2.3"}`:          "",
		`{"name":"app","version":"1.0.0+build.7"}`:                    "",
		`{"apiVersion":"v2","name":"../../etc","version":"1.2.3"}`:    "not a valid chart name",
		`{"apiVersion":"v2","name":"a\nb","version":"1.2.3"}`:         "not a valid chart name",
		`{"apiVersion":"v2","name":"app","version":"1.2.3\u001b[2J"}`: "not a SemVer version",
		`{"apiVersion":"v2","name":"app","version":"latest"}`:         "not a SemVer version",
		`{"apiVersion":"v2","name":"app"}`:                            "metadata is invalid",
		`[1,2]`:                                                       "not a chart's metadata",
		`{"apiVersion":"v2","name":"app\tx","version":"1.2.3"}`:       "not a valid chart name",
	} {
		m, err := FromConfig([]byte(config))
		if want == "" {
			if err != nil || m.Name == "" {
				t.Errorf("FromConfig(%s) = %+v, %v", config, m, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("FromConfig(%s) = %+v, %v; want %q", config, m, err, want)
		}
	}
}

// FuzzFromConfig: accepted metadata makes a file name with no path and no
// control characters; an error never holds a raw control character.
func FuzzFromConfig(f *testing.F) {
	for _, s := range []string{`{"apiVersion":"v2","name":"app","version":"1.2.3"}`, `{"name":"a/b","version":"1"}`, `{`, `{"name":"\u202eapp","version":"1.0.0"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, config []byte) {
		m, err := FromConfig(config)
		if err != nil {
			for _, r := range err.Error() {
				if unicode.IsControl(r) {
					t.Fatalf("error holds a control character: %q", err.Error())
				}
			}
			return
		}
		name := m.FileName()
		if strings.ContainsAny(name, "/\\") || name == ".." || strings.HasPrefix(name, ".") {
			t.Fatalf("accepted a file name %q", name)
		}
		for _, r := range name {
			if unicode.IsControl(r) || !unicode.IsPrint(r) {
				t.Fatalf("accepted a file name with %U: %q", r, name)
			}
		}
	})
}
