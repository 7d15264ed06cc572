// Package integration runs the fetch command in-process against a real
// kube-apiserver + etcd and real distribution registries (internal/testenv).
package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/ocisrc/ocisrc/internal/testenv"
	"github.com/ocisrc/ocisrc/pkg/cmd"
)

// Namespaces used by the tests.
const (
	nsA   = "team-a"
	nsB   = "team-b"
	nsSys = "deployment-system"
)

// identityToken is the OAuth2 refresh token the token server accepts.
const identityToken = "idtok-never-print-me-7Yq2"

var (
	stack *testenv.Stack
	// Charts pushed once for all tests.
	app123, app124, appPlus, openApp *testenv.Pushed

	// A registry with a token realm, one that requires client certificates,
	// and the object storage blob downloads can be redirected to.
	tokenServer *testenv.TokenServer
	tokenReg    *testenv.Registry
	tokenApp    *testenv.Pushed
	mtlsReg     *testenv.Registry
	mtlsApp     *testenv.Pushed
	clientCA    *testenv.CA
	blobs       *testenv.BlobServer

	// binary is ocisrc built for the tests that need its process (klog
	// writes to the process's stderr).
	binary string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ocisrc-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if _, err := testenv.UseKubectl(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	stack, err = testenv.StartStack(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	defer stack.Stop()

	ctx := context.Background()
	for _, p := range []struct {
		out          **testenv.Pushed
		reg          *testenv.Registry
		name, verson string
	}{
		{&app123, stack.Secure, "app", "1.2.3"},
		{&app124, stack.Secure, "app", "1.2.4"},
		{&appPlus, stack.Secure, "app", "1.0.0+build.7"},
		{&openApp, stack.Open, "web", "0.1.0"},
	} {
		if *p.out, err = stack.PushChart(ctx, p.reg, p.name, p.verson); err != nil {
			fmt.Fprintf(os.Stderr, "integration: %v\n", err)
			return 1
		}
	}
	if err := startExtraRegistries(ctx, dir); err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	defer tokenServer.Close()
	defer tokenReg.Close()
	defer mtlsReg.Close()
	defer blobs.Close()
	if binary, err = buildBinary(dir); err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	for _, ns := range []string{nsA, nsB, nsSys} {
		if err := stack.Cluster.EnsureNamespace(ctx, ns); err != nil {
			fmt.Fprintf(os.Stderr, "integration: %v\n", err)
			return 1
		}
	}
	return m.Run()
}

// result is one run of the command line.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// env is a fresh Home for one test; its variables are set for the test's
// duration (the command reads Helm's cache location from the environment).
func newHome(t *testing.T) *testenv.Home {
	t.Helper()
	h, err := testenv.NewHome(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h.Env {
		t.Setenv(k, v)
	}
	for _, k := range []string{"HELM_PLUGIN_NAME", "HELM_NAMESPACE", "KUBECONFIG", "OCISRC_SYSTEM_NAMESPACE"} {
		t.Setenv(k, "")
	}
	t.Cleanup(func() { assertNoSecretsIn(t, h) })
	return h
}

// kubectl runs the kubectl face (kubectl component-pull) in-process with the
// admin kubeconfig.
func kubectl(t *testing.T, args ...string) result {
	t.Helper()
	return runFace(t, cmd.KubectlPluginBinary, nil, append([]string{"--kubeconfig", stack.Cluster.Kubeconfig}, args...)...)
}

func runFace(t *testing.T, argv0 string, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	code := cmd.Main(context.Background(), argv0, args, streams, getenv)
	r := result{stdout: out.String(), stderr: errOut.String(), code: code}
	assertNoSecrets(t, "output", r.stdout+r.stderr)
	return r
}

var plantedSecrets = []string{testenv.RegistryPassword, testenv.WrongPassword, "tok-never-print-me", identityToken}

func assertNoSecrets(t *testing.T, where, s string) {
	t.Helper()
	for _, v := range plantedSecrets {
		if strings.Contains(s, v) {
			t.Errorf("secret value leaked into %s:\n%s", where, s)
		}
	}
}

func assertNoSecretsIn(t *testing.T, h *testenv.Home) {
	t.Helper()
	leaks, err := h.FindSecrets(plantedSecrets...)
	if err != nil {
		t.Errorf("scanning %s: %v", h.Dir, err)
	}
	for _, l := range leaks {
		t.Errorf("secret leaked to disk: %s", l)
	}
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit %d, got:\n%s", code, r)
	}
}

func wantStderr(t *testing.T, r result, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("stderr does not contain %q:\n%s", p, r)
		}
	}
}

// putSecret plants registry credentials; the test removes them afterwards.
func putSecret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	ctx := context.Background()
	if err := stack.Cluster.PutSecret(ctx, ns, name, data); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Cluster.DeleteSecret(ctx, ns, name) })
}

func putComponent(t *testing.T, ns, name string, source any) {
	t.Helper()
	if err := stack.Cluster.PutComponent(context.Background(), ns, name, source); err != nil {
		t.Fatal(err)
	}
}

func goodCreds() map[string]string {
	return map[string]string{"username": testenv.RegistryUser, "password": testenv.RegistryPassword}
}

// boundCreds are goodCreds bound to host, as a shared Secret in the system
// namespace must be.
func boundCreds(host string) map[string]string {
	c := goodCreds()
	c["registry"] = host
	return c
}

// requests counts the registry requests since the last reset.
func requests(reg *testenv.Registry) int { return len(reg.Requests()) }

func startExtraRegistries(ctx context.Context, dir string) error {
	ca := stack.Secure.CA
	var err error
	for _, sub := range []string{"token", "mtls"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	tokenServer, err = testenv.NewTokenServer(filepath.Join(dir, "token"), ca,
		map[string]string{testenv.RegistryUser: testenv.RegistryPassword},
		map[string]string{identityToken: testenv.RegistryUser})
	if err != nil {
		return err
	}
	if tokenReg, err = testenv.NewRegistry(testenv.RegistryOptions{Dir: filepath.Join(dir, "token"), CA: ca, Token: tokenServer}); err != nil {
		return err
	}
	c, err := testenv.BuildChart("tok", "2.0.0", 0)
	if err != nil {
		return err
	}
	if tokenApp, err = tokenReg.PushChart(ctx, "charts/tok", c, testenv.RegistryUser, testenv.RegistryPassword); err != nil {
		return err
	}
	if clientCA, err = testenv.NewCA(); err != nil {
		return err
	}
	if mtlsReg, err = testenv.NewRegistry(testenv.RegistryOptions{Dir: filepath.Join(dir, "mtls"), CA: ca, ClientCA: clientCA}); err != nil {
		return err
	}
	cert, _, _, err := clientCA.ClientCertificate("pusher")
	if err != nil {
		return err
	}
	mtlsReg.ClientCertificate = &cert
	if c, err = testenv.BuildChart("mtls", "3.0.0", 0); err != nil {
		return err
	}
	if mtlsApp, err = mtlsReg.PushChart(ctx, "charts/mtls", c, "", ""); err != nil {
		return err
	}
	blobs, err = testenv.NewBlobServer(ca)
	return err
}

func buildBinary(dir string) (string, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "bin", "ocisrc")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ocisrc")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building ocisrc: %w\n%s", err, out)
	}
	return bin, nil
}
