package integration

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// TestNoCredentialLeaksAtHighestVerbosity runs every credential scenario
// through the binary at -v=10 (the highest klog level; client-go logs
// request and response bodies from 8 up) with HELM_DEBUG=true, and searches
// stdout, stderr and every file under HOME, the Helm and Docker directories
// and TMPDIR for the planted values and their encodings.
func TestNoCredentialLeaksAtHighestVerbosity(t *testing.T) {
	registryToken := mustMint(t, "charts/tok")
	_, certPEM, keyPEM, err := clientCA.ClientCertificate("leak-test")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(mtlsReg.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	// The key's base64 body, as it would appear in a log or a file.
	keyBody := strings.Split(strings.TrimSpace(string(keyPEM)), "\n")[1]

	values := []string{testenv.RegistryPassword, testenv.WrongPassword, identityToken, registryToken, keyBody}
	var needles []string
	for _, v := range values {
		needles = append(needles, v,
			base64.StdEncoding.EncodeToString([]byte(v)),
			base64.StdEncoding.EncodeToString([]byte(testenv.RegistryUser+":"+v)))
	}

	for name, tc := range map[string]struct {
		data     map[string]string
		typ      string
		chart    string
		caFile   string
		wantCode int
	}{
		"username and password":   {data: goodCreds(), chart: app123.Ref, caFile: stack.Secure.CAFile},
		"wrong password":          {data: map[string]string{"username": testenv.RegistryUser, "password": testenv.WrongPassword}, chart: app123.Ref, caFile: stack.Secure.CAFile, wantCode: 1},
		"token as password":       {data: map[string]string{"username": testenv.RegistryUser, "token": testenv.RegistryPassword}, chart: app123.Ref, caFile: stack.Secure.CAFile},
		"identitytoken":           {data: map[string]string{"identitytoken": identityToken}, chart: tokenApp.Ref, caFile: tokenReg.CAFile},
		"registry token":          {data: map[string]string{"token": registryToken}, chart: tokenApp.Ref, caFile: tokenReg.CAFile},
		"client certificate":      {data: map[string]string{"tls.crt": string(certPEM), "tls.key": string(keyPEM), "ca.crt": string(ca)}, chart: mtlsApp.Ref},
		"bad keys":                {data: map[string]string{"username": testenv.RegistryUser, "password": testenv.RegistryPassword, "token": registryToken}, chart: app123.Ref, wantCode: 2},
		"bound to another host":   {data: map[string]string{"token": registryToken, "registry": "ghcr.io"}, chart: app123.Ref, wantCode: 2},
		"dockerconfigjson":        {typ: "kubernetes.io/dockerconfigjson", data: map[string]string{".dockerconfigjson": dockerConfigJSON(map[string]map[string]string{stack.Secure.Host: {"auth": basicAuthField(testenv.RegistryUser, testenv.RegistryPassword)}})}, chart: app123.Ref, caFile: stack.Secure.CAFile},
		"dockerconfigjson, wrong": {typ: "kubernetes.io/dockerconfigjson", data: map[string]string{".dockerconfigjson": dockerConfigJSON(map[string]map[string]string{stack.Secure.Host: {"auth": basicAuthField(testenv.RegistryUser, testenv.WrongPassword)}})}, chart: app123.Ref, caFile: stack.Secure.CAFile, wantCode: 1},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := testenv.NewHome(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			typ := tc.typ
			if typ == "" {
				typ = "Opaque"
			}
			putTypedSecret(t, nsA, "leaky", typ, tc.data)
			putComponent(t, nsA, "leaky", testenv.OCISource(tc.chart, "leaky", nsA))
			args := []string{"fetch", "leaky", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "-v=10", "-o", "json"}
			if tc.caFile != "" {
				args = append(args, "--registry-ca-file", tc.caFile)
			}
			r := runBinary(t, h, map[string]string{"HELM_DEBUG": "true"}, args...)
			out, errOut, code := r.stdout, r.stderr, r.code
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", code, tc.wantCode, tail(errOut))
			}
			// -v=10 must really be on: client-go logs requests and bodies (not the Secret's).
			if !strings.Contains(errOut, `"Response Body"`) || !strings.Contains(errOut, "/secrets/leaky") {
				t.Errorf("no request log at -v=10; the test would prove nothing:\n%s", tail(errOut))
			}
			for _, n := range needles {
				for where, s := range map[string]string{"stdout": out, "stderr": errOut} {
					if strings.Contains(s, n) {
						t.Errorf("a credential (%d chars) leaked into %s", len(n), where)
					}
				}
			}
			leaks, err := h.FindSecrets(needles...)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range leaks {
				t.Errorf("a credential leaked to %s", filepath.Base(l.Where))
			}
		})
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}
