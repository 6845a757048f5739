package broadcast

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

func msg(s string) *Message { return NewMessage([]byte(s)) }

func drainAll(q *Queue) string {
	bufs, n := q.Drain(nil, 0)
	q.Consume(n)
	return string(bytes.Join(bufs, nil))
}

func TestQueuePush(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		max      int
		push     []string
		wantOK   []bool
		wantWake []bool
		wantLen  int
	}{
		{"one", 10, []string{"abc"}, []bool{true}, []bool{true}, 3},
		{"batched wake", 10, []string{"a", "b", "c"}, []bool{true, true, true}, []bool{true, false, false}, 3},
		{"exactly full", 6, []string{"abc", "def"}, []bool{true, true}, []bool{true, false}, 6},
		{"over bound", 5, []string{"abc", "def", "gh"}, []bool{true, false, true}, []bool{true, false, false}, 5},
		{"bigger than bound", 2, []string{"abc"}, []bool{false}, []bool{false}, 0},
		{"empty message", 2, []string{"", "ab"}, []bool{true, true}, []bool{false, true}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := NewQueue(tt.max)
			for i, s := range tt.push {
				ok, wake := q.Push(msg(s))
				if ok != tt.wantOK[i] || wake != tt.wantWake[i] {
					t.Errorf("Push(%q) = %v, %v; want %v, %v", s, ok, wake, tt.wantOK[i], tt.wantWake[i])
				}
				if q.Len() > tt.max {
					t.Fatalf("Len %d over bound %d", q.Len(), tt.max)
				}
			}
			if q.Len() != tt.wantLen {
				t.Errorf("Len = %d, want %d", q.Len(), tt.wantLen)
			}
		})
	}
}

func TestQueueDefaults(t *testing.T) {
	t.Parallel()
	for _, q := range []*Queue{NewQueue(0), NewQueue(-1), new(Queue)} {
		if q.Max() != DefaultQueueBytes {
			t.Errorf("Max = %d, want %d", q.Max(), DefaultQueueBytes)
		}
		if ok, _ := q.Push(NewMessage(make([]byte, DefaultQueueBytes))); !ok {
			t.Error("a message of exactly the bound was refused")
		}
		if ok, _ := q.Push(msg("x")); ok {
			t.Error("the bound was exceeded")
		}
	}
}

func TestQueueFIFOAndWakeTransitions(t *testing.T) {
	t.Parallel()
	q := NewQueue(1 << 10)
	var want bytes.Buffer
	for round := range 5 {
		for i := range 20 { // more than the initial ring: it grows
			s := fmt.Sprintf("<%d.%d>", round, i)
			ok, wake := q.Push(msg(s))
			if !ok || wake != (i == 0) {
				t.Fatalf("round %d Push %d = %v, %v", round, i, ok, wake)
			}
			want.WriteString(s)
		}
		if got := drainAll(q); got != want.String() {
			t.Fatalf("got %q, want %q", got, want.String())
		}
		want.Reset()
		if q.Len() != 0 {
			t.Fatalf("Len after drain = %d", q.Len())
		}
	}
}

func TestQueuePartialConsume(t *testing.T) {
	t.Parallel()
	q := NewQueue(100)
	q.Push(msg("hello"))
	q.Push(msg("world"))
	q.Push(msg("!"))
	q.Consume(3) // "hel"
	if q.Len() != 8 {
		t.Fatalf("Len = %d, want 8", q.Len())
	}
	bufs, n := q.Drain(nil, 0)
	if n != 8 || len(bufs) != 3 || string(bufs[0]) != "lo" {
		t.Fatalf("Drain = %q, %d", bufs, n)
	}
	// Drain does not remove: the same again.
	if _, n2 := q.Drain(nil, 0); n2 != n {
		t.Fatalf("second Drain = %d, want %d", n2, n)
	}
	q.Consume(2 + 2) // "lo" + "wo"
	if got := drainAll(q); got != "rld!" {
		t.Fatalf("rest = %q", got)
	}
	// Room freed by Consume is reusable; a Push into the emptied queue wakes.
	if ok, wake := q.Push(NewMessage(make([]byte, 100))); !ok || !wake {
		t.Fatalf("Push after drain = %v, %v", ok, wake)
	}
}

func TestQueueDrainMax(t *testing.T) {
	t.Parallel()
	q := NewQueue(100)
	for _, s := range []string{"aaaa", "bb", "cccc", "d"} {
		q.Push(msg(s))
	}
	tests := []struct {
		max  int
		want []string
	}{
		{0, []string{"aaaa", "bb", "cccc", "d"}},
		{1, []string{"aaaa"}}, // the front message always, for progress
		{6, []string{"aaaa", "bb"}},
		{9, []string{"aaaa", "bb"}},
		{10, []string{"aaaa", "bb", "cccc"}},
		{11, []string{"aaaa", "bb", "cccc", "d"}},
	}
	for _, tt := range tests {
		bufs, n := q.Drain(nil, tt.max)
		var got []string
		total := 0
		for _, b := range bufs {
			got = append(got, string(b))
			total += len(b)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) || n != total {
			t.Errorf("Drain(max %d) = %q, %d; want %q", tt.max, got, n, tt.want)
		}
	}
	// dst is appended to, and the slices cannot grow into shared memory.
	dst := [][]byte{[]byte("x")}
	dst, _ = q.Drain(dst, 0)
	if len(dst) != 5 || cap(dst[1]) != len(dst[1]) {
		t.Errorf("Drain(dst) = %q (cap %d)", dst, cap(dst[1]))
	}
}

func TestQueueClose(t *testing.T) {
	t.Parallel()
	q := NewQueue(100)
	q.Push(msg("abc"))
	q.Consume(1)
	q.Close()
	q.Close() // idempotent
	if !q.Closed() || q.Len() != 0 {
		t.Fatalf("Closed = %v, Len = %d", q.Closed(), q.Len())
	}
	if ok, wake := q.Push(msg("x")); ok || wake {
		t.Errorf("Push after Close = %v, %v", ok, wake)
	}
	if ok, _ := q.Push(msg("")); ok {
		t.Error("empty Push after Close reported ok")
	}
	if bufs, n := q.Drain(nil, 0); len(bufs) != 0 || n != 0 {
		t.Errorf("Drain after Close = %q, %d", bufs, n)
	}
	q.Consume(5) // no-op, no panic
	if q.ring != nil {
		t.Error("Close kept the ring")
	}
}

func TestQueueConsumeTooMuchPanics(t *testing.T) {
	t.Parallel()
	q := NewQueue(100)
	q.Push(msg("abc"))
	defer func() {
		if recover() == nil {
			t.Error("Consume beyond Len did not panic")
		}
	}()
	q.Consume(4)
}

func TestQueueReleasesBurstRing(t *testing.T) {
	t.Parallel()
	q := NewQueue(1 << 20)
	for range 1000 {
		q.Push(msg("x"))
	}
	drainAll(q)
	if q.ring != nil {
		t.Errorf("ring of %d kept after the burst", len(q.ring))
	}
}

// Many producers, one consumer writing in random partial chunks: the bound
// holds at every Push, every producer's messages arrive in order and whole,
// and each wake-up matches an empty -> non-empty transition.
func TestQueueConcurrent(t *testing.T) {
	t.Parallel()
	const producers, perProducer, bound = 8, 2000, 4096
	q := NewQueue(bound)
	var wg sync.WaitGroup
	wake := make(chan struct{}, 1)
	var mu sync.Mutex
	accepted := make([][]string, producers)
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				s := fmt.Sprintf("[%d:%d]", p, i)
				ok, wasEmpty := q.Push(msg(s))
				if l := q.Len(); l > bound {
					t.Errorf("Len %d over bound", l)
				}
				if ok {
					mu.Lock()
					accepted[p] = append(accepted[p], s)
					mu.Unlock()
				}
				if wasEmpty {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var out bytes.Buffer
	rng := rand.New(rand.NewPCG(1, 2))
	var bufs [][]byte
	consume := func() {
		for q.Len() > 0 {
			var n int
			bufs, n = q.Drain(bufs[:0], 256)
			n = min(n, 1+rng.IntN(n)) // the socket takes part of it
			written := 0
			for _, b := range bufs {
				k := min(len(b), n-written)
				out.Write(b[:k])
				written += k
			}
			q.Consume(n)
		}
	}
	for finished := false; !finished; {
		select {
		case <-wake:
		case <-done:
			finished = true
		}
		consume()
	}
	consume()

	// Every producer's accepted messages appear whole and in order.
	got := out.String()
	for p := range producers {
		pos := 0
		for _, s := range accepted[p] {
			i := bytes.Index([]byte(got[pos:]), []byte(s))
			if i < 0 {
				t.Fatalf("producer %d: %q missing or out of order", p, s)
			}
			pos += i + len(s)
		}
	}
	total := 0
	for p := range producers {
		for _, s := range accepted[p] {
			total += len(s)
		}
	}
	if total != len(got) {
		t.Fatalf("wrote %d bytes, accepted %d", len(got), total)
	}
}
