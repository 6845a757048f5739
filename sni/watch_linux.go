//go:build linux

package sni

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// watchMask is what every watched directory reports. IN_MODIFY is left out
// on purpose: a file is re-read once its writer closes it (IN_CLOSE_WRITE)
// or once it is renamed or linked into place (IN_MOVED_TO, IN_CREATE), not
// while it is being written.
const watchMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE |
	unix.IN_CLOSE_WRITE | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
	unix.IN_ONLYDIR | unix.IN_EXCL_UNLINK

// watchEvent is one decoded inotify event.
type watchEvent struct {
	wd   int32
	mask uint32
	name string // the entry inside the watched directory, "" for the directory itself
}

// watcher follows the directories of a store's files with one inotify
// instance. Its maps are owned by the goroutine running run (and, before
// that starts, by startWatcher).
type watcher struct {
	s *Store
	f *os.File // the inotify descriptor, non-blocking, so Close ends a pending Read
	// fd is f's descriptor, for inotify_add_watch and inotify_rm_watch;
	// only used while f is open.
	fd int

	dirs map[string]int32   // watched directory -> watch descriptor
	wds  map[int32][]string // watch descriptor -> directories watched through it (a symlinked directory and its target share one)
	// want maps each directory worth watching to the hosts whose files (or
	// their symlink targets) live there; CertsPath maps to no host.
	want map[string][]*host
	// under maps every directory of want and each of their ancestors to the
	// hosts below it, so that the creation of any of them is noticed.
	under  map[string][]*host
	warned map[string]string // directory -> the add-watch error last logged for it

	dirty    map[*host]struct{} // hosts to re-read at the next flush
	needSync bool               // the set of watches must be recomputed
}

func (s *Store) startWatcher(ctx context.Context) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		s.wg.Done()
		return fmt.Errorf("sni: inotify_init1: %w", err)
	}
	w := &watcher{
		s:        s,
		f:        os.NewFile(uintptr(fd), "inotify"),
		fd:       fd,
		dirs:     make(map[string]int32),
		wds:      make(map[int32][]string),
		warned:   make(map[string]string),
		dirty:    make(map[*host]struct{}),
		needSync: true,
	}
	// Put the watches in place, then re-read every host: files may have
	// changed between New and now, and from here on every change is seen.
	w.flush()

	events := make(chan []watchEvent, 16)
	quit := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		w.read(events, quit)
	}()
	go func() {
		defer s.wg.Done()
		w.run(ctx, events)
		close(quit)
		w.f.Close() // ends the reader's pending Read
		<-readerDone
	}()
	return nil
}

// read decodes inotify events into batches for run, until the descriptor
// is closed or quit is closed.
func (w *watcher) read(events chan<- []watchEvent, quit <-chan struct{}) {
	defer close(events)
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.s.log.Error("sni: reading inotify events failed; certificates no longer reload", "err", err)
			}
			return
		}
		select {
		case events <- parseEvents(buf[:n]):
		case <-quit:
			return
		}
	}
}

// parseEvents decodes the struct inotify_event records of one read.
func parseEvents(b []byte) []watchEvent {
	var evs []watchEvent
	for len(b) >= unix.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(b[0:]))
		mask := binary.NativeEndian.Uint32(b[4:])
		n := int(binary.NativeEndian.Uint32(b[12:]))
		b = b[unix.SizeofInotifyEvent:]
		if n > len(b) {
			break
		}
		name := b[:n]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		evs = append(evs, watchEvent{wd: wd, mask: mask, name: string(name)})
		b = b[n:]
	}
	return evs
}

// run is the watcher's loop: it collects events, waits for a burst to end
// (the debounce, at most five debounces after its first event), reloads the
// hosts concerned, and re-checks failed hosts every retryEvery.
func (w *watcher) run(ctx context.Context, events <-chan []watchEvent) {
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	retry := time.NewTicker(w.s.retryEvery)
	defer retry.Stop()
	var first time.Time // of the pending burst; zero if none
	for {
		select {
		case <-ctx.Done():
			return
		case evs, ok := <-events:
			if !ok {
				return
			}
			for _, ev := range evs {
				w.handle(ev)
			}
			if len(w.dirty) == 0 && !w.needSync {
				continue
			}
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			wait := w.s.debounce
			if limit := first.Add(5 * w.s.debounce); now.Add(wait).After(limit) {
				wait = limit.Sub(now)
			}
			debounce.Reset(wait)
		case <-debounce.C:
			first = time.Time{}
			w.flush()
		case <-retry.C:
			for _, h := range w.s.failedHosts() {
				w.dirty[h] = struct{}{}
			}
			w.needSync = true // also retries directories that could not be watched
			w.flush()
		}
	}
}

// handle records what one event makes stale.
func (w *watcher) handle(ev watchEvent) {
	if ev.mask&unix.IN_Q_OVERFLOW != 0 {
		// Events were lost: re-read everything.
		for _, h := range w.s.hosts {
			w.dirty[h] = struct{}{}
		}
		w.needSync = true
		return
	}
	dirs := w.wds[ev.wd]
	if ev.mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0 {
		// The directory is gone or moved away: its hosts are re-read and
		// the watches recomputed (which waits on the parent if need be).
		for _, d := range dirs {
			w.markDir(d)
		}
		if ev.mask&(unix.IN_IGNORED|unix.IN_MOVE_SELF) != 0 {
			for _, d := range dirs {
				if w.dirs[d] == ev.wd {
					delete(w.dirs, d)
				}
			}
			delete(w.wds, ev.wd)
			if ev.mask&unix.IN_MOVE_SELF != 0 {
				unix.InotifyRmWatch(w.fd, uint32(ev.wd))
			}
		}
		w.needSync = true
		return
	}
	for _, d := range dirs {
		w.markDir(d)
		if ev.name == "" {
			continue
		}
		// A directory on the way to a wanted one appeared, vanished or was
		// replaced (a host directory created in CertsPath, a symlink
		// swapped in place): watch it anew and re-read the hosts below it.
		if hs, ok := w.under[filepath.Join(d, ev.name)]; ok {
			for _, h := range hs {
				w.dirty[h] = struct{}{}
			}
			w.needSync = true
		}
	}
}

func (w *watcher) markDir(dir string) {
	for _, h := range w.want[dir] {
		w.dirty[h] = struct{}{}
	}
}

// flush recomputes the watches if needed and reloads dirty hosts. A reload
// can move a symlink target and a new watch can reveal changes made before
// it existed, so it repeats until both settle (bounded; the next event or
// retry continues).
func (w *watcher) flush() {
	for range 4 {
		if w.needSync {
			w.sync()
		}
		if len(w.dirty) == 0 {
			return
		}
		hosts := make([]*host, 0, len(w.dirty))
		for h := range w.dirty {
			hosts = append(hosts, h)
		}
		clear(w.dirty)
		slices.SortFunc(hosts, func(a, b *host) int { return strings.Compare(a.name, b.name) })
		w.s.reload(hosts)
		w.needSync = true
	}
}

// sync computes the directories worth watching and makes the watches
// match: each wanted directory is watched, or if it does not exist yet its
// nearest existing ancestor is; watches no longer needed are removed. Hosts
// with files in a newly watched directory are marked dirty.
func (w *watcher) sync() {
	w.needSync = false
	want := make(map[string][]*host)
	if w.s.certsPath != "" {
		want[w.s.certsPath] = nil
	}
	for _, h := range w.s.hosts {
		for _, p := range [2]string{h.keyPath, h.certPath} {
			addHost(want, filepath.Dir(p), h)
			if t, err := filepath.EvalSymlinks(p); err == nil && t != p {
				addHost(want, filepath.Dir(t), h)
			}
		}
	}
	under := make(map[string][]*host)
	for d, hs := range want {
		for cur := d; ; cur = filepath.Dir(cur) {
			under[cur] = append(under[cur], hs...)
			if cur == filepath.Dir(cur) {
				break
			}
		}
	}

	keep := make(map[string]bool)
	for d, hs := range want {
		for cur := d; ; {
			wd, err := unix.InotifyAddWatch(w.fd, cur, watchMask)
			if err == nil {
				if w.bind(cur, int32(wd)) && cur == d {
					for _, h := range hs {
						w.dirty[h] = struct{}{}
					}
				}
				keep[cur] = true
				delete(w.warned, cur)
				break
			}
			w.drop(cur)
			parent := filepath.Dir(cur)
			if (err == unix.ENOENT || err == unix.ENOTDIR) && parent != cur {
				cur = parent
				continue
			}
			if msg := err.Error(); w.warned[cur] != msg {
				w.s.log.Warn("sni: cannot watch directory; certificate changes there go unnoticed",
					"dir", cur, "err", err)
				w.warned[cur] = msg
			}
			break
		}
	}
	for d := range w.dirs {
		if !keep[d] {
			w.drop(d)
		}
	}
	w.want, w.under = want, under
}

func addHost(m map[string][]*host, dir string, h *host) {
	if !slices.Contains(m[dir], h) {
		m[dir] = append(m[dir], h)
	}
}

// bind records that dir is watched through wd, and reports whether that
// is new (the directory was not watched, or was another inode).
func (w *watcher) bind(dir string, wd int32) bool {
	if old, ok := w.dirs[dir]; ok {
		if old == wd {
			return false
		}
		w.drop(dir)
	}
	w.dirs[dir] = wd
	w.wds[wd] = append(w.wds[wd], dir)
	return true
}

// drop forgets dir's watch, removing it once no directory uses it.
func (w *watcher) drop(dir string) {
	wd, ok := w.dirs[dir]
	if !ok {
		return
	}
	delete(w.dirs, dir)
	rest := slices.DeleteFunc(w.wds[wd], func(d string) bool { return d == dir })
	if len(rest) > 0 {
		w.wds[wd] = rest
		return
	}
	delete(w.wds, wd)
	unix.InotifyRmWatch(w.fd, uint32(wd)) // EINVAL if the kernel already dropped it
}
