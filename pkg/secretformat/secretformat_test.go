package secretformat

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/place"
)

const (
	secretValue = "s3cr3t-value-never-shown"
	host        = "registry.example.com"
)

func secret(ns, name string, data map[string]string) Secret {
	s := Secret{Name: ns + "/" + name, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func typed(t, key, value string) Secret {
	s := secret("ns", "creds", map[string]string{key: value})
	s.Type = t
	return s
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// certPair makes a self-signed PEM certificate and key.
func certPair(t testing.TB) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

func TestDecodeKeys(t *testing.T) {
	for name, tc := range map[string]struct {
		data     map[string]string
		want     auth.Credential
		kind     Kind
		hosts    []string
		wantErr  string
		wantKeys string
	}{
		"username and password": {
			data: map[string]string{"username": "robot", "password": secretValue},
			want: auth.Credential{Username: "robot", Password: secretValue}, kind: KindBasic,
		},
		"token alone is a registry token": {
			data: map[string]string{"token": secretValue},
			want: auth.Credential{AccessToken: secretValue}, kind: KindBearer,
		},
		"username and token use the token as the password": {
			data: map[string]string{"username": "robot", "token": secretValue},
			want: auth.Credential{Username: "robot", Password: secretValue}, kind: KindTokenAsBasic,
		},
		"identitytoken alone": {
			data: map[string]string{"identitytoken": secretValue},
			want: auth.Credential{RefreshToken: secretValue}, kind: KindIdentityToken,
		},
		"identitytoken with username": {
			data: map[string]string{"username": "robot", "identitytoken": secretValue},
			want: auth.Credential{Username: "robot", RefreshToken: secretValue}, kind: KindIdentityToken,
		},
		"bound to one host": {
			data: map[string]string{"username": "robot", "password": secretValue, "registry": "Registry.Example.com"},
			want: auth.Credential{Username: "robot", Password: secretValue}, kind: KindBasic, hosts: []string{host},
		},
		"bound to a list": {
			data: map[string]string{"token": secretValue, "registry": " https://r1.io/ ,r2.io:5000,"},
			want: auth.Credential{AccessToken: secretValue}, kind: KindBearer, hosts: []string{"r1.io", "r2.io:5000"},
		},
		"other keys are ignored": {
			data: map[string]string{"username": "robot", "password": secretValue, "note": "x"},
			want: auth.Credential{Username: "robot", Password: secretValue}, kind: KindBasic,
		},
		"password and token": {
			data:    map[string]string{"username": "robot", "password": secretValue, "token": secretValue},
			wantErr: "password, token and identitytoken exclude each other", wantKeys: "keys present: password, token, username",
		},
		"token and identitytoken": {
			data:    map[string]string{"token": secretValue, "identitytoken": secretValue},
			wantErr: "exclude each other", wantKeys: "keys present: identitytoken, token",
		},
		"username alone": {
			data:    map[string]string{"username": "robot"},
			wantErr: "username needs a password, a token or an identitytoken", wantKeys: "keys present: username",
		},
		"password alone": {
			data:    map[string]string{"password": secretValue},
			wantErr: "password needs a username", wantKeys: "keys present: password",
		},
		"no keys":        {data: map[string]string{}, wantErr: "no registry credential found", wantKeys: "keys present: none"},
		"unrelated keys": {data: map[string]string{"apikey": secretValue}, wantErr: "no registry credential found", wantKeys: "keys present: apikey"},
		"empty password": {data: map[string]string{"username": "robot", "password": ""}, wantErr: `has an empty "password" key`},
		"empty token":    {data: map[string]string{"token": ""}, wantErr: `has an empty "token" key`},
		"empty registry": {data: map[string]string{"token": secretValue, "registry": ""}, wantErr: `has an empty "registry" key`},
		"bad registry":   {data: map[string]string{"token": secretValue, "registry": "user@host"}, wantErr: `has an invalid "registry" key`},
		"only commas":    {data: map[string]string{"token": secretValue, "registry": ", ,"}, wantErr: "it names no host"},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := Decode(secret("ns", "creds", tc.data), mustHost(host))
			if tc.wantErr != "" {
				assertInvalid(t, err, tc.wantErr, tc.wantKeys, `secret "ns/creds"`)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Credential != tc.want || d.Kind != tc.kind || HostList(d.Hosts) != strings.Join(tc.hosts, ", ") {
				t.Errorf("got %+v %s %v, want %+v %s %v", d.Credential, d.Kind, d.Hosts, tc.want, tc.kind, tc.hosts)
			}
		})
	}
}

func assertInvalid(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q", want)
	}
	msg := err.Error() + " " + clierror.Hint(err)
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	if strings.Contains(msg, secretValue) || strings.Contains(msg, "robot") || strings.Contains(msg, b64("robot:"+secretValue)) {
		t.Errorf("error shows a value: %q", msg)
	}
	if clierror.ExitCode(err) != clierror.CodeInvalid {
		t.Errorf("exit code %d, want 2", clierror.ExitCode(err))
	}
}

func TestDecodeDockerConfig(t *testing.T) {
	auths := func(entries string) string { return `{"auths":{` + entries + `}}` }
	basic := `{"auth":"` + b64("robot:"+secretValue) + `"}`
	for name, tc := range map[string]struct {
		secret  Secret
		host    string
		want    auth.Credential
		kind    Kind
		hosts   string
		wantErr string
	}{
		"auth field": {
			secret: typed(TypeDockerConfigJSON, ".dockerconfigjson", auths(`"registry.example.com":`+basic)),
			want:   auth.Credential{Username: "robot", Password: secretValue}, kind: KindBasic, hosts: host,
		},
		"username and password fields": {
			secret: typed(TypeDockerConfigJSON, ".dockerconfigjson", auths(`"registry.example.com":{"username":"robot","password":"`+secretValue+`"}`)),
			want:   auth.Credential{Username: "robot", Password: secretValue}, kind: KindBasic,
		},
		"identitytoken": {
			secret: typed(TypeDockerConfigJSON, ".dockerconfigjson", auths(`"registry.example.com":{"auth":"`+b64("robot:")+`","identitytoken":"`+secretValue+`"}`)),
			want:   auth.Credential{Username: "robot", RefreshToken: secretValue}, kind: KindIdentityToken,
		},
		"registrytoken": {
			secret: typed(TypeDockerConfigJSON, ".dockerconfigjson", auths(`"registry.example.com":{"registrytoken":"`+secretValue+`"}`)),
			want:   auth.Credential{AccessToken: secretValue}, kind: KindBearer,
		},
		"https key with path": {
			secret: typed(TypeDockerConfigJSON, ".dockerconfigjson", auths(`"https://registry.example.com/v2/":`+basic)),
			want:   auth.Credential{Username: "robot", Password: secretValue}, kind: KindBasic,
		},
		"host with port": {
			secret: typed(TypeDockerConfigJSON, ".dockerconfigjson", auths(`"registry.example.com":{"auth":"`+b64("other:x")+`"},"registry.example.com:5000":`+basic)),
			host:   "registry.example.com:5000",
			want:   auth.Credential{Username: "robot", Password: secretValue}, kind: KindBasic, hosts: "registry.example.com,registry.example.com:5000",
		},
		"docker hub alias": {
			secret: typed(TypeDockerConfigJSON, ".dockerconfigjson", auths(`"https://index.docker.io/v1/":`+basic)),
			host:   "registry-1.docker.io",
			want:   auth.Credential{Username: "robot", Password: secretValue}, kind: KindBasic, hosts: "docker.io",
		},
		"key without the type": {
			secret: secret("ns", "creds", map[string]string{".dockerconfigjson": auths(`"registry.example.com":` + basic)}),
			want:   auth.Credential{Username: "robot", Password: secretValue}, kind: KindBasic,
		},
		"legacy dockercfg": {
			secret: typed(TypeDockerCfg, ".dockercfg", `{"registry.example.com":`+basic+`}`),
			want:   auth.Credential{Username: "robot", Password: secretValue}, kind: KindBasic,
		},
		"no entry for the host": {
			secret:  typed(TypeDockerConfigJSON, ".dockerconfigjson", auths(`"ghcr.io":`+basic+`,"quay.io":`+basic)),
			wantErr: `has no credentials for the registry registry.example.com (its ".dockerconfigjson" has entries for: ghcr.io, quay.io)`,
		},
		"not JSON": {
			secret:  typed(TypeDockerConfigJSON, ".dockerconfigjson", "{"),
			wantErr: `the ".dockerconfigjson" key is not a docker config`,
		},
		"missing key": {
			secret:  typed(TypeDockerConfigJSON, "other", "x"),
			wantErr: `the ".dockerconfigjson" key is missing`,
		},
		"auth not base64": {
			secret:  typed(TypeDockerConfigJSON, ".dockerconfigjson", auths(`"registry.example.com":{"auth":"%%%"}`)),
			wantErr: `has an "auth" field that is not valid base64`,
		},
		"auth without colon": {
			secret:  typed(TypeDockerConfigJSON, ".dockerconfigjson", auths(`"registry.example.com":{"auth":"`+b64("robot")+`"}`)),
			wantErr: "does not decode to username:password",
		},
		"empty entry": {
			secret:  typed(TypeDockerConfigJSON, ".dockerconfigjson", auths(`"registry.example.com":{}`)),
			wantErr: "has no credential: expected auth, username and password, identitytoken or registrytoken",
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := tc.host
			if h == "" {
				h = host
			}
			d, err := Decode(tc.secret, mustHost(h))
			if tc.wantErr != "" {
				assertInvalid(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Credential != tc.want || d.Kind != tc.kind {
				t.Errorf("got %+v %s, want %+v %s", d.Credential, d.Kind, tc.want, tc.kind)
			}
			if tc.hosts != "" && strings.ReplaceAll(HostList(d.Hosts), " ", "") != tc.hosts {
				t.Errorf("hosts = %v, want %s", d.Hosts, tc.hosts)
			}
		})
	}
}

func TestDecodeTLS(t *testing.T) {
	cert, key := certPair(t)
	otherCert, _ := certPair(t)
	creds := map[string]string{"username": "robot", "password": secretValue}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range creds {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	t.Run("ca and client certificate", func(t *testing.T) {
		d, err := Decode(secret("ns", "creds", with(map[string]string{"ca.crt": cert, "tls.crt": cert, "tls.key": key})), mustHost(host))
		if err != nil {
			t.Fatal(err)
		}
		if string(d.CAPEM) != cert || string(d.CertPEM) != cert || string(d.KeyPEM) != key || d.Kind != KindBasic {
			t.Errorf("TLS material not taken: %v", d)
		}
	})
	t.Run("client certificate alone", func(t *testing.T) {
		d, err := Decode(secret("ns", "creds", map[string]string{"tls.crt": cert, "tls.key": key}), mustHost(host))
		if err != nil || d.Kind != KindClientCert || d.Credential != auth.EmptyCredential {
			t.Fatalf("got %v %v", d, err)
		}
	})
	for name, tc := range map[string]struct {
		data map[string]string
		want string
	}{
		"ca not PEM":        {with(map[string]string{"ca.crt": "nope"}), `has a "ca.crt" key that holds no PEM certificate`},
		"cert without key":  {with(map[string]string{"tls.crt": cert}), `has only one of "tls.crt" and "tls.key"`},
		"key without cert":  {with(map[string]string{"tls.key": key}), `has only one of "tls.crt" and "tls.key"`},
		"pair not matching": {with(map[string]string{"tls.crt": otherCert, "tls.key": key}), `"tls.crt" and "tls.key" are not a matching PEM certificate and key`},
		"ca alone":          {map[string]string{"ca.crt": cert}, "no registry credential found"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(secret("ns", "creds", tc.data), mustHost(host))
			assertInvalid(t, err, tc.want)
			if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error shows key material: %v", err)
			}
		})
	}
}

func TestDecodedNeverPrintsTheCredential(t *testing.T) {
	d := Decoded{Credential: auth.Credential{Username: "robot", Password: secretValue}, Kind: KindBasic}
	for _, s := range []string{fmt.Sprint(d), fmt.Sprintf("%v %+v %#v %s", d, d, d, d)} {
		if strings.Contains(s, secretValue) {
			t.Errorf("printed the credential: %s", s)
		}
	}
}

func TestParseHostString(t *testing.T) {
	for in, want := range map[string]string{
		"registry.example.com":             "registry.example.com",
		"Registry.Example.COM":             "registry.example.com",
		"https://registry.example.com/v2/": "registry.example.com",
		"http://registry.example.com:5000": "registry.example.com:5000",
		"registry.example.com:443":         "registry.example.com",
		"127.0.0.1:5000":                   "127.0.0.1:5000",
		"[::1]:5000":                       "[::1]:5000",
		"https://index.docker.io/v1/":      "docker.io",
		"registry-1.docker.io":             "docker.io",
		"docker.io":                        "docker.io",
	} {
		got, err := parseHostString(in)
		if err != nil || got != want {
			t.Errorf("parseHostString(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "user:pw@host", "https://", "a b"} {
		if got, err := parseHostString(bad); err == nil {
			t.Errorf("parseHostString(%q) = %q, want an error", bad, got)
		}
	}
}

func TestSecretTypes(t *testing.T) {
	cert, key := certPair(t)
	withType := func(typ string, data map[string]string) Secret {
		s := secret("deployment-system", "x", data)
		s.Type = typ
		return s
	}
	creds := map[string]string{"username": "u", "password": secretValue}
	for name, tc := range map[string]struct {
		secret   Secret
		wantKind Kind
		wantErr  string
	}{
		"opaque":                   {secret: withType("Opaque", creds), wantKind: KindBasic},
		"untyped":                  {secret: withType("", creds), wantKind: KindBasic},
		"basic-auth":               {secret: withType("kubernetes.io/basic-auth", creds), wantKind: KindBasic},
		"tls with a client cert":   {secret: withType("kubernetes.io/tls", map[string]string{"tls.crt": cert, "tls.key": key}), wantKind: KindClientCert},
		"tls with a registry key":  {secret: withType("kubernetes.io/tls", map[string]string{"tls.crt": cert, "tls.key": key, "registry": host}), wantKind: KindClientCert},
		"tls with a password":      {secret: withType("kubernetes.io/tls", map[string]string{"tls.crt": cert, "tls.key": key, "username": "u", "password": secretValue}), wantErr: `secret "deployment-system/x" is of type kubernetes.io/tls, which may hold a client certificate only, but it has a "username" key`},
		"tls with a token":         {secret: withType("kubernetes.io/tls", map[string]string{"tls.crt": cert, "tls.key": key, "token": secretValue}), wantErr: `but it has a "token" key`},
		"tls with a docker config": {secret: withType("kubernetes.io/tls", map[string]string{"tls.crt": cert, "tls.key": key, ".dockerconfigjson": "{}"}), wantErr: `but it has a ".dockerconfigjson" key`},
		"service-account token":    {secret: withType("kubernetes.io/service-account-token", map[string]string{"token": secretValue, "ca.crt": cert}), wantErr: `secret "deployment-system/x" is of type "kubernetes.io/service-account-token", which ocisrc never uses for registry authentication`},
		"bootstrap token":          {secret: withType("bootstrap.kubernetes.io/token", map[string]string{"token-id": "abcdef", "token-secret": secretValue}), wantErr: `is of type "bootstrap.kubernetes.io/token"`},
		"helm release":             {secret: withType("helm.sh/release.v1", map[string]string{"release": secretValue}), wantErr: `is of type "helm.sh/release.v1"`},
		"a type with an escape":    {secret: withType("x\x1b[2J", creds), wantErr: `is of type "x\x1b[2J"`},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := Decode(tc.secret, mustHost(host))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Decode = %v, want an error containing %q", err, tc.wantErr)
				}
				if clierror.ExitCode(err) != clierror.CodeInvalid {
					t.Errorf("exit code %d, want 2", clierror.ExitCode(err))
				}
				if strings.Contains(err.Error()+clierror.Hint(err), secretValue) {
					t.Errorf("the error shows a value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Kind != tc.wantKind {
				t.Errorf("kind = %s, want %s", d.Kind, tc.wantKind)
			}
		})
	}
}

func mustHost(s string) place.Host {
	h, err := place.ParseHost(s)
	if err != nil {
		panic(err)
	}
	return h
}

// parseHostString is ParseHost as a string, for tables.
func parseHostString(s string) (string, error) {
	h, err := ParseHost(s)
	return h.String(), err
}
