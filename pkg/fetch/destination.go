package fetch

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"

	"github.com/ocisrc/ocisrc/pkg/clierror"
)

// checkDestination refuses, before any download, an --untar that would
// overwrite an existing chart directory (as helm pull --untar does).
func checkDestination(dir, chart string, untar bool) error {
	if !untar {
		return nil
	}
	target := filepath.Join(dir, chart)
	if _, err := os.Lstat(target); err == nil {
		return clierror.InvalidWithHint(
			fmt.Errorf("--untar: %q already exists", target),
			"remove it, or pass another --destination")
	}
	return nil
}

// placeChart copies the cached archive into dir (creating dir), or expands it there
// with untar. Either the whole result appears or nothing does: the file is
// written beside its final name and renamed; the chart is expanded into a
// temporary directory inside dir and renamed to dir/<chart>.
func placeChart(archive, dir, chart string, untar bool) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating --destination %q: %w", dir, errors.Unwrap(err))
	}
	if untar {
		return expand(archive, dir, chart)
	}
	dest := filepath.Join(dir, filepath.Base(archive))
	if err := copyAtomic(archive, dest); err != nil {
		return "", fmt.Errorf("writing %q: %w", dest, err)
	}
	return dest, nil
}

func expand(archive, dir, chart string) (string, error) {
	target := filepath.Join(dir, chart)
	tmp, err := os.MkdirTemp(dir, ".ocisrc-untar-")
	if err != nil {
		return "", fmt.Errorf("expanding into --destination %q: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	if err := chartutil.ExpandFile(tmp, archive); err != nil {
		return "", fmt.Errorf("expanding %q: %w", archive, err)
	}
	if err := os.Rename(filepath.Join(tmp, chart), target); err != nil {
		if _, serr := os.Lstat(target); serr == nil {
			return "", clierror.InvalidWithHint(fmt.Errorf("--untar: %q already exists", target), "remove it, or pass another --destination")
		}
		return "", fmt.Errorf("expanding into %q: %w", target, err)
	}
	return target, nil
}

func copyAtomic(src, dest string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dest), ".ocisrc-*.tgz.tmp")
	if err != nil {
		return err
	}
	tmp := out.Name()
	ok := false
	defer func() {
		if !ok {
			_ = out.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil && !errors.Is(err, fs.ErrPermission) {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return err
	}
	ok = true
	return nil
}
