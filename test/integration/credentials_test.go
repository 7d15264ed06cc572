package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

func dockerConfigJSON(entries map[string]map[string]string) string {
	b, _ := json.Marshal(map[string]any{"auths": entries})
	return string(b)
}

func basicAuthField(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// putTypedSecret plants a Secret of a given type.
func putTypedSecret(t *testing.T, ns, name, typ string, data map[string]string) {
	t.Helper()
	ctx := context.Background()
	if err := stack.Cluster.PutTypedSecret(ctx, ns, name, typ, data); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Cluster.DeleteSecret(ctx, ns, name) })
}

func TestTokenRealm(t *testing.T) {
	registryToken, err := tokenServer.Mint(testenv.RegistryUser, testenv.Scope("charts/tok"))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		data      map[string]string
		wantCode  int
		wantGrant string // the token server request expected; "" for none
		wantErr   string
	}{
		"identitytoken":                 {data: map[string]string{"identitytoken": identityToken}, wantGrant: "refresh_token"},
		"identitytoken with username":   {data: map[string]string{"username": testenv.RegistryUser, "identitytoken": identityToken}, wantGrant: "refresh_token"},
		"registry token":                {data: map[string]string{"token": registryToken}},
		"username and password":         {data: goodCreds(), wantGrant: "basic"},
		"wrong identitytoken":           {data: map[string]string{"identitytoken": "idtok-wrong"}, wantCode: 1, wantErr: `refused the credentials from secret "team-a/tok" (401 unauthorized)`},
		"registry token for other repo": {data: map[string]string{"token": mustMint(t, "charts/other")}, wantCode: 1, wantErr: "401 unauthorized"},
	} {
		t.Run(name, func(t *testing.T) {
			newHome(t)
			putSecret(t, nsA, "tok", tc.data)
			putComponent(t, nsA, "tok", testenv.OCISource(tokenApp.Ref, "tok", nsA))
			tokenServer.ResetLog()
			r := kubectl(t, "tok", "-n", nsA, "--registry-ca-file", tokenReg.CAFile, "-o", "json")
			assertNoSecrets(t, "output", r.stdout+r.stderr+registryToken)
			if strings.Contains(r.stdout+r.stderr, registryToken) {
				t.Errorf("the registry token leaked:\n%s", r)
			}
			wantCode(t, r, tc.wantCode)
			if tc.wantCode != 0 {
				wantStderr(t, r, tc.wantErr)
				return
			}
			if d := decodeJSON(t, r).Results[0]; d.Digest != tokenApp.Digest {
				t.Errorf("digest = %s, want %s", d.Digest, tokenApp.Digest)
			}
			grants := tokenServer.Requests()
			if tc.wantGrant == "" {
				if len(grants) != 0 {
					t.Errorf("a registry token must be sent as is, but the token server saw %+v", grants)
				}
				return
			}
			if len(grants) == 0 || grants[0].Grant != tc.wantGrant || !grants[0].Issued {
				t.Errorf("token server saw %+v, want an issued %s grant", grants, tc.wantGrant)
			}
		})
	}
}

func mustMint(t *testing.T, repo string) string {
	t.Helper()
	tok, err := tokenServer.Mint(testenv.RegistryUser, testenv.Scope(repo))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestDockerConfigSecrets(t *testing.T) {
	t.Run("auth field against htpasswd", func(t *testing.T) {
		newHome(t)
		putTypedSecret(t, nsA, "pull-secret", "kubernetes.io/dockerconfigjson", map[string]string{
			".dockerconfigjson": dockerConfigJSON(map[string]map[string]string{
				"https://" + stack.Secure.Host: {"auth": basicAuthField(testenv.RegistryUser, testenv.RegistryPassword)},
				"ghcr.io":                      {"auth": basicAuthField("other", "x")},
			}),
		})
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "pull-secret", nsA))
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 0)
	})
	t.Run("identitytoken against a token realm", func(t *testing.T) {
		newHome(t)
		putTypedSecret(t, nsA, "pull-secret", "kubernetes.io/dockerconfigjson", map[string]string{
			".dockerconfigjson": dockerConfigJSON(map[string]map[string]string{
				tokenReg.Host: {"auth": basicAuthField(testenv.RegistryUser, ""), "identitytoken": identityToken},
			}),
		})
		putComponent(t, nsA, "tok", testenv.OCISource(tokenApp.Ref, "pull-secret", nsA))
		r := kubectl(t, "tok", "-n", nsA, "--registry-ca-file", tokenReg.CAFile)
		wantCode(t, r, 0)
	})
	t.Run("legacy dockercfg", func(t *testing.T) {
		newHome(t)
		cfg, _ := json.Marshal(map[string]map[string]string{stack.Secure.Host: {"username": testenv.RegistryUser, "password": testenv.RegistryPassword}})
		putTypedSecret(t, nsA, "old-secret", "kubernetes.io/dockercfg", map[string]string{".dockercfg": string(cfg)})
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "old-secret", nsA))
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 0)
	})
	t.Run("no entry for the chart's host", func(t *testing.T) {
		newHome(t)
		putTypedSecret(t, nsA, "pull-secret", "kubernetes.io/dockerconfigjson", map[string]string{
			".dockerconfigjson": dockerConfigJSON(map[string]map[string]string{"ghcr.io": {"auth": basicAuthField(testenv.RegistryUser, testenv.RegistryPassword)}}),
		})
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "pull-secret", nsA))
		stack.Secure.ResetLog()
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 2)
		wantStderr(t, r, "has no credentials for the registry "+stack.Secure.Host, "has entries for: ghcr.io")
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("%d registry requests, want 0", n)
		}
	})
	t.Run("malformed auth field", func(t *testing.T) {
		newHome(t)
		putTypedSecret(t, nsA, "pull-secret", "kubernetes.io/dockerconfigjson", map[string]string{
			".dockerconfigjson": dockerConfigJSON(map[string]map[string]string{stack.Secure.Host: {"auth": "not base64!"}}),
		})
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "pull-secret", nsA))
		r := kubectl(t, "app", "-n", nsA)
		wantCode(t, r, 2)
		wantStderr(t, r, `"auth" field that is not valid base64`)
	})
}

func TestMutualTLSFromSecret(t *testing.T) {
	_, certPEM, keyPEM, err := clientCA.ClientCertificate("team-a")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(mtlsReg.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("client certificate and CA from the Secret", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsA, "mtls", map[string]string{"tls.crt": string(certPEM), "tls.key": string(keyPEM), "ca.crt": string(ca)})
		putComponent(t, nsA, "mtls", testenv.OCISource(mtlsApp.Ref, "mtls", nsA))
		// No --registry-ca-file: the Secret's ca.crt is trusted for this registry.
		r := kubectl(t, "mtls", "-n", nsA, "-o", "json")
		wantCode(t, r, 0)
		if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
			t.Errorf("key material in the output:\n%s", r)
		}
		if got := decodeJSON(t, r).Results[0]; got.Digest != mtlsApp.Digest || got.Credentials != "team-a/mtls" {
			t.Errorf("unexpected result %+v", got)
		}
	})
	t.Run("without a client certificate the registry refuses", func(t *testing.T) {
		newHome(t)
		putComponent(t, nsA, "mtls-anon", testenv.OCISource(mtlsApp.Ref, "", ""))
		r := kubectl(t, "mtls-anon", "-n", nsA, "--registry-ca-file", mtlsReg.CAFile)
		wantCode(t, r, 1)
		wantStderr(t, r, "the registry "+mtlsReg.Host+" requires a client certificate (mutual TLS), and none was given",
			"Hint: put tls.crt and tls.key in the Component's Secret, or pass --registry-cert-file and --registry-key-file")
	})
	t.Run("a client certificate from another CA", func(t *testing.T) {
		newHome(t)
		otherCA, err := testenv.NewCA()
		if err != nil {
			t.Fatal(err)
		}
		_, otherCert, otherKey, err := otherCA.ClientCertificate("stranger")
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := writePair(t, otherCert, otherKey)
		putComponent(t, nsA, "mtls-anon", testenv.OCISource(mtlsApp.Ref, "", ""))
		r := kubectl(t, "mtls-anon", "-n", nsA, "--registry-ca-file", mtlsReg.CAFile, "--registry-cert-file", certFile, "--registry-key-file", keyFile)
		wantCode(t, r, 1)
		wantStderr(t, r, "the registry "+mtlsReg.Host+" refused the client certificate")
	})
	t.Run("a client certificate from both the flags and the Secret", func(t *testing.T) {
		newHome(t)
		certFile, keyFile := writePair(t, certPEM, keyPEM)
		putSecret(t, nsA, "mtls", map[string]string{"tls.crt": string(certPEM), "tls.key": string(keyPEM)})
		putComponent(t, nsA, "mtls", testenv.OCISource(mtlsApp.Ref, "mtls", nsA))
		r := kubectl(t, "mtls", "-n", nsA, "--registry-ca-file", mtlsReg.CAFile, "--registry-cert-file", certFile, "--registry-key-file", keyFile)
		wantCode(t, r, 2)
		wantStderr(t, r, "both --registry-cert-file and the Secret's tls.crt give a client certificate")
	})
	t.Run("client certificate from the flags", func(t *testing.T) {
		newHome(t)
		certFile, keyFile := writePair(t, certPEM, keyPEM)
		putComponent(t, nsA, "mtls-anon", testenv.OCISource(mtlsApp.Ref, "", ""))
		r := kubectl(t, "mtls-anon", "-n", nsA, "--registry-ca-file", mtlsReg.CAFile, "--registry-cert-file", certFile, "--registry-key-file", keyFile)
		wantCode(t, r, 0)
	})
}

// writePair writes a client certificate and key for the --registry-*-file flags.
func writePair(t *testing.T, certPEM, keyPEM []byte) (string, string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestSecretBinding(t *testing.T) {
	t.Run("a Secret bound to another registry is refused before any request", func(t *testing.T) {
		newHome(t)
		creds := goodCreds()
		creds["registry"] = "ghcr.io, " + tokenReg.Host
		putSecret(t, nsSys, "shared", creds)
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "shared", nsSys))
		stack.Secure.ResetLog()
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 2)
		wantStderr(t, r, `secret "deployment-system/shared" is bound to ghcr.io, `+tokenReg.Host+`, not to the chart's registry `+stack.Secure.Host)
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("%d registry requests, want 0", n)
		}
	})
	t.Run("a bound Secret is used without a warning", func(t *testing.T) {
		newHome(t)
		creds := goodCreds()
		creds["registry"] = stack.Secure.Host
		putSecret(t, nsSys, "shared", creds)
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "shared", nsSys))
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 0)
		if strings.Contains(r.stderr, "Warning") {
			t.Errorf("unexpected warning:\n%s", r)
		}
	})
	t.Run("an unbound Secret from the system namespace is refused before any request", func(t *testing.T) {
		h := newHome(t)
		putSecret(t, nsSys, "shared", goodCreds())
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "shared", nsSys))
		stack.Secure.ResetLog()
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 2)
		wantStderr(t, r, `secret "deployment-system/shared" in the system namespace is bound to no registry: refusing to send its credentials to `+stack.Secure.Host,
			"stringData:\n      registry: <the registry host these credentials are for>", "--allow-unbound-secrets")
		if strings.Contains(r.stderr, "kubectl patch") || strings.Contains(strings.SplitN(r.stderr, "Hint:", 2)[1], stack.Secure.Host) {
			t.Errorf("the hint suggests a command, or the host the Component chose:\n%s", r)
		}
		if n := requests(stack.Secure); n != 0 {
			t.Errorf("%d registry requests, want 0", n)
		}
		assertNoCacheEntries(t, h)
	})
	t.Run("--allow-unbound-secrets restores the old behaviour with a warning", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsSys, "shared", goodCreds())
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "shared", nsSys))
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "--allow-unbound-secrets")
		wantCode(t, r, 0)
		wantStderr(t, r, `Warning: secret "deployment-system/shared" in the system namespace is bound to no registry and --allow-unbound-secrets is set: its credentials go to `+stack.Secure.Host)
		if strings.Contains(r.stderr, "kubectl patch") {
			t.Errorf("the warning builds a command:\n%s", r)
		}
	})
	// An unbound Secret in the Component's own namespace is the tenant's own:
	// no binding needed, no warning, the system namespace included.
	for name, ns := range map[string]string{
		"a Component in the system namespace may use an unbound Secret there": nsSys,
		"an unbound Secret from the Component's namespace does not warn":      nsA,
	} {
		t.Run(name, func(t *testing.T) {
			newHome(t)
			putSecret(t, ns, "own", goodCreds())
			putComponent(t, ns, "app", testenv.OCISource(app123.Ref, "own", ns))
			r := kubectl(t, "app", "-n", ns, "--registry-ca-file", stack.Secure.CAFile)
			wantCode(t, r, 0)
			if strings.Contains(r.stderr, "Warning") {
				t.Errorf("unexpected warning:\n%s", r)
			}
		})
	}
}

func TestRedirectedBlobsGetNoCredentials(t *testing.T) {
	newHome(t)
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app124.Ref, "creds", nsA))
	blobs.Put(app124.Blobs...)
	stack.Secure.RedirectBlobs(blobs)
	t.Cleanup(func() { stack.Secure.RedirectBlobs(nil) })
	stack.Secure.ResetLog()

	r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	wantCode(t, r, 0)
	if got := decodeJSON(t, r).Results[0]; got.Digest != app124.Digest {
		t.Errorf("digest %s, want %s", got.Digest, app124.Digest)
	}
	redirects := 0
	for _, req := range stack.Secure.Requests() {
		if req.Status == 307 {
			redirects++
		}
	}
	served := blobs.Requests()
	if redirects == 0 || len(served) == 0 {
		t.Fatalf("no redirect happened: %d redirects, blob server saw %v", redirects, served)
	}
	for _, req := range served {
		if req.Authorized {
			t.Errorf("the blob server (another host:port) received the Authorization header: %s %s", req.Method, req.Path)
		}
	}
	// A 401 from the redirect target says what happened: no credentials
	// went there, so they were not refused.
	t.Run("a 401 from the redirect target", func(t *testing.T) {
		newHome(t)
		blobs.Refuse(401)
		t.Cleanup(func() { blobs.Refuse(0) })
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 1)
		wantStderr(t, r, "the registry "+stack.Secure.Host+" redirected the download to "+strings.TrimPrefix(blobs.URL, "https://")+", which answered 401 Unauthorized; no credentials are sent to another host")
		if strings.Contains(r.stderr, "refused the credentials") {
			t.Errorf("it blames the credentials:\n%s", r)
		}
	})
}

func TestPlainHTTPCredentials(t *testing.T) {
	t.Run("refused to a host that is not this machine", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsA, "creds", goodCreds())
		putComponent(t, nsA, "remote", testenv.OCISource("oci://10.255.255.1:5000/charts/app:1.0.0", "creds", nsA))
		r := kubectl(t, "remote", "-n", nsA, "--plain-http")
		wantCode(t, r, 2)
		wantStderr(t, r, "Warning: --plain-http is set", "refusing to send credentials over plain HTTP to 10.255.255.1:5000", "--allow-plain-http-credentials")
		// Allowed explicitly (a dry run, so nothing is sent).
		r = kubectl(t, "remote", "-n", nsA, "--plain-http", "--allow-plain-http-credentials", "--dry-run")
		wantCode(t, r, 0)
	})
	t.Run("allowed to this machine, with a warning", func(t *testing.T) {
		newHome(t)
		plain, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), PlainHTTP: true, Users: map[string]string{testenv.RegistryUser: testenv.RegistryPassword}})
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		c, err := testenv.BuildChart("plain", "0.0.1", 0)
		if err != nil {
			t.Fatal(err)
		}
		p, err := plain.PushChart(context.Background(), "charts/plain", c, testenv.RegistryUser, testenv.RegistryPassword)
		if err != nil {
			t.Fatal(err)
		}
		putSecret(t, nsA, "creds", goodCreds())
		putComponent(t, nsA, "plain", testenv.OCISource(p.Ref, "creds", nsA))
		r := kubectl(t, "plain", "-n", nsA, "--plain-http")
		wantCode(t, r, 0)
		wantStderr(t, r, "Warning: --plain-http is set")
		// And never plain HTTP unless asked: the default is HTTPS, and the
		// error says what the registry did and how to allow it.
		r = kubectl(t, "plain", "-n", nsA)
		wantCode(t, r, 1)
		wantStderr(t, r, "the registry "+plain.Host+" answers plain HTTP, not HTTPS",
			"Hint: if "+plain.Host+" is meant to speak plain HTTP (a registry on a trusted network), set plainHTTP: true for its prefix in the registry policy file, or pass --plain-http")
	})
}

func TestRestrictedUser(t *testing.T) {
	newHome(t)
	ctx := context.Background()
	kubeconfig, err := stack.Cluster.AddUser("dev-" + strings.ToLower(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	user := "dev-" + strings.ToLower(t.Name())
	if err := stack.Cluster.Grant(ctx, nsA, user, "deploy.example.io", []string{"components"}, []string{"get", "list"}); err != nil {
		t.Fatal(err)
	}
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
	stack.Secure.ResetLog()

	r := runFace(t, "kubectl-component_pull", nil, "--kubeconfig", kubeconfig, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 1)
	wantStderr(t, r, `reading secret "team-a/creds": forbidden: your identity cannot get secrets in namespace "team-a", which is searched first because it is the Component's namespace`,
		`Hint: a Component with a secretRef needs "get" on secrets in its own namespace "team-a" (kubectl auth can-i get secret/creds -n team-a), and in the system namespace "deployment-system" when the Secret lives there`)
	if n := requests(stack.Secure); n != 0 {
		t.Errorf("%d registry requests, want 0", n)
	}
	// The same user cannot read Components elsewhere either: the message says so.
	putComponent(t, nsB, "app", testenv.OCISource(app123.Ref, "", ""))
	r = runFace(t, "kubectl-component_pull", nil, "--kubeconfig", kubeconfig, "app", "-n", nsB)
	wantCode(t, r, 1)
	wantStderr(t, r, "forbidden", `ask for permission to get and list components in namespace "team-b"`)
}

// TestDocumentedRBAC: the permissions the README lists are enough, and the
// case the README warns about (Secrets readable only in the system
// namespace) fails with a message that says which rule needs what.
func TestDocumentedRBAC(t *testing.T) {
	ctx := context.Background()
	user := "rbac-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	kubeconfig, err := stack.Cluster.AddUser(user)
	if err != nil {
		t.Fatal(err)
	}
	const ns = "rbac-team"
	if err := stack.Cluster.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	putSecret(t, nsSys, "rbac-shared", boundCreds(stack.Secure.Host))
	putComponent(t, ns, "app", testenv.OCISource(app123.Ref, "rbac-shared", nsSys))
	if err := stack.Cluster.Grant(ctx, ns, user, "deploy.example.io", []string{"components"}, []string{"get"}); err != nil {
		t.Fatal(err)
	}
	if err := stack.Cluster.Grant(ctx, nsSys, user, "", []string{"secrets"}, []string{"get"}); err != nil {
		t.Fatal(err)
	}
	// canI is the kubectl auth can-i command the hint prints.
	var canI []string
	t.Run("secrets readable only in the system namespace", func(t *testing.T) {
		newHome(t)
		r := runFace(t, "kubectl-component_pull", nil, "--kubeconfig", kubeconfig, "app", "-n", ns, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 1)
		wantStderr(t, r, `cannot get secrets in namespace "rbac-team", which is searched first because it is the Component's namespace`,
			`needs "get" on secrets in its own namespace "rbac-team"`, `and in the system namespace "deployment-system" when the Secret lives there`)
	})
	t.Run("the hint checks the identity the run used", func(t *testing.T) {
		newHome(t)
		r := kubectl(t, "app", "-n", ns, "--as", user, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 1)
		wantStderr(t, r, "kubectl auth can-i get secret/rbac-shared -n "+ns+" --as "+user+")")
		// The hint's command, run as printed by the real kubectl (as the
		// admin who may impersonate), says no.
		canI = regexp.MustCompile(`\(kubectl (auth can-i [^)]*)\)`).FindStringSubmatch(r.stderr)
		if canI == nil {
			t.Fatalf("no kubectl auth can-i command in the hint:\n%s", r.stderr)
		}
		if out, code := kubectlCLI(t, canI[1]); code != 1 || out != "no" {
			t.Errorf("kubectl %s: %q, exit %d; want no, exit 1", canI[1], out, code)
		}
		// Helm's face: --kube-as-user reaches ocisrc as HELM_KUBEASUSER.
		r = runFace(t, "ocisrc", map[string]string{"HELM_PLUGIN_NAME": "ocisrc", "HELM_NAMESPACE": ns, "KUBECONFIG": stack.Cluster.Kubeconfig, "HELM_KUBEASUSER": user},
			"fetch", "app", "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 1)
		wantStderr(t, r, "--as "+user+")")
	})
	t.Run("the documented Role", func(t *testing.T) {
		newHome(t)
		if err := stack.Cluster.Grant(ctx, ns, user, "", []string{"secrets"}, []string{"get"}); err != nil {
			t.Fatal(err)
		}
		r := runFace(t, "kubectl-component_pull", nil, "--kubeconfig", kubeconfig, "app", "-n", ns, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 0)
		// The hint's command now says yes: it checked what was missing.
		if canI == nil {
			t.Fatal("the hint's command was not found")
		}
		if out, code := kubectlCLI(t, canI[1]); code != 0 || out != "yes" {
			t.Errorf("kubectl %s: %q, exit %d; want yes, exit 0", canI[1], out, code)
		}
	})
}

// kubectlCLI runs the real kubectl with the admin's kubeconfig: its
// trimmed stdout and exit code.
func kubectlCLI(t *testing.T, args string) (string, int) {
	t.Helper()
	c := exec.Command("kubectl", append(strings.Fields(args), "--kubeconfig", stack.Cluster.Kubeconfig)...)
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return strings.TrimSpace(out.String()), ee.ExitCode()
	case err != nil:
		t.Fatalf("kubectl %s: %v (the integration tests run the pinned kubectl, tools/kubernetes)", args, err)
	}
	return strings.TrimSpace(out.String()), 0
}

func TestLoginLogout(t *testing.T) {
	h := newHome(t)
	putSecret(t, nsSys, "shared", boundCreds(stack.Secure.Host))
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "shared", nsSys))
	helmEnv := map[string]string{"HELM_PLUGIN_NAME": "ocisrc", "HELM_NAMESPACE": nsA, "KUBECONFIG": stack.Cluster.Kubeconfig}
	config := h.Env["HELM_REGISTRY_CONFIG"]

	r := runFace(t, "ocisrc", helmEnv, "login", "app")
	wantCode(t, r, 0)
	if want := "Logged in to " + stack.Secure.Host + " with secret deployment-system/shared (stored in " + config + ")\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	info, err := os.Stat(config)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("registry config mode %v, want 0600", info.Mode().Perm())
	}
	data, _ := os.ReadFile(config)
	var doc struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("registry config is not a docker config: %v", err)
	}
	if got := doc.Auths[stack.Secure.Host].Auth; got != basicAuthField(testenv.RegistryUser, testenv.RegistryPassword) {
		t.Errorf("registry config entry for %s is wrong (%d bytes)", stack.Secure.Host, len(got))
	}
	// Only the registry config holds the credential.
	leaks, _ := h.FindSecrets(testenv.RegistryPassword)
	for _, l := range leaks {
		if l.Where != config {
			t.Errorf("credential written elsewhere: %s", l)
		}
	}

	// The real helm uses what login stored.
	helm, err := testenv.ToolPath("helm3", "helm")
	if err != nil {
		t.Fatal(err)
	}
	pull := exec.Command(helm, "pull", "oci://"+stack.Secure.Host+"/charts/app", "--version", "1.2.3", "--ca-file", stack.Secure.CAFile, "-d", t.TempDir())
	pull.Env = h.Environ(nil)
	if out, err := pull.CombinedOutput(); err != nil {
		t.Errorf("helm pull after login: %v\n%s", err, out)
	}

	r = runFace(t, "ocisrc", helmEnv, "logout", "app")
	wantCode(t, r, 0)
	data, _ = os.ReadFile(config)
	if strings.Contains(string(data), stack.Secure.Host) {
		t.Errorf("logout left the entry:\n%s", data)
	}
	// As helm registry logout: nothing to remove is a warning, not a failure.
	r = runFace(t, "ocisrc", helmEnv, "logout", "app")
	wantCode(t, r, 0)
	wantStderr(t, r, "Warning: not logged in to "+stack.Secure.Host)

	// Login needs credentials.
	putComponent(t, nsA, "anon", testenv.OCISource(openApp.Ref, "", ""))
	r = runFace(t, "ocisrc", helmEnv, "login", "anon")
	wantCode(t, r, 2)
	wantStderr(t, r, "has no spec.source.authentication")
	// A Secret with TLS material only: the error names it and the Component.
	ca, err := os.ReadFile(mtlsReg.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	_, certPEM, keyPEM, err := clientCA.ClientCertificate("tls-only")
	if err != nil {
		t.Fatal(err)
	}
	putSecret(t, nsA, "tls-only", map[string]string{"ca.crt": string(ca), "tls.crt": string(certPEM), "tls.key": string(keyPEM)})
	putComponent(t, nsA, "tls-only", testenv.OCISource(mtlsApp.Ref, "tls-only", nsA))
	r = runFace(t, "ocisrc", helmEnv, "login", "tls-only")
	wantCode(t, r, 2)
	wantStderr(t, r, `secret "team-a/tls-only", which component "team-a/tls-only" names, holds no registry credential to log in with (only TLS material`,
		"Hint: helm needs no login for this registry")

	// Afterwards nothing holds the password any more.
	if err := os.Remove(config); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// TestRefusalNamesTheSecretUsed: when the registry refuses the credentials,
// the error names the Secret that was sent, and says when it was the
// Component's own — without reading the system namespace's Secret of the
// same name to find out (see TestOnlyTheSecretNeededIsRead).
func TestRefusalNamesTheSecretUsed(t *testing.T) {
	t.Run("shadowed", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsSys, "registry-credentials", boundCreds(stack.Secure.Host))
		putSecret(t, nsA, "registry-credentials", map[string]string{"username": testenv.RegistryUser, "password": testenv.WrongPassword})
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "registry-credentials", nsSys))
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
		wantCode(t, r, 1)
		wantStderr(t, r,
			`the registry `+stack.Secure.Host+` refused the credentials from secret "team-a/registry-credentials" (401 unauthorized)`,
			`Hint: check the values in secret "team-a/registry-credentials"`,
			`secret "team-a/registry-credentials" in the Component's namespace was used: the Component's namespace is searched first, so a Secret of the same name in the system namespace "deployment-system", if any, was not read`)
		if got := decodeJSON(t, r).Results[0].Error; !strings.Contains(got, `from secret "team-a/registry-credentials"`) {
			t.Errorf("the JSON error does not name the Secret: %q", got)
		}
	})
	t.Run("not shadowed", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsSys, "registry-credentials", map[string]string{"username": testenv.RegistryUser, "password": testenv.WrongPassword, "registry": stack.Secure.Host})
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "registry-credentials", nsSys))
		r := kubectl(t, "app", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 1)
		wantStderr(t, r, `refused the credentials from secret "deployment-system/registry-credentials" (401 unauthorized)`,
			`Hint: check the values in secret "deployment-system/registry-credentials"`)
		if strings.Contains(r.stderr, "in the Component's namespace was used") {
			t.Errorf("no Secret of the Component's namespace here:\n%s", r)
		}
	})
	t.Run("a bad key in a shadowing Secret", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsSys, "registry-credentials", boundCreds(stack.Secure.Host))
		putSecret(t, nsA, "registry-credentials", map[string]string{"username": testenv.RegistryUser})
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "registry-credentials", nsSys))
		r := kubectl(t, "app", "-n", nsA)
		wantCode(t, r, 2)
		wantStderr(t, r, `secret "team-a/registry-credentials" cannot be used for registry authentication`,
			`in the Component's namespace was used: the Component's namespace is searched first`)
	})
	t.Run("a binding mismatch in a shadowing Secret", func(t *testing.T) {
		newHome(t)
		putSecret(t, nsSys, "registry-credentials", boundCreds(stack.Secure.Host))
		creds := goodCreds()
		creds["registry"] = "ghcr.io"
		putSecret(t, nsA, "registry-credentials", creds)
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "registry-credentials", nsSys))
		r := kubectl(t, "app", "-n", nsA)
		wantCode(t, r, 2)
		wantStderr(t, r, `secret "team-a/registry-credentials" is bound to ghcr.io`, `in the Component's namespace was used: the Component's namespace is searched first`)
	})
}

// TestLoginWithACredentialHelper: a registry config that names a credential
// helper would make helm ignore what login writes; login says so and writes
// nothing.
func TestLoginWithACredentialHelper(t *testing.T) {
	for name, cfg := range map[string]string{
		"credsStore":  `{"auths":{},"credsStore":"osxkeychain"}`,
		"credHelpers": `{"credHelpers":{"HOST":"secretservice"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			h := newHome(t)
			putSecret(t, nsA, "creds", goodCreds())
			putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
			config := h.Env["HELM_REGISTRY_CONFIG"]
			cfg = strings.ReplaceAll(cfg, "HOST", stack.Secure.Host)
			if err := os.MkdirAll(filepath.Dir(config), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runFace(t, "ocisrc", map[string]string{"HELM_PLUGIN_NAME": "ocisrc", "HELM_NAMESPACE": nsA, "KUBECONFIG": stack.Cluster.Kubeconfig}, "login", "app")
			wantCode(t, r, 2)
			wantStderr(t, r, "names the credential helper", "("+name+")", "which helm would ask instead of the file", "Hint: use \"fetch\", which needs no login")
			if got, _ := os.ReadFile(config); string(got) != cfg {
				t.Errorf("login changed the registry config:\n%s", got)
			}
		})
	}
}
