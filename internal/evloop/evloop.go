//go:build linux

// Package evloop is a minimal epoll event loop: one goroutine waits on one
// epoll instance and dispatches readiness to the Handler registered for each
// file descriptor. Idle descriptors cost nothing but their Handler value: no
// goroutine and no buffer waits on them, which is what keeps an idle edge
// connection at a few hundred bytes.
//
// Concurrency contract: Add, Modify, Remove and every Handler method run on
// the loop goroutine only. Other goroutines talk to the loop through Submit,
// which queues a function and wakes the loop; it never blocks on I/O.
//
// Typical usage:
//
//	l, err := evloop.New(evloop.Config{Tick: time.Second, OnTick: sweep})
//	go l.Run()
//	l.Submit(func() { l.Add(fd, unix.EPOLLIN, h) })
//	...
//	l.Close()
package evloop

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Handler receives readiness events for one descriptor.
type Handler interface {
	// OnEvent is called on the loop goroutine with the epoll event bits
	// (unix.EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR, EPOLLRDHUP).
	OnEvent(events uint32)
}

// Config configures a Loop. The zero value is usable.
type Config struct {
	// Tick is how often OnTick runs. Zero means one second.
	Tick time.Duration
	// OnTick, if not nil, runs on the loop goroutine about every Tick, with
	// the current time. Timeouts are swept here.
	OnTick func(now time.Time)
	// Events is how many events one epoll_wait may return. Zero means 256.
	Events int
}

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("evloop: loop closed")

// Loop is one epoll instance and the goroutine that serves it.
type Loop struct {
	cfg      Config
	epfd     int
	wakefd   int
	handlers []Handler // indexed by descriptor

	mu      sync.Mutex
	tasks   []func()
	spare   []func()
	woken   atomic.Bool // a wake-up is already pending in the eventfd
	closing atomic.Bool
	done    chan struct{}

	now time.Time
}

// New creates a loop. Run it with Run; release it with Close.
func New(cfg Config) (*Loop, error) {
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Events <= 0 {
		cfg.Events = 256
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("evloop: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("evloop: eventfd: %w", err)
	}
	l := &Loop{cfg: cfg, epfd: epfd, wakefd: wakefd, done: make(chan struct{}), now: time.Now()}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("evloop: add eventfd: %w", err)
	}
	return l, nil
}

// Now is the time the loop last woke up: a cheap clock for timeouts.
// Loop goroutine only.
func (l *Loop) Now() time.Time { return l.now }

// Add registers fd with the given event mask (level-triggered). Loop
// goroutine only. The loop does not own fd: the caller closes it after
// Remove.
func (l *Loop) Add(fd int, events uint32, h Handler) error {
	return l.ctl(unix.EPOLL_CTL_ADD, fd, events, h)
}

// Modify changes the event mask of a registered fd. Loop goroutine only.
func (l *Loop) Modify(fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return fmt.Errorf("evloop: modify fd %d: %w", fd, err)
	}
	return nil
}

// Remove unregisters fd. Loop goroutine only.
func (l *Loop) Remove(fd int) error {
	if fd >= 0 && fd < len(l.handlers) {
		l.handlers[fd] = nil
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return fmt.Errorf("evloop: remove fd %d: %w", fd, err)
	}
	return nil
}

func (l *Loop) ctl(op, fd int, events uint32, h Handler) error {
	if fd < 0 {
		return fmt.Errorf("evloop: bad fd %d", fd)
	}
	for fd >= len(l.handlers) {
		n := 2 * len(l.handlers)
		if n < 1024 {
			n = 1024
		}
		grown := make([]Handler, n)
		copy(grown, l.handlers)
		l.handlers = grown
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("evloop: add fd %d: %w", fd, err)
	}
	l.handlers[fd] = h
	return nil
}

// Submit queues f to run on the loop goroutine and wakes the loop. Safe
// from any goroutine; never blocks on I/O. It fails only after Close.
func (l *Loop) Submit(f func()) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Under mu, so that Close cannot release the eventfd in between.
	if l.closing.Load() {
		return ErrClosed
	}
	l.tasks = append(l.tasks, f)
	if !l.woken.Swap(true) {
		var one = [8]byte{1}
		unix.Write(l.wakefd, one[:])
	}
	return nil
}

// Run serves the loop until Close. It returns nil after Close, or the
// error of a failing epoll_wait.
func (l *Loop) Run() error {
	defer close(l.done)
	events := make([]unix.EpollEvent, l.cfg.Events)
	timeout := int(l.cfg.Tick / time.Millisecond)
	nextTick := time.Now().Add(l.cfg.Tick)
	busy := false
	for !l.closing.Load() {
		n := 0
		var err error
		if busy {
			// The last round had work: poll without blocking first. A ready
			// loop skips the scheduler's blocking-syscall hand-off.
			r, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
			if e == 0 {
				n = int(r)
			}
		}
		if n == 0 {
			n, err = unix.EpollWait(l.epfd, events, timeout)
			if err != nil && err != unix.EINTR {
				// The loop is dead: refuse new work from now on and run what
				// was queued, so that nobody waits for a task forever.
				l.mu.Lock()
				l.closing.Store(true)
				l.mu.Unlock()
				l.runTasks()
				return fmt.Errorf("evloop: epoll_wait: %w", err)
			}
		}
		busy = n > 0
		l.now = time.Now()
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == l.wakefd {
				var buf [8]byte
				unix.Read(l.wakefd, buf[:])
				l.woken.Store(false)
				l.runTasks()
				continue
			}
			if fd < len(l.handlers) {
				if h := l.handlers[fd]; h != nil {
					h.OnEvent(events[i].Events)
				}
			}
		}
		if l.woken.Load() {
			// Tasks submitted while we were busy: run them now instead of
			// waiting for the eventfd to come round again.
			l.runTasks()
		}
		if !l.now.Before(nextTick) {
			nextTick = l.now.Add(l.cfg.Tick)
			if l.cfg.OnTick != nil {
				l.cfg.OnTick(l.now)
			}
		}
	}
	l.runTasks()
	return nil
}

func (l *Loop) runTasks() {
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = l.spare[:0]
	l.mu.Unlock()
	for i, f := range tasks {
		f()
		tasks[i] = nil
	}
	l.mu.Lock()
	l.spare = tasks[:0]
	l.mu.Unlock()
}

// Close stops the loop goroutine, waits for it to return and releases the
// epoll instance. Registered descriptors are not closed. Must not be called
// from the loop goroutine.
func (l *Loop) Close() error {
	l.mu.Lock()
	was := l.closing.Swap(true)
	l.mu.Unlock()
	if was {
		return nil
	}
	var one = [8]byte{1}
	unix.Write(l.wakefd, one[:])
	<-l.done
	unix.Close(l.wakefd)
	return unix.Close(l.epfd)
}

// Stop is Close for the case where Run was never started.
func (l *Loop) Stop() error {
	l.mu.Lock()
	was := l.closing.Swap(true)
	l.mu.Unlock()
	if was {
		return nil
	}
	unix.Close(l.wakefd)
	return unix.Close(l.epfd)
}
