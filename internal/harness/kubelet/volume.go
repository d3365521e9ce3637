// Package kubelet lays out a pod's ConfigMap, Secret and projected volumes on disk the way
// the kubelet does, from the objects in the API server, and updates them the way the kubelet
// does when those objects change. envtest runs no kubelet; the tests and the demo run the
// real proxy binary on these files.
package kubelet

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The names the kubelet's atomic writer uses at the root of a volume.
const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// Item is one file of a volume: its content and mode (0644 when zero).
type Item struct {
	Data []byte
	Mode fs.FileMode
}

// Volume is a directory laid out as the kubelet lays out a ConfigMap, Secret or projected
// volume (its atomic writer): the files of one version live in a hidden directory named
// after the time it was written ("..2026_01_02_15_04_05.123456789"), "..data" at the volume
// root is a symlink to that directory, and every top-level entry of the payload is a symlink
// through "..data" ("ca-0" -> "..data/ca-0", so that "ca-0/ca.crt" resolves through it). An
// update writes a new hidden directory and renames a fresh symlink over "..data", so a reader
// sees the whole old or the whole new version, never a mix; then the old directory goes.
type Volume struct {
	// Dir is the volume's root: the container's mount path.
	Dir string
	// dataDir is the hidden directory "..data" points to.
	dataDir string
	// visible are the top-level entries of the current payload.
	visible []string
}

// WriteVolume lays files out in dir, which it creates if needed, with the kubelet's default
// mode 0644. Paths are relative, slash-separated, may nest ("client/tls.crt") and may not
// leave the volume.
func WriteVolume(dir string, files map[string][]byte) (*Volume, error) {
	return writeVolume(dir, items(files))
}

func writeVolume(dir string, payload map[string]Item) (*Volume, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	v := &Volume{Dir: dir}
	if err := v.UpdateItems(payload); err != nil {
		return nil, err
	}
	return v, nil
}

// Path is the path of an item as a container sees it: through the top-level symlink.
func (v *Volume) Path(item string) string { return filepath.Join(v.Dir, filepath.FromSlash(item)) }

// Update publishes files as the volume's new content, atomically, with mode 0644.
func (v *Volume) Update(files map[string][]byte) error { return v.UpdateItems(items(files)) }

// UpdateItems publishes payload as the volume's new content, atomically.
func (v *Volume) UpdateItems(payload map[string]Item) error {
	for p := range payload {
		if err := validPath(p); err != nil {
			return err
		}
	}
	tsDir, err := os.MkdirTemp(v.Dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	for _, p := range slices.Sorted(maps.Keys(payload)) {
		if err := writeItem(filepath.Join(tsDir, filepath.FromSlash(p)), payload[p]); err != nil {
			return err
		}
	}
	tmpLink := filepath.Join(v.Dir, newDataDirName)
	if err := os.Remove(tmpLink); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return err
	}
	if err := os.Rename(tmpLink, filepath.Join(v.Dir, dataDirName)); err != nil {
		return err
	}

	visible := topLevel(payload)
	for _, name := range visible {
		link := filepath.Join(v.Dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDirName, name), link); err != nil {
			return err
		}
	}
	if v.dataDir != "" {
		if err := os.RemoveAll(v.dataDir); err != nil {
			return err
		}
	}
	for _, name := range v.visible {
		if !slices.Contains(visible, name) {
			if err := os.Remove(filepath.Join(v.Dir, name)); err != nil {
				return err
			}
		}
	}
	v.dataDir, v.visible = tsDir, visible
	return nil
}

func items(files map[string][]byte) map[string]Item {
	payload := make(map[string]Item, len(files))
	for p, data := range files {
		payload[p] = Item{Data: data}
	}
	return payload
}

// writeItem writes one file with its mode (0644 when unset), creating its directories.
func writeItem(file string, it Item) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	mode := it.Mode
	if mode == 0 {
		mode = fs.FileMode(corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if err := os.WriteFile(file, it.Data, mode); err != nil {
		return err
	}
	return os.Chmod(file, mode) // WriteFile's mode is subject to the umask
}

// validPath refuses what the API server refuses in an item's path: absolute paths, ".."
// elements, and names starting with "..", which the atomic writer keeps for itself.
func validPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || strings.HasPrefix(p, "..") {
		return fmt.Errorf("item path %q: must be relative, clean, and not start with '..'", p)
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return fmt.Errorf("item path %q: must not contain '..'", p)
		}
	}
	return nil
}

// topLevel are the first elements of the payload's paths, sorted and without duplicates.
func topLevel(payload map[string]Item) []string {
	var names []string
	for p := range payload {
		first, _, _ := strings.Cut(p, "/")
		names = append(names, first)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
