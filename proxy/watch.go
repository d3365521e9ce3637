package proxy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadDebounce gathers the burst of events of one update (the kubelet's symlink swap, an
// editor's write and rename) into one reload.
const reloadDebounce = 100 * time.Millisecond

// watch reloads the TLS material on file system events in the directories of the files
// (mounted Secrets and ConfigMaps change by swapping the "..data" symlink, so the
// directory is watched, not the file), on Reload (SIGHUP), and every reload interval.
// Each reload compares contents, so extra triggers cost a read and nothing else.
func (p *Proxy) watch(ctx context.Context) {
	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	if p.opts.fileWatch {
		if w := p.newWatcher(); w != nil {
			defer func() { _ = w.Close() }()
			events, watchErrs = w.Events, w.Errors
		}
	}
	var tick <-chan time.Time
	if p.opts.reloadInterval > 0 {
		t := time.NewTicker(p.opts.reloadInterval)
		defer t.Stop()
		tick = t.C
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			p.log.Debug("file event", "name", ev.Name, "op", ev.Op.String())
			debounce.Reset(reloadDebounce)
		case err, ok := <-watchErrs:
			if !ok {
				watchErrs = nil
				continue
			}
			p.log.Warn("file watch error; relying on the periodic check", "error", err)
		case <-debounce.C:
			p.reloadAll()
		case <-p.reloadCh:
			p.log.Info("reload requested")
			p.reloadAll()
		case <-tick:
			p.reloadAll()
		}
	}
}

// newWatcher watches the directory of every material file. Failures are logged: the
// periodic check still picks changes up.
func (p *Proxy) newWatcher() *fsnotify.Watcher {
	var dirs []string
	for _, u := range p.upstreams {
		for _, f := range u.material.files() {
			dirs = append(dirs, watchDirs(f)...)
		}
	}
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	if len(dirs) == 0 {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		p.log.Warn("cannot watch files; relying on the periodic check", "error", err)
		return nil
	}
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			p.log.Warn("cannot watch directory; relying on the periodic check", "dir", d, "error", err)
		}
	}
	return w
}

// watchDirs are the directories to watch for a file: its own, and the one holding the
// nearest symlinked directory on its path. A nested item of a kubelet volume
// (<volume>/ca-0/ca.crt) lies in a symlink (ca-0 -> ..data/ca-0) into a directory that each
// update deletes, so only the volume root, where "..data" is swapped, sees every update.
func watchDirs(file string) []string {
	abs, err := filepath.Abs(file)
	if err != nil {
		abs = file
	}
	dirs := []string{filepath.Dir(abs)}
	for d := filepath.Dir(abs); filepath.Dir(d) != d; d = filepath.Dir(d) {
		if fi, err := os.Lstat(d); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return append(dirs, filepath.Dir(d))
		}
	}
	return dirs
}
