package fetch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/chartarchive"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/oci"
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

// placeChart copies the entry's archive out of the store into dir (creating
// dir), or expands it there with untar. The bytes are hashed as they leave
// the store (cache.ChartStore.CopyArchive and OpenArchive): bytes that are
// not the chart layer's are never placed. Either the whole result appears
// or nothing does: the file is written beside its final name and renamed;
// the chart is expanded into a temporary directory inside dir and renamed
// to dir/<chart>.
func placeChart(store *cache.ChartStore, e *cache.Entry, dir string, untar bool) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating --destination %q: %w", dir, errors.Unwrap(err))
	}
	if untar {
		return expand(store, e, dir)
	}
	dest := filepath.Join(dir, e.FileName())
	if err := copyOut(store, e, dest); err != nil {
		return "", fmt.Errorf("writing %q: %w", dest, err)
	}
	return dest, nil
}

// expand expands the entry's archive into dir/<chart>.
func expand(store *cache.ChartStore, e *cache.Entry, dir string) (string, error) {
	target := filepath.Join(dir, e.Chart)
	tmp, err := os.MkdirTemp(dir, ".ocisrc-untar-")
	if err != nil {
		return "", fmt.Errorf("expanding into --destination %q: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, e.Chart), 0o755); err != nil {
		return "", fmt.Errorf("expanding into --destination %q: %w", dir, err)
	}
	root, err := os.OpenRoot(filepath.Join(tmp, e.Chart))
	if err != nil {
		return "", fmt.Errorf("expanding into --destination %q: %w", dir, err)
	}
	defer root.Close()
	a, err := store.OpenArchive(e)
	if err != nil {
		return "", err
	}
	defer a.Close()
	if err := chartarchive.Expand(a, root, oci.DefaultMaxChartSize); err != nil {
		if verr := a.Verify(); verr != nil {
			return "", verr
		}
		return "", fmt.Errorf("expanding %s: %w", e.FileName(), err)
	}
	if err := a.Verify(); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(tmp, e.Chart), target); err != nil {
		if _, serr := os.Lstat(target); serr == nil {
			return "", clierror.InvalidWithHint(fmt.Errorf("--untar: %q already exists", target), "remove it, or pass another --destination")
		}
		return "", fmt.Errorf("expanding into %q: %w", target, err)
	}
	return target, nil
}

// copyOut copies the entry's archive to dest through a temporary file
// beside it, renamed into place only when the copy hashed to the chart
// layer's digest.
func copyOut(store *cache.ChartStore, e *cache.Entry, dest string) error {
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
	if err := store.CopyArchive(e, out); err != nil {
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
