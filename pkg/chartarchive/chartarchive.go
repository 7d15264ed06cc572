// Package chartarchive expands a Helm chart archive (a gzipped tar whose
// files are under one top directory, as helm package writes it) into a
// directory, as helm pull --untar does, without loading the chart.
//
// The archive comes from a registry: it is untrusted input, so this is a
// leaf (the standard library only) with a fuzz target. Files are written
// through an os.Root, so no name in the archive reaches outside the
// directory; only regular files and directories are taken (a link, a
// device or a sparse entry is refused); the expanded size is bounded.
package chartarchive

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
)

// Error is an archive that cannot be expanded, and why.
type Error struct {
	Reason string
}

func (e *Error) Error() string { return "the chart archive " + e.Reason }

func refuse(format string, a ...any) error {
	return &Error{Reason: fmt.Sprintf(format, a...)}
}

// Expand writes the files of the chart archive r into root, without the
// archive's top directory (chart/templates/x.yaml lands at
// templates/x.yaml), as Helm's loader reads them. It reads at most limit
// bytes of expanded content, and refuses an archive with no Chart.yaml at
// its top.
func Expand(r io.Reader, root *os.Root, limit int64) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return refuse("is not gzip-compressed")
	}
	tr := tar.NewReader(gz)
	var written int64
	top, chartYAML := "", false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return refuse("is not a valid tar file")
		}
		name := strings.ReplaceAll(h.Name, "\\", "/")
		if sparse(h) {
			return refuse("holds %s as a sparse file", strconv.QuoteToASCII(h.Name))
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir:
		case tar.TypeXGlobalHeader, tar.TypeXHeader:
			continue
		default:
			return refuse("holds %s, which is not a regular file or a directory", strconv.QuoteToASCII(h.Name))
		}
		if strings.HasPrefix(name, "/") || path.IsAbs(name) {
			return refuse("holds the absolute path %s", strconv.QuoteToASCII(h.Name))
		}
		clean := path.Clean(name)
		for _, part := range strings.Split(clean, "/") {
			if part == ".." {
				return refuse("holds the path %s, which leaves its directory", strconv.QuoteToASCII(h.Name))
			}
		}
		first, rest, _ := strings.Cut(clean, "/")
		switch {
		case top == "":
			top = first
		case first != top:
			return refuse("holds files under %s and %s: a chart has one top directory", strconv.QuoteToASCII(top), strconv.QuoteToASCII(first))
		}
		if rest == "" || rest == "." {
			continue
		}
		if h.Typeflag == tar.TypeDir {
			if err := root.MkdirAll(rest, 0o755); err != nil {
				return refuse("cannot be expanded: %v", unwrap(err))
			}
			continue
		}
		if h.Size < 0 || written+h.Size > limit {
			return refuse("expands to more than %d bytes", limit)
		}
		if dir := path.Dir(rest); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return refuse("cannot be expanded: %v", unwrap(err))
			}
		}
		out, err := root.OpenFile(rest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			return refuse("holds %s twice", strconv.QuoteToASCII(h.Name))
		}
		if err != nil {
			return refuse("cannot be expanded: %v", unwrap(err))
		}
		n, err := io.Copy(out, io.LimitReader(tr, h.Size))
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil || n != h.Size {
			return refuse("is truncated at %s", strconv.QuoteToASCII(h.Name))
		}
		written += n
		if rest == "Chart.yaml" {
			chartYAML = true
		}
	}
	if !chartYAML {
		return refuse("has no Chart.yaml in its top directory")
	}
	return nil
}

// sparse reports a tar entry in any of the sparse formats (old GNU, or the
// PAX GNU.sparse.* records, which the reader expands silently).
func sparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
