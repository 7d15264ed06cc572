package credentials

import (
	"github.com/ocisrc/ocisrc/pkg/place"

	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ocisrc/ocisrc/pkg/clierror"
)

const (
	secretValue = "s3cr3t-value-never-shown"
	host        = "registry.example.com"
)

func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

type ref struct{ name, namespace string }

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
	bound := map[string]string{"username": "u", "password": secretValue, "registry": host}
	for name, tc := range map[string]struct {
		ref       ref
		have      map[string]map[string]string // namespace/name -> data
		forbidden []string
		want      string // the Secret used
		wantWarn  string
		wantReads []string
		wantErr   string
		wantCode  int
		wantHint  string
		// allowUnbound is --allow-unbound-secrets; types sets Secret types by namespace/name.
		allowUnbound bool
		types        map[string]string
	}{
		"component namespace": {
			ref: ref{"c", "team-a"}, have: map[string]map[string]string{"team-a/c": good},
			want: "team-a/c", wantReads: []string{"team-a/c"},
		},
		"an unbound system Secret is refused": {
			ref: ref{"c", "sys"}, have: map[string]map[string]string{"sys/c": good},
			wantErr: `secret "sys/c" in the system namespace is bound to no registry: refusing to send its credentials to registry.example.com, a host the Component chose`, wantCode: 2,
			wantHint:  "stringData:\n      registry: <the registry host these credentials are for>",
			wantReads: []string{"team-a/c", "sys/c"},
		},
		"an unbound system Secret with --allow-unbound-secrets, with a warning": {
			ref: ref{"c", "sys"}, have: map[string]map[string]string{"sys/c": good}, allowUnbound: true,
			want: "sys/c", wantReads: []string{"team-a/c", "sys/c"}, wantWarn: `secret "sys/c" in the system namespace is bound to no registry and --allow-unbound-secrets is set`,
		},
		"an unbound Secret in the Component's own namespace": {
			ref: ref{"c", "team-a"}, have: map[string]map[string]string{"team-a/c": good},
			want: "team-a/c", wantReads: []string{"team-a/c"},
		},
		"a service-account token in the system namespace": {
			ref: ref{"c", "sys"}, have: map[string]map[string]string{"sys/c": {"token": secretValue, "registry": host}}, types: map[string]string{"sys/c": "kubernetes.io/service-account-token"},
			wantErr: `secret "sys/c" is of type "kubernetes.io/service-account-token", which ocisrc never uses`, wantCode: 2, wantReads: []string{"team-a/c", "sys/c"},
		},
		"a bad Secret in the Component's namespace: the system one is never read": {
			ref: ref{"c", "sys"}, have: map[string]map[string]string{"team-a/c": {"username": "u"}, "sys/c": bound},
			wantErr: `secret "team-a/c" cannot be used`, wantCode: 2, wantHint: `secret "team-a/c" in the Component's namespace was used: the Component's namespace is searched first, so a Secret of the same name in the system namespace "sys", if any, was not read`,
			wantReads: []string{"team-a/c"},
		},
		"a bound system Secret gives no warning": {
			ref: ref{"c", "sys"}, have: map[string]map[string]string{"sys/c": bound},
			want: "sys/c", wantReads: []string{"team-a/c", "sys/c"},
		},
		"component namespace first even when the ref names the system namespace": {
			ref: ref{"c", "sys"}, have: map[string]map[string]string{"team-a/c": good, "sys/c": good},
			want: "team-a/c", wantReads: []string{"team-a/c"},
		},
		"foreign namespace refused before any read": {
			ref: ref{"c", "team-b"}, have: map[string]map[string]string{"team-b/c": good},
			wantErr: `spec.source.authentication.secretRef.namespace "team-b" is not allowed`, wantCode: 2,
		},
		"bound to another registry": {
			ref: ref{"c", "sys"}, have: map[string]map[string]string{"sys/c": {"token": secretValue, "registry": "ghcr.io"}},
			wantErr: `secret "sys/c" is bound to ghcr.io, not to the chart's registry registry.example.com`, wantCode: 2, wantReads: []string{"team-a/c", "sys/c"},
		},
		"not found anywhere": {
			ref:     ref{"c", "team-a"},
			wantErr: `secret "c" not found in namespaces "team-a" or "sys"`, wantCode: 1, wantReads: []string{"team-a/c", "sys/c"},
		},
		"forbidden stops, no silent fallback": {
			ref: ref{"c", "sys"}, have: map[string]map[string]string{"sys/c": good}, forbidden: []string{"team-a"},
			wantErr: `forbidden: your identity cannot get secrets in namespace "team-a"`, wantCode: 1, wantReads: []string{"team-a/c"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			m := &secretMap{secrets: map[string]*corev1.Secret{}, forbidden: map[string]bool{}}
			for k, data := range tc.have {
				ns, n, _ := strings.Cut(k, "/")
				m.secrets[k] = secret(ns, n, data)
				if typ, ok := tc.types[k]; ok {
					m.secrets[k].Type = corev1.SecretType(typ)
				}
			}
			for _, ns := range tc.forbidden {
				m.forbidden[ns] = true
			}
			got, err := Resolve(context.Background(), m, Request{ComponentNamespace: "team-a", SystemNamespace: "sys", SecretName: tc.ref.name, SecretNamespace: tc.ref.namespace, Host: mustHost(host), AllowUnbound: tc.allowUnbound})
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
				if !strings.Contains(clierror.Hint(err), tc.wantHint) {
					t.Errorf("hint = %q, want %q", clierror.Hint(err), tc.wantHint)
				}
				if strings.Contains(clierror.Hint(err), host) && strings.Contains(tc.wantErr, "bound to no registry") {
					t.Errorf("the hint suggests binding the Secret to the host the Component chose: %q", clierror.Hint(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Secret != tc.want {
				t.Errorf("used %s, want %s", got.Secret, tc.want)
			}
			warnings := strings.Join(got.Warnings, "\n")
			if (tc.wantWarn == "") != (warnings == "") || !strings.Contains(warnings, tc.wantWarn) {
				t.Errorf("warnings = %q, want %q", warnings, tc.wantWarn)
			}
		})
	}
}

func TestForbiddenHintNamesThePermission(t *testing.T) {
	m := &secretMap{forbidden: map[string]bool{"team-a": true}}
	_, err := Resolve(context.Background(), m, Request{ComponentNamespace: "team-a", SystemNamespace: "sys", SecretName: "c", SecretNamespace: "team-a", Host: mustHost(host)})
	if h := clierror.Hint(err); !strings.Contains(h, `needs "get" on secrets in its own namespace "team-a" (kubectl auth can-i get secret/c -n team-a), and in the system namespace "sys"`) {
		t.Errorf("hint = %q", h)
	}
	if !strings.Contains(err.Error(), `which is searched first because it is the Component's namespace`) {
		t.Errorf("error = %q", err)
	}
	m = &secretMap{secrets: map[string]*corev1.Secret{}, forbidden: map[string]bool{"sys": true}}
	_, err = Resolve(context.Background(), m, Request{ComponentNamespace: "team-a", SystemNamespace: "sys", SecretName: "c", SecretNamespace: "sys", Host: mustHost(host)})
	if !strings.Contains(err.Error(), `cannot get secrets in the system namespace "sys", which is searched because the Component's namespace "team-a" has no secret "c"`) {
		t.Errorf("error = %q", err)
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

func mustHost(s string) place.Host {
	h, err := place.ParseHost(s)
	if err != nil {
		panic(err)
	}
	return h
}
