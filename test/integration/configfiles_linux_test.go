package integration

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// TestConfigFilesAreNotOpened: fetch neither reads nor writes the user's
// Docker config or Helm's registry config. inotify reports every open of
// the watched files while the real binary runs; there must be none.
func TestConfigFilesAreNotOpened(t *testing.T) {
	h := newHome(t)
	poison := `{"auths":{"` + stack.Secure.Host + `":{"auth":"` + basicAuthField(testenv.RegistryUser, testenv.WrongPassword) + `"}}}`
	files := []string{
		filepath.Join(h.Env["DOCKER_CONFIG"], "config.json"),
		filepath.Join(h.Env["HOME"], ".docker", "config.json"),
		h.Env["HELM_REGISTRY_CONFIG"],
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(poison), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := unix.InotifyAddWatch(fd, f, unix.IN_OPEN|unix.IN_ACCESS|unix.IN_MODIFY); err != nil {
			t.Fatal(err)
		}
	}
	putSecret(t, nsA, "creds", goodCreds())
	putComponent(t, nsA, "app", testenv.OCISource(app124.Ref, "creds", nsA))
	putComponent(t, nsA, "anon", testenv.OCISource(openApp.Ref, "", ""))
	for _, name := range []string{"app", "anon"} {
		// The real binary, in its own process, as users run it.
		r := runBinary(t, h, nil, "fetch", name, "-n", nsA, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-ca-file", stack.Secure.CAFile)
		wantCode(t, r, 0)
	}
	buf := make([]byte, 64*1024)
	n, err := unix.Read(fd, buf)
	if err != nil && err != unix.EAGAIN {
		t.Fatal(err)
	}
	if n > 0 {
		t.Errorf("the binary opened the Docker or Helm registry config (%d bytes of inotify events for %v)", n, files)
	}
}
