// Command dist is `make dist`: it cross-builds ocisrc and writes the release
// files into dist/:
//
//	ocisrc_<version>_<os>_<arch>.tar.gz (.zip on Windows)   the binary and LICENSE (krew, the install hook)
//	ocisrc-<version>-<os>-<arch>.tgz                        the Helm command plugin, binary included
//	ocisrc-getter-<version>-<os>-<arch>.tgz                 the Helm downloader plugin, binary included
//
// The plugin archives are named and laid out as Helm 4 installs a local
// archive (<plugin>-<version>….tgz holding <plugin>/plugin.yaml); Helm 3
// installs the extracted directory.
//
//	checksums.txt                                           sha256 of every archive
//	krew/component-pull.yaml                                the krew manifest of kubectl component-pull
//	krew/ocisrc.yaml                                        the krew manifest of kubectl ocisrc (every command)
//
// Archives are reproducible: fixed file times and modes, sorted entries.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"
)

// allPlatforms are the platforms a release carries.
const allPlatforms = "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64,windows/arm64"

// epoch is the modification time of every archived file.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	out := flag.String("out", "dist", "output directory")
	platforms := flag.String("platforms", allPlatforms, "comma-separated os/arch list")
	version := flag.String("version", "", "version (default: plugin.yaml's)")
	releaseURL := flag.String("release-url", "https://github.com/ocisrc/ocisrc/releases/download", "where the archives will be published (the krew manifest points there)")
	flag.Parse()
	if err := run(*out, strings.Split(*platforms, ","), *version, *releaseURL); err != nil {
		fmt.Fprintf(os.Stderr, "dist: %v\n", err)
		os.Exit(1)
	}
}

// file is one archive member.
type file struct {
	name string
	data []byte
	mode int64
}

type platform struct {
	OS, Arch, URI, SHA256, Bin string
}

func run(out string, platforms []string, version, releaseURL string) error {
	manifest, err := os.ReadFile("plugin.yaml")
	if err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	if version == "" {
		m := regexp.MustCompile(`(?m)^version:\s*"?([^"\s]+)"?`).FindSubmatch(manifest)
		if m == nil {
			return fmt.Errorf("plugin.yaml has no version")
		}
		version = string(m[1])
	}
	version = strings.TrimPrefix(version, "v")
	read := func(p string) []byte {
		data, err2 := os.ReadFile(p)
		if err2 != nil && err == nil {
			err = err2
		}
		return data
	}
	license := read("LICENSE")
	complete := read("plugin.complete")
	installSh := read("plugin/install-binary.sh")
	installPs1 := read("plugin/install-binary.ps1")
	getterManifest := read("plugin/downloader/plugin.yaml")
	templates := map[string][]byte{
		"component-pull": read("krew/component-pull.yaml.tmpl"),
		"ocisrc":         read("krew/ocisrc.yaml.tmpl"),
	}
	if err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "krew"), 0o755); err != nil {
		return err
	}
	sums := map[string]string{}
	var krew []platform
	for _, p := range platforms {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok {
			return fmt.Errorf("platform %q: expected os/arch", p)
		}
		bin := "ocisrc"
		if goos == "windows" {
			bin += ".exe"
		}
		fmt.Fprintf(os.Stderr, "dist: building %s/%s\n", goos, goarch)
		exe, err := build(goos, goarch, version)
		if err != nil {
			return err
		}
		binFile := file{name: bin, data: exe, mode: 0o755}
		lic := file{name: "LICENSE", data: license, mode: 0o644}

		base := fmt.Sprintf("ocisrc_%s_%s_%s", version, goos, goarch)
		var name string
		var data []byte
		if goos == "windows" {
			name = base + ".zip"
			data, err = zipOf([]file{binFile, lic})
		} else {
			name = base + ".tar.gz"
			data, err = tgzOf([]file{binFile, lic})
		}
		if err != nil {
			return err
		}
		if err := write(out, name, data, sums); err != nil {
			return err
		}
		krew = append(krew, platform{OS: goos, Arch: goarch, URI: releaseURL + "/v" + version + "/" + name, SHA256: sums[name], Bin: bin})

		pluginBin := file{name: "ocisrc/bin/" + bin, data: exe, mode: 0o755}
		command, err := tgzOf([]file{
			{name: "ocisrc/plugin.yaml", data: manifest, mode: 0o644},
			{name: "ocisrc/plugin.complete", data: complete, mode: 0o755},
			{name: "ocisrc/plugin/install-binary.sh", data: installSh, mode: 0o755},
			{name: "ocisrc/plugin/install-binary.ps1", data: installPs1, mode: 0o644},
			{name: "ocisrc/LICENSE", data: license, mode: 0o644},
			pluginBin,
		})
		if err != nil {
			return err
		}
		if err := write(out, fmt.Sprintf("ocisrc-%s-%s-%s.tgz", version, goos, goarch), command, sums); err != nil {
			return err
		}
		getter, err := tgzOf([]file{
			{name: "ocisrc-getter/plugin.yaml", data: getterManifest, mode: 0o644},
			{name: "ocisrc-getter/install-binary.sh", data: installSh, mode: 0o755},
			{name: "ocisrc-getter/install-binary.ps1", data: installPs1, mode: 0o644},
			{name: "ocisrc-getter/LICENSE", data: license, mode: 0o644},
			{name: "ocisrc-getter/bin/" + bin, data: exe, mode: 0o755},
		})
		if err != nil {
			return err
		}
		if err := write(out, fmt.Sprintf("ocisrc-getter-%s-%s-%s.tgz", version, goos, goarch), getter, sums); err != nil {
			return err
		}
	}

	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", sums[n], n)
	}
	if err := os.WriteFile(filepath.Join(out, "checksums.txt"), []byte(b.String()), 0o644); err != nil {
		return err
	}

	var written []string
	for _, name := range []string{"component-pull", "ocisrc"} {
		t, err := template.New("krew").Parse(string(templates[name]))
		if err != nil {
			return fmt.Errorf("krew/%s.yaml.tmpl: %w", name, err)
		}
		var rendered bytes.Buffer
		if err := t.Execute(&rendered, struct {
			Version   string
			Platforms []platform
		}{"v" + version, krew}); err != nil {
			return err
		}
		krewPath := filepath.Join(out, "krew", name+".yaml")
		if err := os.WriteFile(krewPath, rendered.Bytes(), 0o644); err != nil {
			return err
		}
		written = append(written, krewPath)
	}
	fmt.Fprintf(os.Stderr, "dist: wrote %d archives, checksums.txt and %s\n", len(names), strings.Join(written, " and "))
	return nil
}

// build cross-compiles the binary for goos/goarch, stripped and stamped.
func build(goos, goarch, version string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "ocisrc-dist-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	exe := filepath.Join(tmp, "ocisrc")
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X github.com/ocisrc/ocisrc/pkg/version.version=v"+version,
		"-o", exe, "./cmd/ocisrc")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("building for %s/%s: %w", goos, goarch, err)
	}
	return os.ReadFile(exe)
}

func write(dir, name string, data []byte, sums map[string]string) error {
	sum := sha256.Sum256(data)
	sums[name] = hex.EncodeToString(sum[:])
	return os.WriteFile(filepath.Join(dir, name), data, 0o644)
}

func tgzOf(files []file) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	gz.ModTime = epoch
	tw := tar.NewWriter(gz)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.name); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var ds []string
	for d := range dirs {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	for _, d := range ds {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func zipOf(files []file) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: epoch}
		h.SetMode(os.FileMode(f.mode))
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := io.Copy(w, bytes.NewReader(f.data)); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
