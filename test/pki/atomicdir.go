package pki

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// AtomicDir writes files the way the kubelet updates a mounted Secret or ConfigMap: the
// content lives in a hidden generation directory, "..data" is a symlink to the current
// generation, and each visible file is a symlink through "..data". An update writes a new
// generation and renames a fresh symlink over "..data", so readers see either the old or
// the new set of files, never a mix.
type AtomicDir struct {
	Dir string
	gen int
}

// NewAtomicDir creates dir (if needed) and writes the first generation of files.
func NewAtomicDir(dir string, files map[string][]byte) (*AtomicDir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &AtomicDir{Dir: dir}
	if err := d.Update(files); err != nil {
		return nil, err
	}
	return d, nil
}

// Path is the visible path of a file, the one a configuration refers to.
func (d *AtomicDir) Path(name string) string { return filepath.Join(d.Dir, name) }

// Update publishes a new generation holding exactly files.
func (d *AtomicDir) Update(files map[string][]byte) error {
	d.gen++
	genName := fmt.Sprintf("..gen_%04d", d.gen)
	genDir := filepath.Join(d.Dir, genName)
	if err := os.Mkdir(genDir, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name, data := range files {
		names = append(names, name)
		if err := os.WriteFile(filepath.Join(genDir, name), data, 0o600); err != nil {
			return err
		}
	}
	tmp := filepath.Join(d.Dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(genName, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(d.Dir, "..data")); err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		link := filepath.Join(d.Dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			return err
		}
	}
	if d.gen > 1 {
		return os.RemoveAll(filepath.Join(d.Dir, fmt.Sprintf("..gen_%04d", d.gen-1)))
	}
	return nil
}
