package evloop

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type pipeHandler struct {
	fd   int
	got  chan []byte
	loop *Loop
}

func (h *pipeHandler) OnEvent(ev uint32) {
	buf := make([]byte, 64)
	n, _ := unix.Read(h.fd, buf)
	if n > 0 {
		h.got <- buf[:n]
	}
}

func startLoop(t *testing.T, cfg Config) *Loop {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run() }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return l
}

func TestSubmitRunsInOrderOnTheLoop(t *testing.T) {
	t.Parallel()
	l := startLoop(t, Config{})
	const n = 1000
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		if err := l.Submit(func() {
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, v := range order {
		if v != i {
			t.Fatalf("task %d ran at position %d", v, i)
		}
	}
}

func TestReadinessDispatch(t *testing.T) {
	t.Parallel()
	l := startLoop(t, Config{})
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	h := &pipeHandler{fd: p[0], got: make(chan []byte, 4), loop: l}
	added := make(chan error)
	l.Submit(func() { added <- l.Add(p[0], unix.EPOLLIN, h) })
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	unix.Write(p[1], []byte("ping"))
	select {
	case b := <-h.got:
		if string(b) != "ping" {
			t.Fatalf("got %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	// After Remove, no more events reach the handler.
	removed := make(chan error)
	l.Submit(func() { removed <- l.Remove(p[0]) })
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	unix.Write(p[1], []byte("late"))
	select {
	case b := <-h.got:
		t.Fatalf("event after Remove: %q", b)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestTick(t *testing.T) {
	t.Parallel()
	var ticks atomic.Int32
	startLoop(t, Config{Tick: 20 * time.Millisecond, OnTick: func(time.Time) { ticks.Add(1) }})
	deadline := time.Now().Add(5 * time.Second)
	for ticks.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if ticks.Load() < 3 {
		t.Fatalf("%d ticks", ticks.Load())
	}
}

func TestCloseAndSubmitAfterClose(t *testing.T) {
	t.Parallel()
	l, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run() }()
	// Submits racing with Close either run or report ErrClosed; none is lost
	// silently and nothing writes to a closed eventfd.
	var ran, refused atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if l.Submit(func() { ran.Add(1) }) != nil {
					refused.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := ran.Load() + refused.Load(); got != 800 {
		t.Errorf("ran %d + refused %d != 800", ran.Load(), refused.Load())
	}
	if err := l.Submit(func() {}); err != ErrClosed {
		t.Errorf("Submit after Close: %v", err)
	}
}

// A loop whose epoll_wait fails must stop taking work, run what was
// queued, and return the error: before the fix Submit kept accepting
// tasks that never ran, and Server.Run waited on them forever.
func TestDeadLoopRefusesWork(t *testing.T) {
	l, err := New(Config{Tick: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	if err := l.Submit(func() { close(ran) }); err != nil {
		t.Fatal(err)
	}
	// Kill the epoll instance under the loop: epoll_wait returns EBADF.
	// A placeholder keeps the descriptor number from being reused.
	devnull, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Dup3(devnull, l.epfd, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(devnull)
	done := make(chan error, 1)
	go func() { done <- l.Run() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil on a failing epoll_wait")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return on a failing epoll_wait")
	}
	select {
	case <-ran:
	default:
		t.Fatal("a task queued before the failure never ran")
	}
	if err := l.Submit(func() {}); err != ErrClosed {
		t.Fatalf("Submit on a dead loop: %v, want ErrClosed", err)
	}
	l.Close()
}
