package main

// One edge per address, and zero-downtime upgrades.
//
// A running edge holds one abstract Unix socket per address it serves
// (its listeners and its admin listener), named "@edge/" + network + "/" +
// address. Abstract sockets belong to the network namespace, as ports do,
// and vanish with the process: no stale lock files. A second edge started
// on the same address finds the name taken and stops with the holder's
// pid, before binding anything.
//
// `edge -upgrade` instead connects to those sockets and asks for the
// listening sockets themselves (SCM_RIGHTS). It serves the very same
// sockets, so both processes accept from one queue: no connection is
// refused, and none is lost (two SO_REUSEPORT sockets would lose the
// connections queued on the one that closes). Once the new process serves
// (listeners and admin started) it says so; the old one hands over the
// names, stops accepting and drains (in-flight requests finish, WebSocket
// clients get 1001 after shutdownGrace, exit at shutdownTimeout at the
// latest), as on SIGTERM. Only a process of the same user (or root) may
// take the sockets: the names carry no file permissions, so the old
// process checks its peer's credentials.
//
// Protocol, one connection per address, lines of text:
//
//	new → old: "take"
//	old → new: "ok PID" with the socket attached, or "error MESSAGE"
//	new → old: "serving"       (after it started; closing instead abandons)
//	old → new: "draining"      (the old process released its names)

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// lockName is the abstract socket name for key ("tcp/127.0.0.1:443",
// "unix//run/edge.sock", "admin/127.0.0.1:9090").
func lockName(key string) string {
	name := "@edge/" + key
	if len(name) > 100 { // sun_path holds 108 bytes
		sum := sha256.Sum256([]byte(key))
		name = "@edge/" + hex.EncodeToString(sum[:16])
	}
	return name
}

// upgradeKeys are the lock keys of fc: its listeners in order, then its
// admin listener, and what each names in messages.
func (fc *fileConfig) upgradeKeys() (keys, names []string) {
	for _, lc := range fc.listeners {
		keys = append(keys, lc.network+"/"+lc.address)
		names = append(names, lc.address)
	}
	if a := fc.ops.admin; a != nil {
		keys = append(keys, "admin/"+a.Listen)
		names = append(names, "admin "+a.Listen)
	}
	return keys, names
}

// lockSet is the names a process holds and the server answering on them.
type lockSet struct {
	log   *slog.Logger
	mu    sync.Mutex
	lns   map[string]*net.UnixListener // key → its abstract socket
	files map[string]func() (*os.File, error)
	drain func(pid int) // the new process serves: drain (once)
	once  sync.Once
}

// errLocked is a key held by another process.
type errLocked struct {
	name string
	pid  int
}

func (e *errLocked) Error() string {
	pid := "another process"
	if e.pid > 0 {
		pid = "pid " + strconv.Itoa(e.pid)
	}
	return fmt.Sprintf("edge: %s is served by another edge (%s): stop it first, or start this one with -upgrade to take over without downtime", e.name, pid)
}

// lock takes the names of keys (names[i] in messages) or fails with
// errLocked for the first one held.
func lock(keys, names []string, log *slog.Logger) (*lockSet, error) {
	ls := &lockSet{log: log, lns: map[string]*net.UnixListener{}, files: map[string]func() (*os.File, error){}}
	for i, k := range keys {
		if err := ls.add(k, names[i]); err != nil {
			ls.close()
			return nil, err
		}
	}
	return ls, nil
}

// add takes the name of key.
func (ls *lockSet) add(key, name string) error {
	if _, ok := ls.lns[key]; ok {
		return nil
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Net: "unix", Name: lockName(key)})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return &errLocked{name: name, pid: holder(key)}
		}
		return fmt.Errorf("edge: lock %s: %w", name, err)
	}
	ls.mu.Lock()
	ls.lns[key] = ln
	ls.mu.Unlock()
	return nil
}

// holder is the pid of the process holding key's name, or 0.
func holder(key string) int {
	c, err := net.DialTimeout("unix", lockName(key), time.Second)
	if err != nil {
		return 0
	}
	defer c.Close()
	cred, err := peerCred(c.(*net.UnixConn))
	if err != nil {
		return 0
	}
	return int(cred.Pid)
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// serve answers takeover requests on every name: files gives each key's
// listening socket, drain is called once, with the new process's pid,
// when it serves.
func (ls *lockSet) serve(files map[string]func() (*os.File, error), drain func(pid int)) {
	ls.mu.Lock()
	ls.files, ls.drain = files, drain
	lns := make(map[string]*net.UnixListener, len(ls.lns))
	for k, ln := range ls.lns {
		lns[k] = ln
	}
	ls.mu.Unlock()
	for key, ln := range lns {
		go func() {
			for {
				c, err := ln.AcceptUnix()
				if err != nil {
					return // released or closed
				}
				go ls.handle(c, key)
			}
		}()
	}
}

// handle is one takeover request for key.
func (ls *lockSet) handle(c *net.UnixConn, key string) {
	defer c.Close()
	cred, err := peerCred(c)
	if err != nil {
		return
	}
	if int(cred.Uid) != os.Getuid() && cred.Uid != 0 {
		ls.log.Warn("edge: upgrade refused: another user", "pid", cred.Pid, "uid", cred.Uid)
		return
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if line, _ := r.ReadString('\n'); line != "take\n" {
		return // a holder() probe, or nonsense
	}
	ls.mu.Lock()
	file := ls.files[key]
	ls.mu.Unlock()
	if file == nil {
		fmt.Fprintf(c, "error nothing to hand over for %s\n", key)
		return
	}
	f, err := file()
	if err != nil {
		fmt.Fprintf(c, "error %v\n", err)
		return
	}
	err = sendFile(c, fmt.Sprintf("ok %d\n", os.Getpid()), f)
	f.Close()
	if err != nil {
		ls.log.Warn("edge: upgrade: handing over", "key", key, "err", err)
		return
	}
	ls.log.Info("edge: upgrade: listening socket handed over", "key", key, "pid", cred.Pid)
	// The new process builds its server and starts; then it serves.
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	if line, _ := r.ReadString('\n'); line != "serving\n" {
		ls.log.Warn("edge: upgrade abandoned by the new process; serving on", "pid", cred.Pid)
		return
	}
	ls.once.Do(func() {
		ls.close() // the new process takes the names
		ls.log.Info("edge: upgrade: the new process serves; draining", "pid", cred.Pid)
		ls.drain(int(cred.Pid))
	})
	c.Write([]byte("draining\n"))
}

// sendFile writes msg with f's descriptor attached.
func sendFile(c *net.UnixConn, msg string, f *os.File) error {
	// Not f.Fd(): it would put the shared socket in blocking mode.
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	if err := rc.Control(func(fd uintptr) {
		_, _, werr = c.WriteMsgUnix([]byte(msg), unix.UnixRights(int(fd)), nil)
	}); err != nil {
		return err
	}
	return werr
}

// close releases every name.
func (ls *lockSet) close() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for k, ln := range ls.lns {
		ln.Close()
		delete(ls.lns, k)
	}
}

// takeover is what -upgrade took from the running edge.
type takeover struct {
	log   *slog.Logger
	lns   map[string]net.Listener // key → inherited listening socket
	conns map[string]*net.UnixConn
	pid   int
}

// take asks the running edge for the listening sockets of keys. Keys no
// edge serves are left out (they are bound as usual); none at all is not
// an error.
func take(keys []string, log *slog.Logger) (*takeover, error) {
	t := &takeover{log: log, lns: map[string]net.Listener{}, conns: map[string]*net.UnixConn{}}
	for _, key := range keys {
		c, err := net.DialTimeout("unix", lockName(key), 2*time.Second)
		if err != nil {
			continue // nobody serves it
		}
		uc := c.(*net.UnixConn)
		ln, pid, err := takeOne(uc)
		if err != nil {
			uc.Close()
			t.abandon()
			return nil, fmt.Errorf("edge: upgrade: %s: %w", key, err)
		}
		t.lns[key], t.conns[key], t.pid = ln, uc, pid
	}
	return t, nil
}

func takeOne(c *net.UnixConn) (net.Listener, int, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("take\n")); err != nil {
		return nil, 0, err
	}
	var line []byte
	var fds []int
	buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4*4))
	for !strings.Contains(string(line), "\n") {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if oobn > 0 {
			msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
			for _, m := range msgs {
				if got, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, got...)
				}
			}
			if perr != nil {
				err = errors.Join(err, perr)
			}
		}
		line = append(line, buf[:n]...)
		if err != nil {
			closeFDs(fds)
			return nil, 0, fmt.Errorf("read: %w", err)
		}
		if len(line) > 1024 {
			break
		}
	}
	reply := strings.TrimSpace(string(line))
	pidStr, ok := strings.CutPrefix(reply, "ok ")
	pid, err := strconv.Atoi(pidStr)
	if !ok || err != nil || len(fds) != 1 {
		closeFDs(fds)
		return nil, 0, fmt.Errorf("the running edge answered %q", reply)
	}
	f := os.NewFile(uintptr(fds[0]), "inherited")
	ln, err := net.FileListener(f) // a duplicate: f is closed below
	f.Close()
	if err != nil {
		return nil, 0, err
	}
	return ln, pid, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// serving tells the old process that this one serves, waits until it
// released its names, and takes them (into ls).
func (t *takeover) serving(ls *lockSet, keys, names []string) error {
	var errs []error
	for key, c := range t.conns {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Write([]byte("serving\n"))
		if err == nil {
			var line string
			line, err = bufio.NewReader(c).ReadString('\n')
			if err == nil && line != "draining\n" {
				err = fmt.Errorf("answered %q", line)
			}
		}
		c.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	t.conns = nil
	for i, k := range keys {
		if err := ls.add(k, names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("edge: upgrade: %w", err)
	}
	return nil
}

// abandon closes the connections to the old process (which serves on)
// and the sockets taken.
func (t *takeover) abandon() {
	for _, c := range t.conns {
		c.Close()
	}
	for _, ln := range t.lns {
		if ul, ok := ln.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false) // the old process serves the path
		}
		ln.Close()
	}
	t.conns, t.lns = nil, nil
}
