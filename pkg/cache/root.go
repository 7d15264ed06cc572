package cache

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// The store's file operations. Each takes a slash-separated name inside the
// store and goes through its os.Root: a name cannot leave the directory, a
// link cannot lead out of it, and the store's own directories (sha256,
// index, proofs, hosts, and each entry's) must be directories, never links.
// A regular file is opened only if it is the file that Lstat saw.

// errNotDirectory is a store directory that is a link or a file.
type errNotDirectory struct{ name string }

func (e errNotDirectory) Error() string {
	return fmt.Sprintf("%s is not a directory (a link or a file stands in its place): the cache does not follow it", e.name)
}

// checkDirs checks that every directory on the way to name (name's parent
// directories) is a directory and not a link.
func (s *ChartStore) checkDirs(name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	return s.checkDir(dir)
}

// checkDir checks that dir and each of its parents in the store is a
// directory, not a link.
func (s *ChartStore) checkDir(dir string) error {
	if s.root == nil {
		return fs.ErrNotExist
	}
	walked := ""
	for _, part := range strings.Split(dir, "/") {
		walked = path.Join(walked, part)
		info, err := s.root.Lstat(walked)
		if err != nil {
			return err
		}
		if !info.IsDir() {
			return errNotDirectory{s.display(walked)}
		}
	}
	return nil
}

// ensureDir creates dir and its parents in the store where missing; any of
// them that is a link or a file is an error.
func (s *ChartStore) ensureDir(dir string) error {
	if s.root == nil {
		return errNoStore
	}
	walked := ""
	for _, part := range strings.Split(dir, "/") {
		walked = path.Join(walked, part)
		info, err := s.root.Lstat(walked)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := s.root.Mkdir(walked, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if info, err = s.root.Lstat(walked); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		if !info.IsDir() {
			return errNotDirectory{s.display(walked)}
		}
	}
	return nil
}

// openRegular opens name for reading if it is a regular file (not a link,
// not a directory) in real directories of the store, and is still the file
// Lstat saw when it is open. It returns the open file's own information.
func (s *ChartStore) openRegular(name string) (*os.File, fs.FileInfo, error) {
	if err := s.checkDirs(name); err != nil {
		return nil, nil, err
	}
	before, err := s.root.Lstat(name)
	if err != nil {
		return nil, nil, err
	}
	if !before.Mode().IsRegular() {
		return nil, nil, errors.New("not a regular file")
	}
	f, err := s.root.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil || !os.SameFile(before, info) {
		_ = f.Close()
		return nil, nil, errors.New("replaced while it was opened")
	}
	return f, info, nil
}

// readRegular reads a regular file of at most limit bytes (its size is
// checked before it is read).
func (s *ChartStore) readRegular(name string, limit int64) ([]byte, error) {
	f, info, err := s.openRegular(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info.Size() > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// lstat is Lstat of name, its directories checked.
func (s *ChartStore) lstat(name string) (fs.FileInfo, error) {
	if err := s.checkDirs(name); err != nil {
		return nil, err
	}
	return s.root.Lstat(name)
}

// list reads the directory dir of the store ("" when it does not exist).
func (s *ChartStore) list(dir string) ([]fs.DirEntry, error) {
	if err := s.checkDir(dir); err != nil {
		return nil, err
	}
	f, err := s.root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// createTemp creates a new file in dir named .tmp-<pid>-<random><suffix>
// and returns it open for writing, with its name in the store.
func (s *ChartStore) createTemp(dir, suffix string) (*os.File, string, error) {
	if err := s.ensureDir(dir); err != nil {
		return nil, "", err
	}
	for range 10 {
		name := path.Join(dir, tempPrefix()+randomName()+suffix)
		f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", errors.New("no free temporary name")
}

// mkdirTemp creates a new directory in dir named like createTemp's files.
func (s *ChartStore) mkdirTemp(dir string) (string, error) {
	if err := s.ensureDir(dir); err != nil {
		return "", err
	}
	for range 10 {
		name := path.Join(dir, tempPrefix()+randomName())
		err := s.root.Mkdir(name, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, err
	}
	return "", errors.New("no free temporary name")
}

func randomName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeNew creates name (which must not exist), writes data and syncs it.
func (s *ChartStore) writeNew(name string, data []byte) error {
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// writeAtomic writes data into a temporary file of tmpDir (a directory of
// the store, on the same file system) and renames it to name; name's
// directory is created if missing.
func (s *ChartStore) writeAtomic(tmpDir, name string, data []byte) error {
	if s.root == nil {
		return errNoStore
	}
	if err := s.ensureDir(path.Dir(name)); err != nil {
		return err
	}
	f, tmp, err := s.createTemp(tmpDir, "")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = s.root.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		_ = s.root.Remove(tmp)
		return err
	}
	if err := s.root.Rename(tmp, name); err != nil {
		_ = s.root.Remove(tmp)
		return err
	}
	return nil
}

// removeTree removes name and everything under it: a link or a file where
// a directory should be is removed itself, never followed.
func (s *ChartStore) removeTree(name string) error {
	info, err := s.lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return s.root.Remove(name)
	}
	return s.root.RemoveAll(name)
}
