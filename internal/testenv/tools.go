// Package testenv brings up the real parts ocisrc's integration and
// end-to-end tests (and `make demo`) run against: a kube-apiserver + etcd
// (controller-runtime's envtest, never downloading anything), a distribution
// registry in-process behind TLS with htpasswd users, and the real kubectl,
// helm and krew binaries.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// RepoRoot is the directory of ocisrc's go.mod, found from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module github.com/ocisrc/ocisrc\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: cannot find the ocisrc module root above the working directory")
		}
		dir = parent
	}
}

var toolDirs sync.Map // tool name -> directory

// ToolDir returns the directory holding a pinned test tool's binaries (see
// tools/build.sh). The Makefile exports OCISRC_TOOL_<NAME>_DIR for each; without
// it the tool is built (once, then cached outside the checkout).
func ToolDir(name string) (string, error) {
	if d, ok := toolDirs.Load(name); ok {
		return d.(string), nil
	}
	env := "OCISRC_TOOL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_DIR"
	if d := os.Getenv(env); d != "" {
		toolDirs.Store(name, d)
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	script, args := "build.sh", []string{name}
	if name == "wine" {
		script, args = "wine.sh", nil
	}
	cmd := exec.Command(filepath.Join(root, "tools", script), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("testenv: building tool %s: %w\n%s", name, err, stderr.String())
	}
	d := strings.TrimSpace(string(out))
	toolDirs.Store(name, d)
	return d, nil
}

// ToolPath is the path of binary bin of tool name.
func ToolPath(name, bin string) (string, error) {
	dir, err := ToolDir(name)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, bin)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("testenv: tool %s has no binary %s in %s", name, bin, dir)
	}
	return p, nil
}

// UseKubectl puts the pinned kubectl (tools/kubernetes) first on this
// process's PATH, so that every "kubectl" the tests, the benchmarks and the
// demo run, and every plugin they start, is that one; its directory is
// returned.
func UseKubectl() (string, error) {
	pinned, err := ToolPath("kubectl", "kubectl")
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(pinned)
	if err := os.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH")); err != nil {
		return "", err
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		return "", fmt.Errorf("testenv: the pinned kubectl is not found on PATH: %w", err)
	}
	if p != pinned {
		return "", fmt.Errorf("testenv: kubectl on PATH is %q, not the pinned %s", p, pinned)
	}
	return dir, nil
}
