// Package integration runs the fetch command in-process against a real
// kube-apiserver + etcd and real distribution registries (internal/testenv).
package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
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

var (
	stack *testenv.Stack
	// Charts pushed once for all tests.
	app123, app124, appPlus, openApp *testenv.Pushed
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

var plantedSecrets = []string{testenv.RegistryPassword, testenv.WrongPassword, "tok-never-print-me"}

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

// requests counts the registry requests since the last reset.
func requests(reg *testenv.Registry) int { return len(reg.Requests()) }
