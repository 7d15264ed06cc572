package credentials

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
)

const secretValue = "s3cr3t-value-never-shown"

func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func TestDecode(t *testing.T) {
	for name, tc := range map[string]struct {
		data     map[string]string
		want     auth.Credential
		kind     Kind
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
		"other keys are ignored": {
			data: map[string]string{"username": "robot", "password": secretValue, "note": "x"},
			want: auth.Credential{Username: "robot", Password: secretValue}, kind: KindBasic,
		},
		"password and token": {
			data:    map[string]string{"username": "robot", "password": secretValue, "token": secretValue},
			wantErr: "both password and token are set", wantKeys: "keys present: password, token, username",
		},
		"username alone": {
			data:    map[string]string{"username": "robot"},
			wantErr: "username needs a password or a token", wantKeys: "keys present: username",
		},
		"password alone": {
			data:    map[string]string{"password": secretValue},
			wantErr: "password needs a username", wantKeys: "keys present: password",
		},
		"no keys": {
			data:    map[string]string{},
			wantErr: "no registry credential found", wantKeys: "keys present: none",
		},
		"unrelated keys": {
			data:    map[string]string{".dockerconfigjson": secretValue},
			wantErr: "no registry credential found", wantKeys: "keys present: .dockerconfigjson",
		},
		"empty password": {
			data:    map[string]string{"username": "robot", "password": ""},
			wantErr: `has an empty "password" key`,
		},
		"empty token": {
			data:    map[string]string{"token": ""},
			wantErr: `has an empty "token" key`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := Decode(secret("ns", "creds", tc.data))
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("want an error, got %+v", d)
				}
				msg := err.Error() + clierror.Hint(err)
				for _, w := range []string{tc.wantErr, tc.wantKeys, `secret "ns/creds"`} {
					if !strings.Contains(msg, w) {
						t.Errorf("error %q does not contain %q", msg, w)
					}
				}
				if strings.Contains(msg, secretValue) || strings.Contains(msg, "robot") {
					t.Errorf("error shows a value: %q", msg)
				}
				if clierror.ExitCode(err) != clierror.CodeInvalid {
					t.Errorf("exit code %d, want 2", clierror.ExitCode(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Credential != tc.want || d.Kind != tc.kind {
				t.Errorf("got %+v %s, want %+v %s", d.Credential, d.Kind, tc.want, tc.kind)
			}
		})
	}
}

// secretMap is a SecretReader over a map, for the pure namespace logic.
type secretMap struct {
	secrets   map[string]*corev1.Secret
	forbidden map[string]bool
	reads     []string
}

func (m *secretMap) GetSecret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	m.reads = append(m.reads, ns+"/"+name)
	if m.forbidden[ns] {
		return nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, name, nil)
	}
	if s, ok := m.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func TestResolve(t *testing.T) {
	good := map[string]string{"username": "u", "password": secretValue}
	for name, tc := range map[string]struct {
		ref       component.SecretRef
		have      []string // namespace/name of the Secrets that exist
		forbidden []string
		want      string // the Secret used
		wantReads []string
		wantErr   string
		wantCode  int
	}{
		"component namespace": {
			ref: component.SecretRef{Name: "c", Namespace: "team-a"}, have: []string{"team-a/c"},
			want: "team-a/c", wantReads: []string{"team-a/c"},
		},
		"falls back to the system namespace": {
			ref: component.SecretRef{Name: "c", Namespace: "sys"}, have: []string{"sys/c"},
			want: "sys/c", wantReads: []string{"team-a/c", "sys/c"},
		},
		"component namespace first even when the ref names the system namespace": {
			ref: component.SecretRef{Name: "c", Namespace: "sys"}, have: []string{"team-a/c", "sys/c"},
			want: "team-a/c", wantReads: []string{"team-a/c"},
		},
		"foreign namespace refused before any read": {
			ref: component.SecretRef{Name: "c", Namespace: "team-b"}, have: []string{"team-b/c"},
			wantErr: `spec.source.authentication.secretRef.namespace "team-b" is not allowed`, wantCode: 2,
		},
		"not found anywhere": {
			ref:     component.SecretRef{Name: "c", Namespace: "team-a"},
			wantErr: `secret "c" not found in namespaces "team-a" or "sys"`, wantCode: 1, wantReads: []string{"team-a/c", "sys/c"},
		},
		"forbidden stops, no silent fallback": {
			ref: component.SecretRef{Name: "c", Namespace: "sys"}, have: []string{"sys/c"}, forbidden: []string{"team-a"},
			wantErr: `forbidden: your identity cannot get secrets in namespace "team-a"`, wantCode: 1, wantReads: []string{"team-a/c"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			m := &secretMap{secrets: map[string]*corev1.Secret{}, forbidden: map[string]bool{}}
			for _, h := range tc.have {
				ns, n, _ := strings.Cut(h, "/")
				m.secrets[h] = secret(ns, n, good)
			}
			for _, ns := range tc.forbidden {
				m.forbidden[ns] = true
			}
			got, err := Resolve(context.Background(), m, "team-a", "sys", tc.ref)
			if strings.Join(m.reads, ",") != strings.Join(tc.wantReads, ",") {
				t.Errorf("reads = %v, want %v", m.reads, tc.wantReads)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				if clierror.ExitCode(err) != tc.wantCode {
					t.Errorf("exit code %d, want %d", clierror.ExitCode(err), tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Secret != tc.want {
				t.Errorf("used %s, want %s", got.Secret, tc.want)
			}
		})
	}
}

func TestForbiddenHintNamesThePermission(t *testing.T) {
	m := &secretMap{forbidden: map[string]bool{"team-a": true}}
	_, err := Resolve(context.Background(), m, "team-a", "sys", component.SecretRef{Name: "c", Namespace: "team-a"})
	if h := clierror.Hint(err); !strings.Contains(h, `"get secrets" in namespace "team-a"`) {
		t.Errorf("hint = %q", h)
	}
}

func TestNamespaces(t *testing.T) {
	if got := Namespaces("a", "a"); len(got) != 1 {
		t.Errorf("same namespace twice: %v", got)
	}
	if got := Namespaces("a", "b"); strings.Join(got, ",") != "a,b" {
		t.Errorf("order: %v", got)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("u", "p", "", true, true, false)
	f.Add("", "", "t", false, false, true)
	f.Add("u", "", "t", true, false, true)
	f.Fuzz(func(t *testing.T, user, pass, token string, hasUser, hasPass, hasToken bool) {
		data := map[string]string{}
		if hasUser {
			data["username"] = user
		}
		if hasPass {
			data["password"] = pass
		}
		if hasToken {
			data["token"] = token
		}
		d, err := Decode(secret("ns", "n", data))
		if err != nil {
			// The error must not depend on the values, only on which keys are
			// there and whether they are empty: then it cannot show a value.
			blank := map[string]string{}
			for k, v := range data {
				blank[k] = ""
				if v != "" {
					blank[k] = "x"
				}
			}
			_, want := Decode(secret("ns", "n", blank))
			if want == nil || err.Error() != want.Error() || clierror.Hint(err) != clierror.Hint(want) {
				t.Fatalf("error depends on the values: %v vs %v", err, want)
			}
			return
		}
		if d.Credential == auth.EmptyCredential {
			t.Fatalf("accepted %v as an empty credential", data)
		}
	})
}
