package testenv

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Home is a throwaway user environment: HOME, the Helm and Docker config and
// cache directories and TMPDIR, all under one directory, so a test can check
// afterwards what the binary wrote.
type Home struct {
	Dir string
	// Env holds HOME, XDG_*, HELM_*, DOCKER_CONFIG and TMPDIR pointing inside Dir.
	Env map[string]string
}

// NewHome lays out a fresh Home under dir.
func NewHome(dir string) (*Home, error) {
	h := &Home{Dir: dir, Env: map[string]string{}}
	dirs := map[string]string{
		"HOME":             "home",
		"XDG_CACHE_HOME":   "home/.cache",
		"XDG_CONFIG_HOME":  "home/.config",
		"XDG_DATA_HOME":    "home/.local/share",
		"HELM_CACHE_HOME":  "helm/cache",
		"HELM_CONFIG_HOME": "helm/config",
		"HELM_DATA_HOME":   "helm/data",
		"DOCKER_CONFIG":    "docker",
		"TMPDIR":           "tmp",
	}
	for env, rel := range dirs {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, err
		}
		h.Env[env] = p
	}
	h.Env["HELM_REPOSITORY_CACHE"] = filepath.Join(dir, "helm/cache/repository")
	h.Env["HELM_REGISTRY_CONFIG"] = filepath.Join(dir, "helm/config/registry/config.json")
	h.Env["HELM_PLUGINS"] = filepath.Join(dir, "helm/data/plugins")
	h.Env["KREW_ROOT"] = filepath.Join(dir, "krew")
	return h, nil
}

// Environ is os.Environ() with the Home's variables (and extra) replacing
// the process's own.
func (h *Home) Environ(extra map[string]string) []string {
	over := map[string]string{}
	for k, v := range h.Env {
		over[k] = v
	}
	for k, v := range extra {
		over[k] = v
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := over[k]; ok || strings.HasPrefix(k, "HELM_") || k == "KUBECONFIG" {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range over {
		env = append(env, k+"="+v)
	}
	return env
}

// Leak is a secret value found somewhere it must not be.
type Leak struct {
	Where string
	Value string
}

func (l Leak) String() string { return fmt.Sprintf("%q found in %s", l.Value, l.Where) }

// FindSecrets reports every file under the Home that contains one of the
// values (which are credentials the test planted).
func (h *Home) FindSecrets(values ...string) ([]Leak, error) {
	var leaks []Leak
	err := filepath.WalkDir(h.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range values {
			if v != "" && bytes.Contains(data, []byte(v)) {
				leaks = append(leaks, Leak{Where: path, Value: v})
			}
		}
		return nil
	})
	return leaks, err
}

// Files lists the regular files under dir (relative), for assertions on what
// was written.
func Files(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}
