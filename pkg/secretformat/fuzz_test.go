package secretformat

import (
	"encoding/json"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/pkg/clierror"
)

// mark is appended to every credential value the fuzzers make; it must never
// show up in an error.
const mark = "-SECRET-MARK"

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error() + clierror.Hint(err)
	if strings.Contains(msg, mark) {
		t.Fatalf("error shows a value: %s", msg)
	}
	if c := clierror.ExitCode(err); c != clierror.CodeInvalid {
		t.Fatalf("exit code %d for %v, want 2", c, err)
	}
}

// FuzzDecodeKeys: plain keys. Beyond not leaking, the error must not depend
// on the values at all, only on which keys are there and whether they are empty.
func FuzzDecodeKeys(f *testing.F) {
	f.Add("u", "p", "", "", "", true, true, false, false, false)
	f.Add("", "", "t", "", "", false, false, true, false, false)
	f.Add("u", "", "t", "", "r.io,q.io:5000", true, false, true, false, true)
	f.Add("", "", "", "id", "", false, false, false, true, false)
	f.Fuzz(func(t *testing.T, user, pass, token, identity, registry string, hasUser, hasPass, hasToken, hasIdentity, hasRegistry bool) {
		data := map[string]string{}
		set := func(ok bool, k, v string) {
			if ok {
				data[k] = v
			}
		}
		set(hasUser, "username", user)
		set(hasPass, "password", pass)
		set(hasToken, "token", token)
		set(hasIdentity, "identitytoken", identity)
		set(hasRegistry, "registry", registry)
		d, err := Decode(secret("ns", "n", data), mustHost("r.io"))
		if err != nil {
			checkDecodeError(t, err)
			blank := map[string]string{}
			for k, v := range data {
				blank[k] = ""
				if v != "" {
					blank[k] = "x"
				}
			}
			if k, ok := blank["registry"]; ok && k != "" {
				blank["registry"] = data["registry"] // hosts are not secret and decide validity
			}
			_, want := Decode(secret("ns", "n", blank), mustHost("r.io"))
			if want == nil || err.Error() != want.Error() {
				t.Fatalf("error depends on the values: %v vs %v", err, want)
			}
			return
		}
		if d.Credential == auth.EmptyCredential {
			t.Fatalf("accepted %v as an empty credential", keysOf(data))
		}
	})
}

func keysOf(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func fuzzDockerConfig(f *testing.F, key string, wrapped bool, typ string) {
	f.Add("registry.example.com", "robot", "pw", "", "", "")
	f.Add("https://index.docker.io/v1/", "", "", "cm9ib3Q6cHc=", "", "")
	f.Add("registry.example.com:5000", "", "", "", "id", "")
	f.Add("registry.example.com", "", "", "", "", "tok")
	f.Add("registry.example.com", "", "", "%%%", "", "")
	f.Fuzz(func(t *testing.T, entry, user, pass, authField, identity, registryToken string) {
		entry = strings.ReplaceAll(entry, mark, "")
		withMark := func(s string) string {
			if s == "" {
				return ""
			}
			return s + mark
		}
		e := map[string]string{"username": user, "password": withMark(pass), "identitytoken": withMark(identity), "registrytoken": withMark(registryToken), "auth": authField}
		entries := map[string]map[string]string{entry: e}
		var raw []byte
		var err error
		if wrapped {
			raw, err = json.Marshal(map[string]any{"auths": entries})
		} else {
			raw, err = json.Marshal(entries)
		}
		if err != nil {
			return
		}
		s := secret("ns", "n", nil)
		s.Type = typ
		s.Data[key] = raw
		d, err := Decode(s, mustHost("registry.example.com"))
		checkDecodeError(t, err)
		if err == nil && d.Credential == auth.EmptyCredential {
			t.Fatalf("accepted an empty credential from %q", raw)
		}
	})
}

func FuzzDecodeDockerConfigJSON(f *testing.F) {
	fuzzDockerConfig(f, KeyDockerConfigJSON, true, TypeDockerConfigJSON)
}

func FuzzDecodeDockerCfg(f *testing.F) {
	fuzzDockerConfig(f, KeyDockerCfg, false, TypeDockerCfg)
}

// FuzzDecodeRawDockerConfig feeds arbitrary bytes as .dockerconfigjson.
func FuzzDecodeRawDockerConfig(f *testing.F) {
	f.Add([]byte(`{"auths":{"registry.example.com":{"auth":"cm9ib3Q6cHc="}}}`))
	f.Add([]byte(`{"auths":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := secret("ns", "n", nil)
		s.Type = TypeDockerConfigJSON
		s.Data[KeyDockerConfigJSON] = raw
		_, err := Decode(s, mustHost("registry.example.com"))
		if err != nil && clierror.ExitCode(err) != clierror.CodeInvalid {
			t.Fatalf("exit code %d for %v", clierror.ExitCode(err), err)
		}
	})
}

// FuzzDecodeTLS feeds arbitrary ca.crt, tls.crt and tls.key.
func FuzzDecodeTLS(f *testing.F) {
	cert, key := certPair(f)
	f.Add([]byte(cert), []byte(cert), []byte(key), true, true, true)
	f.Add([]byte("x"), []byte(cert), []byte(""), true, true, false)
	f.Fuzz(func(t *testing.T, ca, crt, k []byte, hasCA, hasCrt, hasKey bool) {
		s := secret("ns", "n", map[string]string{"username": "u", "password": "p" + mark})
		if hasCA {
			s.Data["ca.crt"] = ca
		}
		if hasCrt {
			s.Data["tls.crt"] = crt
		}
		if hasKey {
			s.Data["tls.key"] = k
		}
		_, err := Decode(s, mustHost("r.io"))
		checkDecodeError(t, err)
		if err != nil && len(k) > 8 && strings.Contains(err.Error(), string(k)) {
			t.Fatalf("error shows the key: %v", err)
		}
	})
}

func FuzzParseHostString(f *testing.F) {
	for _, s := range []string{"registry.example.com", "https://index.docker.io/v1/", "[::1]:5000", "h:443", "a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHostString(s)
		if err != nil {
			return
		}
		again, err := parseHostString(h)
		if err != nil || again != h {
			t.Fatalf("NormalizeHost is not idempotent: %q -> %q -> %q (%v)", s, h, again, err)
		}
	})
}
