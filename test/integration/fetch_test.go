package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

type fetchDoc struct {
	Results []struct {
		Component   string `json:"component"`
		Chart       string `json:"chart"`
		Version     string `json:"version"`
		Digest      string `json:"digest"`
		Path        string `json:"path"`
		Credentials string `json:"credentials"`
		Cached      bool   `json:"cached"`
		Destination string `json:"destination"`
		Error       string `json:"error"`
	} `json:"results"`
}

func decodeJSON(t *testing.T, r result) fetchDoc {
	t.Helper()
	var d fetchDoc
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("stdout is not the JSON document: %v\n%s", err, r)
	}
	return d
}

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestFetchWithSecretInComponentNamespace(t *testing.T) {
	h := newHome(t)
	putSecret(t, nsA, "registry-credentials", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "registry-credentials", nsA))
	stack.Secure.ResetLog()

	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	wantCode(t, r, 0)
	d := decodeJSON(t, r)
	if len(d.Results) != 1 {
		t.Fatalf("want 1 result, got %d\n%s", len(d.Results), r)
	}
	got := d.Results[0]
	if got.Component != "team-a/app" || got.Chart != app123.Ref || got.Version != "1.2.3" || got.Digest != app123.Digest ||
		got.Credentials != "team-a/registry-credentials" || got.Cached {
		t.Errorf("unexpected result %+v", got)
	}
	wantPath := filepath.Join(h.Env["HELM_REPOSITORY_CACHE"], "ocisrc", "sha256", strings.TrimPrefix(app123.Digest, "sha256:"), "app-1.2.3.tgz")
	if got.Path != wantPath {
		t.Errorf("path = %q, want %q", got.Path, wantPath)
	}
	if d := fileDigest(t, got.Path); d != app123.LayerDigest {
		t.Errorf("cached archive hashes to %s, want the layer digest %s", d, app123.LayerDigest)
	}
	if n := requests(stack.Secure); n == 0 {
		t.Error("the registry saw no request")
	}
	for _, req := range stack.Secure.Requests() {
		if req.Status == 200 && !req.Authorized {
			t.Errorf("request %s %s succeeded without credentials", req.Method, req.Path)
		}
	}
}

func TestFetchFallsBackToSystemNamespace(t *testing.T) {
	newHome(t)
	putSecret(t, nsSys, "shared-creds", boundCreds(stack.Secure.Host))
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "shared-creds", nsSys))

	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 0)
	d := strings.TrimPrefix(app123.Digest, "sha256:")
	want := "team-a/app  pulled  app 1.2.3  sha256:" + d[:4] + "…" + d[len(d)-4:] + "  (deployment-system/shared-creds)\n"
	if r.stdout != want {
		t.Errorf("unexpected text output, want %q:\n%s", want, r)
	}
	// One Component: no summary, nothing on stderr.
	if r.stderr != "" {
		t.Errorf("stderr: %q", r.stderr)
	}
}

func TestFetchPrefersComponentNamespace(t *testing.T) {
	newHome(t)
	// The system namespace holds a wrong password: if it were used, the pull would fail.
	putSecret(t, nsSys, "creds", map[string]string{"username": testenv.RegistryUser, "password": testenv.WrongPassword})
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsSys))

	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	wantCode(t, r, 0)
	if got := decodeJSON(t, r).Results[0].Credentials; got != "team-a/creds" {
		t.Errorf("credentials = %q, want team-a/creds", got)
	}
}

func TestFetchRefusesForeignNamespace(t *testing.T) {
	h := newHome(t)
	putSecret(t, nsB, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsB))
	stack.Secure.ResetLog()

	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 2)
	wantStderr(t, r, `spec.source.authentication.secretRef.namespace "team-b" is not allowed`, `"team-a"`, `"deployment-system"`)
	if n := requests(stack.Secure); n != 0 {
		t.Errorf("the registry saw %d requests, want 0", n)
	}
	assertNoCacheEntries(t, h)
}

func TestFetchWrongPassword(t *testing.T) {
	h := newHome(t)
	putSecret(t, nsA, "creds", map[string]string{"username": testenv.RegistryUser, "password": testenv.WrongPassword})
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))

	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 1)
	wantStderr(t, r, "Error: ", "refused the credentials", "Hint: ")
	if r.stdout != "" {
		t.Errorf("stdout should be empty on failure:\n%s", r)
	}
	assertNoCacheEntries(t, h)
}

func TestFetchMissingSecret(t *testing.T) {
	newHome(t)
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "does-not-exist", nsA))

	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 1)
	wantStderr(t, r, `secret "does-not-exist" not found in namespaces "team-a" or "deployment-system"`)
}

func TestFetchSecretWithUnusableKeys(t *testing.T) {
	newHome(t)
	putSecret(t, nsA, "creds", map[string]string{"username": testenv.RegistryUser, "password": testenv.RegistryPassword, "token": "tok-never-print-me"})
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))

	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 2)
	wantStderr(t, r, `secret "team-a/creds"`, "keys present: password, token, username")
}

func TestFetchTokenAsPassword(t *testing.T) {
	newHome(t)
	// A personal access token: username + token, the token sent as the password.
	putSecret(t, nsA, "pat", map[string]string{"username": testenv.RegistryUser, "token": testenv.RegistryPassword})
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "pat", nsA))

	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	wantCode(t, r, 0)
	if d := decodeJSON(t, r); d.Results[0].Digest != app123.Digest {
		t.Errorf("digest = %s, want %s", d.Results[0].Digest, app123.Digest)
	}
}

func TestFetchTLS(t *testing.T) {
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))

	t.Run("without the CA the certificate is not trusted", func(t *testing.T) {
		h := newHome(t)
		r := kubectl(t, "app", "-n", nsA)
		wantCode(t, r, 1)
		wantStderr(t, r, "TLS connection to "+stack.Secure.Host+" failed", "Hint: pass --registry-ca-file")
		assertNoCacheEntries(t, h)
	})
	t.Run("with the CA it works", func(t *testing.T) {
		newHome(t)
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 0)
		if strings.Contains(r.stderr, "Warning") {
			t.Errorf("unexpected warning:\n%s", r)
		}
	})
	t.Run("insecure works and warns", func(t *testing.T) {
		newHome(t)
		r := kubectl(t, "app", "-n", nsA, "--registry-insecure-skip-tls-verify")
		wantCode(t, r, 0)
		wantStderr(t, r, "Warning: --registry-insecure-skip-tls-verify is set")
	})
	t.Run("a CA file that does not exist is invalid input", func(t *testing.T) {
		newHome(t)
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", filepath.Join(t.TempDir(), "missing.pem"))
		wantCode(t, r, 2)
		wantStderr(t, r, "reading --registry-ca-file")
	})
}

func TestFetchDigestPins(t *testing.T) {
	putSecret(t, nsA, "creds", goodCreds())

	t.Run("tag and matching digest", func(t *testing.T) {
		newHome(t)
		putComponent(t, nsA, "pinned", testenv.OCISource(app123.Ref+"@"+app123.Digest, "creds", nsA))
		r := kubectl(t, "pinned", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
		wantCode(t, r, 0)
		got := decodeJSON(t, r).Results[0]
		if got.Digest != app123.Digest || got.Version != "1.2.3" {
			t.Errorf("unexpected result %+v", got)
		}
	})
	t.Run("digest alone", func(t *testing.T) {
		newHome(t)
		ref := "oci://" + stack.Secure.Host + "/charts/app@" + app124.Digest
		putComponent(t, nsA, "by-digest", testenv.OCISource(ref, "creds", nsA))
		r := kubectl(t, "by-digest", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "yaml")
		wantCode(t, r, 0)
		var d fetchDoc
		if err := yaml.Unmarshal([]byte(r.stdout), &d); err != nil {
			t.Fatalf("stdout is not YAML: %v\n%s", err, r)
		}
		if got := d.Results[0]; got.Version != "1.2.4" || got.Digest != app124.Digest || got.Chart != ref {
			t.Errorf("unexpected result %+v", got)
		}
	})
	t.Run("the digest of another version", func(t *testing.T) {
		h := newHome(t)
		putComponent(t, nsA, "mismatch", testenv.OCISource(app123.Ref+"@"+app124.Digest, "creds", nsA))
		r := kubectl(t, "mismatch", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 1)
		wantStderr(t, r, `is version "1.2.4", not "1.2.3"`)
		assertNoCacheEntries(t, h)
	})
	t.Run("a digest the registry does not have", func(t *testing.T) {
		h := newHome(t)
		missing := "sha256:" + strings.Repeat("ab", 32)
		putComponent(t, nsA, "unknown", testenv.OCISource(app123.Ref+"@"+missing, "creds", nsA))
		r := kubectl(t, "unknown", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 1)
		wantStderr(t, r, "not found in the registry "+stack.Secure.Host)
		assertNoCacheEntries(t, h)
	})
	t.Run("a cached pin makes no request", func(t *testing.T) {
		newHome(t)
		putComponent(t, nsA, "pinned", testenv.OCISource(app123.Ref+"@"+app123.Digest, "creds", nsA))
		first := kubectl(t, "pinned", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
		wantCode(t, first, 0)
		stack.Secure.ResetLog()
		second := kubectl(t, "pinned", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
		wantCode(t, second, 0)
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("a cached digest pin made %d registry requests, want 0", n)
		}
		if got := decodeJSON(t, second).Results[0]; !got.Cached || got.Path != decodeJSON(t, first).Results[0].Path {
			t.Errorf("second run: %+v", got)
		}
	})
}

func TestFetchVersionWithPlus(t *testing.T) {
	newHome(t)
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "plus", testenv.OCISource(appPlus.Ref, "creds", nsA))
	r := kubectl(t, "plus", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	wantCode(t, r, 0)
	got := decodeJSON(t, r).Results[0]
	if got.Version != "1.0.0+build.7" || got.Digest != appPlus.Digest || !strings.HasSuffix(got.Path, "app-1.0.0+build.7.tgz") {
		t.Errorf("unexpected result %+v", got)
	}
}

func TestFetchAnonymous(t *testing.T) {
	newHome(t)
	putComponent(t, nsA, "web", testenv.OCISource(openApp.Ref, "", ""))
	stack.Open.ResetLog()
	r := kubectl(t, "web", "-n", nsA, "--registry-ca-file", stack.Open.CAFile)
	wantCode(t, r, 0)
	if !strings.HasSuffix(r.stdout, "(anonymous)\n") {
		t.Errorf("want an anonymous pull:\n%s", r)
	}
	for _, req := range stack.Open.Requests() {
		if req.Authorized {
			t.Errorf("anonymous pull sent an Authorization header: %s %s", req.Method, req.Path)
		}
	}
}

func TestFetchAnonymousGetsNoCredentialsFromUserConfig(t *testing.T) {
	h := newHome(t)
	// A user who ran "helm registry login" and "docker login" earlier: a
	// Component without authentication must still pull anonymously, and a
	// Component with a secretRef must use only the Secret.
	auth := `{"auths":{"` + stack.Secure.Host + `":{"auth":"` + "Y2ktcm9ib3Q6d3Jvbmc=" + `"}}}`
	for _, p := range []string{h.Env["HELM_REGISTRY_CONFIG"], filepath.Join(h.Env["DOCKER_CONFIG"], "config.json")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(auth), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	putComponent(t, nsA, "anon-secure", testenv.OCISource(app123.Ref, "", ""))
	stack.Secure.ResetLog()
	r := kubectl(t, "anon-secure", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 1)
	wantStderr(t, r, "requires credentials (401 unauthorized)")
	for _, req := range stack.Secure.Requests() {
		if req.Authorized {
			t.Errorf("credentials from the user's config were sent: %s %s", req.Method, req.Path)
		}
	}

	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "with-secret", testenv.OCISource(app123.Ref, "creds", nsA))
	r = kubectl(t, "with-secret", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 0)
	for _, p := range []string{h.Env["HELM_REGISTRY_CONFIG"], filepath.Join(h.Env["DOCKER_CONFIG"], "config.json")} {
		if data, _ := os.ReadFile(p); string(data) != auth {
			t.Errorf("%s was changed:\n%s", p, data)
		}
	}
}

func TestFetchDryRun(t *testing.T) {
	h := newHome(t)
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
	stack.Secure.ResetLog()
	dest := filepath.Join(t.TempDir(), "out")

	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "--dry-run", "-d", dest)
	wantCode(t, r, 0)
	if want := "team-a/app  would pull  " + app123.Ref + "  (team-a/creds)\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	if n := requests(stack.Secure); n != 0 {
		t.Errorf("--dry-run made %d registry requests, want 0", n)
	}
	assertNoCacheEntries(t, h)
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("--dry-run created the destination %s", dest)
	}

	// A dry run still resolves everything: a refused namespace fails it.
	putComponent(t, nsA, "foreign", testenv.OCISource(app123.Ref, "creds", nsB))
	r = kubectl(t, "foreign", "-n", nsA, "--dry-run")
	wantCode(t, r, 2)

	// Every check the real run makes without the registry, the dry run makes.
	t.Run("an --untar target that exists", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "app"), 0o755); err != nil {
			t.Fatal(err)
		}
		r := kubectl(t, "app", "-n", nsA, "--dry-run", "-d", dir, "--untar")
		wantCode(t, r, 2)
		wantStderr(t, r, "--untar: ", "already exists")
	})
	t.Run("a client certificate from both a flag and the Secret", func(t *testing.T) {
		_, certPEM, keyPEM, err := clientCA.ClientCertificate("dry")
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := writePair(t, certPEM, keyPEM)
		putSecret(t, nsA, "mtls", map[string]string{"tls.crt": string(certPEM), "tls.key": string(keyPEM)})
		putComponent(t, nsA, "mtls", testenv.OCISource(mtlsApp.Ref, "mtls", nsA))
		r := kubectl(t, "mtls", "-n", nsA, "--dry-run", "--registry-cert-file", certFile, "--registry-key-file", keyFile)
		wantCode(t, r, 2)
		wantStderr(t, r, "both --registry-cert-file and the Secret's tls.crt give a client certificate")
	})
}

func TestFetchDestination(t *testing.T) {
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))

	t.Run("archive", func(t *testing.T) {
		newHome(t)
		dest := filepath.Join(t.TempDir(), "new", "dir")
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-d", dest, "-o", "json")
		wantCode(t, r, 0)
		files, _ := testenv.Files(dest)
		if len(files) != 1 || files[0] != "app-1.2.3.tgz" {
			t.Fatalf("destination holds %v, want [app-1.2.3.tgz]", files)
		}
		if got := decodeJSON(t, r).Results[0].Destination; got != filepath.Join(dest, "app-1.2.3.tgz") {
			t.Errorf("destination = %q", got)
		}
		if d := fileDigest(t, filepath.Join(dest, "app-1.2.3.tgz")); d != app123.LayerDigest {
			t.Errorf("placed archive hashes to %s, want %s", d, app123.LayerDigest)
		}
	})
	t.Run("untar", func(t *testing.T) {
		newHome(t)
		dest := t.TempDir()
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-d", dest, "--untar")
		wantCode(t, r, 0)
		files, _ := testenv.Files(dest)
		want := []string{"app/Chart.yaml", "app/templates/configmap.yaml", "app/values.yaml"}
		if strings.Join(files, ",") != strings.Join(want, ",") {
			t.Errorf("destination holds %v, want %v", files, want)
		}
		// A second --untar refuses to overwrite, before any download.
		stack.Secure.ResetLog()
		r = kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-d", dest, "--untar")
		wantCode(t, r, 2)
		wantStderr(t, r, "already exists")
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("a refused --untar made %d registry requests", n)
		}
	})
}

func TestFetchInvalidComponents(t *testing.T) {
	newHome(t)
	for name, tc := range map[string]struct {
		source any
		want   []string
	}{
		"no scheme": {
			source: map[string]any{"type": "oci", "chart": stack.Secure.Host + "/charts/app:1.2.3"},
			want:   []string{`invalid components.deploy.example.io "team-a/no-scheme"`, "spec.source.chart must start with oci://"},
		},
		"git source": {
			source: map[string]any{"type": "git", "url": "https://example.com/repo.git"},
			want:   []string{`spec.source.type "git" is not supported by ocisrc: only oci`},
		},
		"no source": {
			source: nil,
			want:   []string{"spec.source is missing"},
		},
		"secretRef without namespace": {
			source: map[string]any{"type": "oci", "chart": app123.Ref, "authentication": map[string]any{"method": "registry", "secretRef": map[string]any{"name": "x"}}},
			want:   []string{"spec.source.authentication.secretRef.namespace is required"},
		},
		"wrong method": {
			source: map[string]any{"type": "oci", "chart": app123.Ref, "authentication": map[string]any{"method": "basic", "secretRef": map[string]any{"name": "x", "namespace": nsA}}},
			want:   []string{`spec.source.authentication.method must be registry, got "basic"`},
		},
		"chart is a number": {
			source: map[string]any{"type": "oci", "chart": int64(42)},
			want:   []string{"spec.source.chart must be a string, got a number"},
		},
		"no version": {
			source: map[string]any{"type": "oci", "chart": "oci://" + stack.Secure.Host + "/charts/app"},
			want:   []string{"spec.source.chart must pin a version or a digest"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			cname := strings.ToLower(strings.ReplaceAll(name, " ", "-"))
			putComponent(t, nsA, cname, tc.source)
			r := kubectl(t, cname, "-n", nsA)
			wantCode(t, r, 2)
			wantStderr(t, r, tc.want...)
			if strings.Contains(r.stderr, "OCISource") || strings.Contains(r.stderr, "validate") || strings.Contains(r.stderr, "json:") {
				t.Errorf("error leaks Go names:\n%s", r)
			}
		})
	}
}

func TestFetchClusterErrors(t *testing.T) {
	newHome(t)
	t.Run("component not found", func(t *testing.T) {
		r := kubectl(t, "nope", "-n", nsA)
		wantCode(t, r, 1)
		wantStderr(t, r, `components "nope" not found in namespace "team-a"`, "Hint: check the name, or pass -n/--namespace")
	})
	t.Run("namespace not found", func(t *testing.T) {
		r := kubectl(t, "app", "-n", "no-such-namespace")
		wantCode(t, r, 1)
		wantStderr(t, r, `namespace "no-such-namespace" not found`, "Hint: check -n/--namespace")
	})
	t.Run("unknown resource", func(t *testing.T) {
		r := kubectl(t, "app", "-n", nsA, "--resource", "widgets")
		wantCode(t, r, 2)
		wantStderr(t, r, `the server doesn't have a resource type "widgets"`, "Hint: install the Component CRD")
	})
	t.Run("qualified resource", func(t *testing.T) {
		putComponent(t, nsA, "web", testenv.OCISource(openApp.Ref, "", ""))
		r := kubectl(t, "web", "-n", nsA, "--resource", "components.v1alpha1.deploy.example.io", "--registry-ca-file", stack.Open.CAFile)
		wantCode(t, r, 0)
	})
	t.Run("type/name argument", func(t *testing.T) {
		r := kubectl(t, "pods/web", "-n", nsA)
		wantCode(t, r, 2)
		wantStderr(t, r, `invalid Component name "pods/web"`)
	})
	t.Run("no name", func(t *testing.T) {
		r := kubectl(t, "-n", nsA)
		wantCode(t, r, 2)
		wantStderr(t, r, "at least one Component NAME is required", "See 'kubectl component-pull --help'")
	})
	t.Run("bad output format", func(t *testing.T) {
		r := kubectl(t, "web", "-o", "xml")
		wantCode(t, r, 2)
		wantStderr(t, r, `invalid argument "xml" for "-o, --output" flag: must be one of text, wide, name, json, yaml`)
	})
}

func TestHelmFace(t *testing.T) {
	newHome(t)
	putSecret(t, nsSys, "shared", boundCreds(stack.Secure.Host))
	putComponent(t, nsB, "app", testenv.OCISource(app123.Ref, "shared", nsSys))
	// Helm strips --namespace and --kube-context and passes them as HELM_* variables.
	env := map[string]string{
		"HELM_PLUGIN_NAME": "ocisrc",
		"HELM_NAMESPACE":   nsB,
		"KUBECONFIG":       stack.Cluster.Kubeconfig,
		"HELM_KUBECONTEXT": "test",
	}
	r := runFace(t, "ocisrc", env, "fetch", "app", "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	wantCode(t, r, 0)
	if got := decodeJSON(t, r).Results[0]; got.Component != "team-b/app" || got.Credentials != "deployment-system/shared" {
		t.Errorf("unexpected result %+v", got)
	}
	// A context that does not exist is reported as such.
	env["HELM_KUBECONTEXT"] = "nope"
	r = runFace(t, "ocisrc", env, "fetch", "app")
	wantCode(t, r, 1)
	wantStderr(t, r, "nope")
}

func TestSystemNamespaceFromEnvironment(t *testing.T) {
	newHome(t)
	putSecret(t, nsB, "shared", boundCreds(stack.Secure.Host))
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "shared", nsB))
	t.Setenv("OCISRC_SYSTEM_NAMESPACE", nsB)
	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	wantCode(t, r, 0)
	if got := decodeJSON(t, r).Results[0].Credentials; got != "team-b/shared" {
		t.Errorf("credentials = %q", got)
	}
}

// assertNoCacheEntries checks that nothing (not even a temp file) was
// written to Helm's repository cache.
func assertNoCacheEntries(t *testing.T, h *testenv.Home) {
	t.Helper()
	files, err := testenv.Files(h.Env["HELM_REPOSITORY_CACHE"])
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 0 {
		t.Errorf("the cache holds %v, want nothing", files)
	}
}

// TestDownloaderHints: the component:// downloader's messages name what a
// helm user can type: helm's flags and the URL, never fetch's flags.
func TestDownloaderHints(t *testing.T) {
	newHome(t)
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
	for name, tc := range map[string]struct {
		args []string
		want []string
		ns   string
	}{
		"no CA": {args: []string{"", "", "", "component://" + nsA + "/app"},
			want: []string{"TLS connection to " + stack.Secure.Host + " failed", "Hint: pass helm's --ca-file with the registry's CA"}},
		"no such Component": {args: []string{"", "", stack.Secure.CAFile, "component://" + nsA + "/nope"},
			want: []string{`components "nope" not found in namespace "team-a"`, "Hint: check NAMESPACE and NAME in component://NAMESPACE/NAME"}},
		"no such namespace": {args: []string{"", "", stack.Secure.CAFile, "component://no-such-ns/app"}, ns: "no-such-ns",
			want: []string{`namespace "no-such-ns" not found`, "check NAMESPACE in component://NAMESPACE/NAME, and helm's --kube-context"}},
		"another namespace than helm's": {args: []string{"", "", stack.Secure.CAFile, "component://" + nsA + "/app"}, ns: nsB,
			want: []string{`component://team-a/app names namespace "team-a", but helm runs in namespace "team-b"`, "Hint: run helm with -n team-a, or allow that namespace explicitly: OCISRC_DOWNLOADER_NAMESPACES=team-a"}},
	} {
		t.Run(name, func(t *testing.T) {
			ns := tc.ns
			if ns == "" {
				ns = nsA
			}
			env := map[string]string{"HELM_PLUGIN_NAME": "ocisrc-getter", "KUBECONFIG": stack.Cluster.Kubeconfig, "HELM_NAMESPACE": ns}
			r := runFace(t, "ocisrc", env, tc.args...)
			if r.code == 0 {
				t.Fatalf("want a failure:\n%s", r)
			}
			wantStderr(t, r, tc.want...)
			for _, bad := range []string{"--registry-", "-n/--namespace", "--timeout", "--insecure-skip"} {
				if strings.Contains(r.stderr, bad) {
					t.Errorf("the downloader's message names %s:\n%s", bad, r)
				}
			}
		})
	}
}

// TestComponentsNamedLikeSubcommands: the kubectl face's arguments are
// Component names, always.
func TestComponentsNamedLikeSubcommands(t *testing.T) {
	newHome(t)
	for _, name := range []string{"completion", "help"} {
		putComponent(t, nsA, name, testenv.OCISource(openApp.Ref, "", ""))
		r := kubectl(t, name, "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "-o", "json")
		wantCode(t, r, 0)
		if got := decodeJSON(t, r).Results[0]; got.Component != nsA+"/"+name || got.Digest != openApp.Digest {
			t.Errorf("%s: %+v", name, got)
		}
	}
}
