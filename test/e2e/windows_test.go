package e2e

import (
	"archive/zip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// TestWindowsUnderWine runs the Windows release binary — ocisrc.exe from
// the release zip, as krew installs it on Windows — under Wine: "version",
// and one fetch against the real API server and registry.
func TestWindowsUnderWine(t *testing.T) {
	wineDir, err := testenv.ToolDir("wine")
	if err != nil {
		t.Fatal(err)
	}
	wine := filepath.Join(wineDir, "wine64")
	exe := filepath.Join(t.TempDir(), "ocisrc.exe")
	extract(t, filepath.Join(dist, "ocisrc_"+version+"_windows_amd64.zip"), "ocisrc.exe", exe)

	// A fresh Wine prefix, with the stand-in for the bcryptprimitives.dll
	// that Wine 8 lacks (tools/wine.sh).
	prefix := filepath.Join(t.TempDir(), "wine")
	env := []string{"WINEPREFIX=" + prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=", "HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH")}
	boot := exec.Command(wine, "wineboot", "--init")
	boot.Env = env
	if out, err := boot.CombinedOutput(); err != nil {
		t.Fatalf("wineboot: %v\n%s", err, out)
	}
	wait := exec.Command(filepath.Join(filepath.Dir(mustEval(t, wine)), "wineserver"), "-w")
	wait.Env = env
	_ = wait.Run()
	dll, err := os.ReadFile(filepath.Join(wineDir, "bcryptprimitives.dll"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll"), dll, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		kill := exec.Command(filepath.Join(filepath.Dir(mustEval(t, wine)), "wineserver"), "-k")
		kill.Env = env
		_ = kill.Run()
	})

	// Linux paths, as Windows sees them through Wine's Z: drive.
	winPath := func(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }
	h := newHome(t)
	cache := filepath.Join(h.Dir, "wincache")
	runWine := func(args ...string) (string, string, int) {
		t.Helper()
		return run(t, h, map[string]string{
			"WINEPREFIX": prefix, "WINEDEBUG": "-all",
			"HELM_REPOSITORY_CACHE": winPath(cache),
		}, wine, append([]string{exe}, args...)...)
	}

	stdout, stderr, code := runWine("version")
	if code != 0 || !strings.Contains(stdout, "windows/amd64") {
		t.Fatalf("ocisrc.exe version: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runWine("fetch", "app", "-n", "team-a", "--kubeconfig", winPath(stack.Cluster.Kubeconfig),
		"--registry-ca-file", winPath(stack.Secure.CAFile), "-o", "json")
	if code != 0 {
		t.Fatalf("ocisrc.exe fetch: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, app.Digest) || !strings.Contains(stdout, `"credentials": "deployment-system/registry-credentials"`) {
		t.Errorf("unexpected output:\n%s", stdout)
	}
	files, err := testenv.Files(cache)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join("ocisrc", "sha256", strings.TrimPrefix(app.Digest, "sha256:"), "app-1.2.3.tgz")
	found := false
	for _, f := range files {
		found = found || f == want
	}
	if !found {
		t.Errorf("the chart is not in the cache the Windows binary was given: %v", files)
	}
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// extract copies member name of the zip archive to dest.
func extract(t *testing.T, archive, name, dest string) {
	t.Helper()
	zr, err := zip.OpenReader(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name != name {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		out, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, rc); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s has no %s", archive, name)
}
