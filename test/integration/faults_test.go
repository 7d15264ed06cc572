package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// faultProxy starts a fault-injecting proxy in front of the real registry,
// and a Component "faulty" in team-a whose chart is reached through it.
func faultProxy(t *testing.T, chart *testenv.Pushed) *testenv.FaultProxy {
	t.Helper()
	fp, err := testenv.NewFaultProxy(stack.Secure, stack.Secure.CA)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fp.Close)
	ref := strings.Replace(chart.Ref, stack.Secure.Host, fp.Host, 1)
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "faulty", testenv.OCISource(ref, "creds", nsA))
	return fp
}

func statuses(reqs []testenv.Request, pathContains string) []int {
	var out []int
	for _, r := range reqs {
		if strings.Contains(r.Path, pathContains) {
			out = append(out, r.Status)
		}
	}
	return out
}

func TestRegistryFaults(t *testing.T) {
	blob := "/blobs/" + app123.LayerDigest
	for name, tc := range map[string]struct {
		rules    []*testenv.Rule
		args     []string
		wantCode int
		want     []string
		check    func(t *testing.T, reqs []testenv.Request)
	}{
		"503 burst that clears": {
			rules: []*testenv.Rule{{Method: "GET", PathContains: "/manifests/", Times: 3, Fault: testenv.Fault{Status: 503}}},
			check: func(t *testing.T, reqs []testenv.Request) {
				if got := statuses(reqs, "/manifests/"); len(got) < 4 || got[0] != 503 || got[2] != 503 || got[len(got)-1] != 200 {
					t.Errorf("manifest requests %v: want three 503s, then a 200", got)
				}
			},
		},
		"500 burst on the chart blob that clears": {
			rules: []*testenv.Rule{{Method: "GET", PathContains: blob, Times: 2, Fault: testenv.Fault{Status: 500}}},
		},
		"500 that does not clear": {
			rules:    []*testenv.Rule{{Method: "GET", PathContains: blob, Fault: testenv.Fault{Status: 500}}},
			wantCode: 1,
			want:     []string{"answered 500 Internal Server Error to GET /v2/charts/app" + blob, "Hint: the registry kept failing after 5 retries"},
			check: func(t *testing.T, reqs []testenv.Request) {
				if got := statuses(reqs, blob); len(got) != 6 {
					t.Errorf("chart blob requests %v: want the first and 5 retries", got)
				}
			},
		},
		"429 with Retry-After": {
			rules: []*testenv.Rule{{Method: "GET", PathContains: "/manifests/", Times: 2, Fault: testenv.Fault{Status: 429, RetryAfter: 1}}},
			check: func(t *testing.T, reqs []testenv.Request) {
				got := statuses(reqs, "/manifests/")
				if len(got) < 3 || got[0] != 429 || got[1] != 429 || got[len(got)-1] != 200 {
					t.Errorf("manifest requests %v: want 429, 429, then (after the first 401) 200", got)
				}
			},
		},
		"429 with a Retry-After of an hour is bounded": {
			rules: []*testenv.Rule{{Method: "GET", PathContains: "/manifests/", Times: 1, Fault: testenv.Fault{Status: 429, RetryAfter: 3600}}},
		},
		"connection reset in the middle of the chart": {
			rules:    []*testenv.Rule{{Method: "GET", PathContains: blob, Fault: testenv.Fault{Reset: true}}},
			wantCode: 1,
			want:     []string{"the connection to ", "broke during the download", "Hint: try again; nothing was written"},
		},
		"a chart blob cut short": {
			rules:    []*testenv.Rule{{Method: "GET", PathContains: blob, Fault: testenv.Fault{Truncate: true}}},
			wantCode: 1,
			want:     []string{"does not match its digest or size"},
		},
		"a chart blob whose bytes do not match its digest": {
			rules:    []*testenv.Rule{{Method: "GET", PathContains: blob, Fault: testenv.Fault{Corrupt: true}}},
			wantCode: 1,
			want:     []string{"does not match its digest or size"},
		},
		"a manifest larger than any chart's": {
			rules:    []*testenv.Rule{{Method: "GET", PathContains: "/manifests/", Fault: testenv.Fault{Pad: 5 << 20}}},
			wantCode: 1,
			want:     []string{"served a manifest larger than the limit for manifests"},
		},
		"a chart larger than --max-chart-size": {
			args:     []string{"--max-chart-size", "100"},
			wantCode: 1,
			want:     []string{"more than the maximum chart size of 100 B", "Hint: raise --max-chart-size"},
		},
		"a registry that stalls past --timeout": {
			rules:    []*testenv.Rule{{Method: "GET", PathContains: "/manifests/", Fault: testenv.Fault{Stall: true}}},
			args:     []string{"--timeout", "2s"},
			wantCode: 1,
			want:     []string{"timed out", "Hint: raise --timeout"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHome(t)
			fp := faultProxy(t, app123)
			fp.Set(tc.rules...)
			r := kubectl(t, append([]string{"faulty", "-n", nsA, "--registry-ca-file", stack.Secure.CAFile, "-o", "json"}, tc.args...)...)
			wantCode(t, r, tc.wantCode)
			wantStderr(t, r, tc.want...)
			if tc.check != nil {
				tc.check(t, fp.Requests())
			}
			if tc.wantCode != 0 {
				assertNoCacheEntries(t, h)
				return
			}
			if got := decodeJSON(t, r).Results[0]; fileDigest(t, got.Path) != app123.LayerDigest {
				t.Errorf("the cached chart does not hash to its layer digest")
			}
		})
	}
}

// startBinary starts the built binary on a Component whose registry stalls,
// and returns once the stalled request has reached the proxy.
func startBinary(t *testing.T, h *testenv.Home, fp *testenv.FaultProxy) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary, "fetch", "faulty", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Secure.CAFile)
	return startCmd(t, h, fp, cmd)
}

// startBinaryArgs starts the binary with args; the caller waits for it.
func startBinaryArgs(t *testing.T, h *testenv.Home, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = h.Environ(nil)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &errOut
}

func startCmd(t *testing.T, h *testenv.Home, fp *testenv.FaultProxy, cmd *exec.Cmd) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd.Env = h.Environ(nil)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(fp.Requests()) == 0; {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the pull never reached the registry\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // inside the stalled download now
	return cmd, &errOut
}

func TestInterruption(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			h := newHome(t)
			fp := faultProxy(t, app123)
			fp.Set(&testenv.Rule{Method: "GET", PathContains: "/blobs/" + app123.LayerDigest, Fault: testenv.Fault{Stall: true}})
			cmd, errOut := startBinary(t, h, fp)
			sent := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("still running 20s after %s", sig)
			}
			t.Logf("exited %v after %s", time.Since(sent).Round(time.Millisecond), sig)
			if want := 128 + int(sig); cmd.ProcessState.ExitCode() != want {
				t.Errorf("exit %d, want %d\n%s", cmd.ProcessState.ExitCode(), want, errOut)
			}
			name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig]
			if !strings.Contains(errOut.String(), "Error: interrupted ("+name+"): nothing was written") {
				t.Errorf("stderr:\n%s", errOut)
			}
			assertNoCacheEntries(t, h)
		})
	}
}

func TestKilledProcessLeavesNothingBroken(t *testing.T) {
	h := newHome(t)
	fp := faultProxy(t, app123)

	// kill -9 in the middle of the download: no entry is written, only the
	// temporary file the chart was streaming to, named after the process.
	fp.Set(&testenv.Rule{Method: "GET", PathContains: "/blobs/" + app123.LayerDigest, Fault: testenv.Fault{Stall: true}})
	cmd, _ := startBinary(t, h, fp)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	partial, err := testenv.Files(h.Env["HELM_REPOSITORY_CACHE"])
	if err != nil {
		t.Fatal(err)
	}
	var streamed []string
	for _, f := range partial {
		if !strings.HasPrefix(f, fmt.Sprintf("ocisrc/sha256/.tmp-%d-", cmd.Process.Pid)) || !strings.HasSuffix(f, ".tgz") {
			t.Errorf("after kill -9 the cache holds %s, want no entry", f)
		}
		streamed = append(streamed, filepath.Join(h.Env["HELM_REPOSITORY_CACHE"], f))
	}

	// kill -9 between the temporary write and the rename leaves what this
	// simulates: a temporary entry directory and a temporary index file of
	// a process that is gone (the one just killed), and an old one of an
	// earlier ocisrc without a process id.
	store := filepath.Join(h.Env["HELM_REPOSITORY_CACHE"], "ocisrc")
	dead := cmd.Process.Pid
	leftovers := []string{filepath.Join(store, "sha256", fmt.Sprintf(".tmp-%d-123", dead)), filepath.Join(store, "index", fmt.Sprintf(".tmp-%d-456", dead)), filepath.Join(store, "hosts", ".tmp-789")}
	// A live writer's temporary file (this test process's) is kept.
	live := filepath.Join(store, "index", fmt.Sprintf(".tmp-%d-live", os.Getpid()))
	if err := os.MkdirAll(filepath.Dir(leftovers[2]), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leftovers[2], nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(leftovers[0], 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(leftovers[0], "app-1.2.3.tgz"), []byte("half a chart"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(leftovers[1]), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leftovers[1], []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(leftovers[2], old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(live, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The next run is correct and cleans up.
	fp.Set()
	r := runBinary(t, h, nil, "fetch", "faulty", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	if r.code != 0 {
		t.Fatalf("the run after a crash: %s", r)
	}
	for _, p := range append(leftovers, streamed...) {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("leftover %s is still there", p)
		}
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live writer's temporary file was removed: %v", err)
	}
	files, _ := testenv.Files(filepath.Join(store, "sha256"))
	hex := strings.TrimPrefix(app123.Digest, "sha256:")
	if strings.Join(files, ",") != hex+"/app-1.2.3.tgz,"+hex+"/config.json,"+hex+"/entry.json,"+hex+"/manifest.json" {
		t.Errorf("the cache holds %v", files)
	}

	// A run that writes nothing (a cache hit) removes a fresh leftover too.
	if err := os.MkdirAll(leftovers[0], 0o755); err != nil {
		t.Fatal(err)
	}
	r = runBinary(t, h, nil, "fetch", "faulty", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Secure.CAFile, "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"cached": true`) {
		t.Fatalf("the warm run: %s", r)
	}
	if _, err := os.Stat(leftovers[0]); !os.IsNotExist(err) {
		t.Errorf("a warm run left %s", leftovers[0])
	}
}

func TestClusterFaults(t *testing.T) {
	newHome(t)
	cfg, err := clientcmd.LoadFromFile(stack.Cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	write := func(t *testing.T, mutate func(c *clientcmdapi.Config)) string {
		t.Helper()
		c := cfg.DeepCopy()
		mutate(c)
		p := filepath.Join(t.TempDir(), "kubeconfig")
		if err := clientcmd.WriteToFile(*c, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("API server unreachable", func(t *testing.T) {
		kc := write(t, func(c *clientcmdapi.Config) { c.Clusters["test"].Server = "https://127.0.0.1:1" })
		r := runFace(t, "kubectl-component_pull", nil, "--kubeconfig", kc, "app", "-n", nsA)
		wantCode(t, r, 1)
		wantStderr(t, r, "the Kubernetes API server https://127.0.0.1:1 cannot be reached: connection refused", "Hint: check the cluster is up")
	})
	t.Run("API server unreachable, through the binary: no client-go log lines", func(t *testing.T) {
		kc := write(t, func(c *clientcmdapi.Config) { c.Clusters["test"].Server = "https://127.0.0.1:1" })
		h := mustHome(t, t.TempDir())
		r := runBinary(t, h, nil, "fetch", "app", "-n", nsA, "--kubeconfig", kc)
		wantCode(t, r, 1)
		if !strings.HasPrefix(r.stderr, "Error: the Kubernetes API server https://127.0.0.1:1 cannot be reached") || strings.Contains(r.stderr, "memcache.go") {
			t.Errorf("stderr should be the one error:\n%s", r.stderr)
		}
		// -v=1 and up show them again.
		r = runBinary(t, h, nil, "fetch", "app", "-n", nsA, "--kubeconfig", kc, "-v=1")
		if !strings.Contains(r.stderr, "Couldn't get current server API group list") {
			t.Errorf("-v=1 hides client-go's log:\n%s", r.stderr)
		}
	})
	for _, face := range []struct {
		name string
		args []string
	}{
		{"fetch", []string{"fetch", "app", "-n", nsA}},
		{"login", []string{"login", "app", "-n", nsA}},
	} {
		t.Run("an API server that accepts and never answers, "+face.name, func(t *testing.T) {
			stall := testenv.NewStallingServer()
			defer stall.Close()
			h := mustHome(t, t.TempDir())
			args := append(append([]string{}, face.args...), "--kubeconfig", stack.Cluster.Kubeconfig, "--server", "https://"+stall.Addr, "--timeout", "2s")
			r := runBinary(t, h, nil, args...)
			wantCode(t, r, 1)
			wantStderr(t, r, "the Kubernetes API server did not answer within --timeout", "Hint: raise --timeout")
			if stall.Accepted() == 0 {
				t.Error("the stalling server saw no connection: the test proves nothing")
			}
		})
	}
	// Commands that need the cluster only for its registry policy say so,
	// name the flag that skips it, and are bounded by --timeout.
	for _, cmd := range [][]string{
		{"policy", "explain", app123.Ref},
		{"bundle", "push", "missing.tar", "--to", stack.Open.Host + "/x"},
	} {
		t.Run("no cluster for the policy: "+strings.Join(cmd[:2], " "), func(t *testing.T) {
			stall := testenv.NewStallingServer()
			defer stall.Close()
			h := mustHome(t, t.TempDir())
			args := append(append([]string{}, cmd...), "--kubeconfig", stack.Cluster.Kubeconfig, "--server", "https://"+stall.Addr, "--timeout", "2s")
			if cmd[0] == "bundle" {
				// A bundle to push: the cluster is read after the bundle is checked.
				args[2] = bundleForFaults(t)
			}
			r := runBinary(t, h, nil, args...)
			wantCode(t, r, 1)
			wantStderr(t, r, "reading the cluster's registry policy, ConfigMap deployment-system/ocisrc-registry-policy: the Kubernetes API server did not answer within --timeout",
				"Hint: pass --cluster-registry-policy=false to go on with the local policy file only; or raise --timeout")
			if stall.Accepted() == 0 {
				t.Error("the stalling server saw no connection: the test proves nothing")
			}
			if cmd[0] == "policy" {
				r = runBinary(t, h, nil, append(args, "--cluster-registry-policy=false")...)
				wantCode(t, r, 0)
				// Nothing listening at all: the same advice.
				r = runBinary(t, h, nil, append(append([]string{}, cmd...), "--kubeconfig", stack.Cluster.Kubeconfig, "--server", "https://"+closedPort(t))...)
				wantCode(t, r, 1)
				wantStderr(t, r, "reading the cluster's registry policy, ConfigMap deployment-system/ocisrc-registry-policy: the Kubernetes API server https://", "cannot be reached",
					"Hint: pass --cluster-registry-policy=false to go on with the local policy file only; or check the cluster is up")
			}
		})
	}
	t.Run("API server certificate not trusted", func(t *testing.T) {
		other, err := testenv.NewCA()
		if err != nil {
			t.Fatal(err)
		}
		kc := write(t, func(c *clientcmdapi.Config) { c.Clusters["test"].CertificateAuthorityData = other.CertPEM })
		r := runFace(t, "kubectl-component_pull", nil, "--kubeconfig", kc, "app", "-n", nsA)
		wantCode(t, r, 1)
		wantStderr(t, r, "the Kubernetes API server's certificate cannot be verified", "Hint: check certificate-authority")
	})
	t.Run("a Secret deleted before it is read", func(t *testing.T) {
		putSecret(t, nsA, "gone", goodCreds())
		putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "gone", nsA))
		if err := stack.Cluster.DeleteSecret(context.Background(), nsA, "gone"); err != nil {
			t.Fatal(err)
		}
		r := kubectl(t, "app", "-n", nsA)
		wantCode(t, r, 1)
		wantStderr(t, r, `secret "gone" not found in namespaces "team-a" or "deployment-system"`)
	})
}

// bundleForFaults writes a bundle of app123 (created through the cache).
func bundleForFaults(t *testing.T) string {
	t.Helper()
	newHome(t)
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app123.Ref, "creds", nsA))
	file := filepath.Join(t.TempDir(), "charts.tar")
	r := runFace(t, "ocisrc", nil, "bundle", "create", file, "app", "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Secure.CAFile)
	wantCode(t, r, 0)
	return file
}
