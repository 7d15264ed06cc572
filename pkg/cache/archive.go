package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
)

// ErrArchiveChanged is an archive whose bytes, as they were copied out of
// the cache, did not hash to the chart layer's digest: the file was changed
// after the entry was proven. Whatever received the copy must be discarded.
var ErrArchiveChanged error = archiveChanged{}

type archiveChanged struct{}

func (archiveChanged) Error() string {
	return "the cached archive changed after it was verified: its bytes do not hash to the chart layer's digest"
}

// Reason is the failure's reason for programs.
func (archiveChanged) Reason() string { return "CacheChanged" }

// hashArchive checks that the regular file name holds size bytes that hash
// to digest. The size is checked on the open file before a byte is read, so
// a huge (or sparse) file is refused at once, not hashed to its end.
func (s *ChartStore) hashArchive(name, digest string, size int64) error {
	f, info, err := s.openRegular(name)
	if err != nil {
		return fmt.Errorf("cannot be read: %w", unwrapPath(err))
	}
	defer f.Close()
	if info.Size() != size {
		return fmt.Errorf("is %d bytes, not the chart layer's %d", info.Size(), size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, size+1)); err != nil {
		return fmt.Errorf("cannot be read: %w", err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return fmt.Errorf("hashes to %s, not %s", got, digest)
	}
	return nil
}

// Archive is a proven entry's archive opened for reading: the only way its
// bytes leave the cache. It hashes what is read; Verify reads what is left
// and reports ErrArchiveChanged unless everything hashed to the chart
// layer's digest and size.
type Archive struct {
	f      *os.File
	r      io.Reader
	h      hash.Hash
	n      int64
	digest string
	size   int64
}

// OpenArchive opens e's archive without following links, its size checked
// against the chart layer's before a byte is read.
func (s *ChartStore) OpenArchive(e *Entry) (*Archive, error) {
	dir, err := entryDir(e.ManifestDigest)
	if err != nil {
		return nil, err
	}
	if s.root == nil {
		return nil, ErrMiss
	}
	name := path.Join(dir, e.FileName())
	f, info, err := s.openRegular(name)
	if err != nil {
		return nil, fmt.Errorf("reading the cached chart %q: %w", s.display(name), unwrapPath(err))
	}
	if info.Size() != e.Size {
		_ = f.Close()
		return nil, ErrArchiveChanged
	}
	a := &Archive{f: f, h: sha256.New(), digest: e.ChartDigest, size: e.Size}
	a.r = io.TeeReader(io.LimitReader(f, e.Size+1), a.h)
	return a, nil
}

func (a *Archive) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	a.n += int64(n)
	return n, err
}

// Verify reads the rest of the archive and checks what was read.
func (a *Archive) Verify() error {
	if _, err := io.Copy(io.Discard, a); err != nil {
		return err
	}
	if a.n != a.size || "sha256:"+hex.EncodeToString(a.h.Sum(nil)) != a.digest {
		return ErrArchiveChanged
	}
	return nil
}

// Close closes the file.
func (a *Archive) Close() error { return a.f.Close() }

// CopyArchive writes e's archive to w, hashing it as it is written, and
// fails with ErrArchiveChanged when the bytes written are not the chart
// layer's: the caller then discards what w received.
func (s *ChartStore) CopyArchive(e *Entry, w io.Writer) error {
	a, err := s.OpenArchive(e)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := io.Copy(w, a); err != nil {
		return err
	}
	return a.Verify()
}
