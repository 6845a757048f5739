package broadcast

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recSink records the messages it queued, in order.
type recSink struct {
	mu   sync.Mutex
	msgs []string
}

func (s *recSink) Send(m *Message) Result {
	s.mu.Lock()
	s.msgs = append(s.msgs, string(m.Bytes()))
	s.mu.Unlock()
	return Queued
}

func (s *recSink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// fakeClock is a settable clock for history ages.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func hmsg(s string) *Message             { return NewMessage([]byte(s)) }
func texts(ms []*Message) (out []string) {
	for _, m := range ms {
		out = append(out, string(m.Bytes()))
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHistorySinceAndGap(t *testing.T) {
	t.Parallel()
	clk := new(fakeClock)
	clk.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	h := NewHub(Config{Now: clk.now})
	h.SetHistory(
		HistoryRule{Prefix: "count:", Max: 3},
		HistoryRule{Prefix: "bytes:", MaxBytes: 4},
		HistoryRule{Prefix: "age:", MaxAge: time.Minute},
	)
	for i := 1; i <= 5; i++ {
		for _, tag := range []Tag{"count:a", "bytes:a", "age:a", "plain"} {
			h.SendTag(tag, hmsg("m"+strconv.Itoa(i)))
		}
		clk.add(20 * time.Second)
	}
	// now: 100 s after m1; m1 at 0, m2 at 20, m3 at 40, m4 at 60, m5 at 80.
	tests := []struct {
		tag   Tag
		since uint64
		want  []string
		first uint64
		gap   bool
	}{
		{"count:a", 0, []string{"m3", "m4", "m5"}, 3, true},
		{"count:a", 1, []string{"m3", "m4", "m5"}, 3, true},
		{"count:a", 2, []string{"m3", "m4", "m5"}, 3, false},
		{"count:a", 4, []string{"m5"}, 5, false},
		{"count:a", 5, nil, 6, false},
		{"count:a", 9, []string{"m3", "m4", "m5"}, 3, true}, // ahead: another life
		{"bytes:a", 3, []string{"m4", "m5"}, 4, false},      // 2 bytes each, 4 kept
		{"bytes:a", 2, []string{"m4", "m5"}, 4, true},
		{"age:a", 2, []string{"m3", "m4", "m5"}, 3, false}, // m1 and m2 older than 60 s
		{"age:a", 1, []string{"m3", "m4", "m5"}, 3, true},
		{"plain", 0, nil, 1, false},
		{"plain", 3, nil, 1, true},
		{"count:none", 0, nil, 1, false},
	}
	for _, tc := range tests {
		msgs, first, gap := h.Since(tc.tag, tc.since)
		if got := texts(msgs); !equal(got, tc.want) || first != tc.first || gap != tc.gap {
			t.Errorf("Since(%q, %d) = %q, %d, %v; want %q, %d, %v", tc.tag, tc.since, got, first, gap, tc.want, tc.first, tc.gap)
		}
	}
	if got := h.LastSeq("count:a"); got != 5 {
		t.Errorf("LastSeq = %d, want 5", got)
	}
	// Everything expires: the counter goes on, the gap is reported.
	clk.add(time.Hour)
	if msgs, first, gap := h.Since("age:a", 4); len(msgs) != 0 || first != 6 || !gap {
		t.Errorf("after expiry: %q, %d, %v; want none, 6, gap", texts(msgs), first, gap)
	}
	if msgs, first, gap := h.Since("age:a", 5); len(msgs) != 0 || first != 6 || gap {
		t.Errorf("up to date after expiry: %q, %d, %v; want none, 6, no gap", texts(msgs), first, gap)
	}
	if _, seq := h.SendTagSeq("age:a", func(seq uint64) *Message { return hmsg("m" + strconv.FormatUint(seq, 10)) }); seq != 6 {
		t.Errorf("SendTagSeq after expiry: seq %d, want 6", seq)
	}
	if msgs, _, gap := h.Since("age:a", 5); !equal(texts(msgs), []string{"m6"}) || gap {
		t.Errorf("Since after SendTagSeq: %q, %v", texts(msgs), gap)
	}
	if _, seq := h.SendTagSeq("plain", func(seq uint64) *Message { return hmsg("x") }); seq != 0 {
		t.Errorf("SendTagSeq on a tag without history: seq %d, want 0", seq)
	}
}

func TestHistoryResume(t *testing.T) {
	t.Parallel()
	gapMsg := func(first, last uint64) *Message {
		return hmsg("gap " + strconv.FormatUint(first, 10) + "-" + strconv.FormatUint(last, 10))
	}
	tests := []struct {
		name  string
		since uint64
		want  []string
		gap   bool
	}{
		{"caught up", 4, []string{"m5"}, false},
		{"missed two", 2, []string{"m3", "m4", "m5"}, false},
		{"all kept", 1, []string{"m2", "m3", "m4", "m5"}, false},
		{"evicted", 0, []string{"gap 2-4", "m2", "m3", "m4", "m5"}, true},
		{"ahead", 7, []string{"gap 2-4", "m2", "m3", "m4", "m5"}, true},
	}
	var h *Hub
	for _, tc := range tests {
		h = NewHub(Config{})
		h.SetHistory(HistoryRule{Prefix: "room:", Max: 3})
		live := &recSink{}
		h.SetTag(h.Register(live, nil), "room:a")
		for i := 1; i <= 4; i++ {
			h.SendTag("room:a", hmsg("m"+strconv.Itoa(i)))
		}
		s := &recSink{}
		id := h.Register(s, nil)
		n, gap, ok := h.Resume(id, "room:a", tc.since, gapMsg)
		if !ok || gap != tc.gap || n != len(tc.want)-1 {
			t.Errorf("%s: Resume = %d, %v, %v", tc.name, n, gap, ok)
		}
		if got := h.Tags(id); len(got) != 1 || got[0] != "room:a" {
			t.Errorf("%s: tags %q", tc.name, got)
		}
		// A live message after the resume comes after the missed ones.
		h.SendTag("room:a", hmsg("m5"))
		if got := s.got(); !equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
		if got := live.got(); !equal(got, []string{"m1", "m2", "m3", "m4", "m5"}) {
			t.Errorf("%s: live client got %q", tc.name, got)
		}
	}
	if _, _, ok := h.Resume(ClientID(1<<40), "room:a", 0, nil); ok {
		t.Error("Resume of an unknown ID reported ok")
	}
	// Without history, Resume is SetTag, and a seq is a gap.
	s2 := &recSink{}
	id2 := h.Register(s2, nil)
	if n, gap, ok := h.Resume(id2, "plain", 3, gapMsg); n != 1 || !gap || !ok || h.TagLen("plain") != 1 {
		t.Errorf("Resume without history = %d, %v, %v", n, gap, ok)
	}
}

// TestHistoryResumeRace resumes clients while a publisher runs: each one
// must receive every message after its resume point exactly once, in
// sequence order, whatever the interleaving.
func TestHistoryResumeRace(t *testing.T) {
	t.Parallel()
	h := NewHub(Config{})
	h.SetHistory(HistoryRule{Prefix: "r:", Max: 1 << 16})
	const total = 3000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= total; i++ {
			h.SendTagSeq("r:x", func(seq uint64) *Message { return hmsg(strconv.FormatUint(seq, 10)) })
		}
	}()
	type resumer struct {
		s     *recSink
		since uint64
	}
	var rs []resumer
	for k := 0; k < 50; k++ {
		since := h.LastSeq("r:x")
		if k%2 == 1 && since > 5 {
			since -= 5
		}
		s := &recSink{}
		if _, gap, ok := h.Resume(h.Register(s, nil), "r:x", since, nil); gap || !ok {
			t.Fatalf("Resume(%d): gap %v ok %v", since, gap, ok)
		}
		rs = append(rs, resumer{s, since})
	}
	<-done
	for _, r := range rs {
		got := r.s.got()
		if uint64(len(got)) != total-r.since {
			t.Fatalf("since %d: got %d messages, want %d", r.since, len(got), total-r.since)
		}
		for i, g := range got {
			if want := strconv.FormatUint(r.since+1+uint64(i), 10); g != want {
				t.Fatalf("since %d: message %d is %s, want %s", r.since, i, g, want)
			}
		}
	}
}

// TestHistorySweep drops expired histories; a tag used again numbers on
// above its earlier life, so old resume points see a gap.
func TestHistorySweep(t *testing.T) {
	t.Parallel()
	clk := new(fakeClock)
	h := NewHub(Config{Now: clk.now})
	h.SetHistory(HistoryRule{Prefix: "age:", MaxAge: time.Minute}, HistoryRule{Prefix: "keep:"})
	for i := 1; i <= 3; i++ {
		h.SendTag("age:a", hmsg("a"+strconv.Itoa(i)))
		h.SendTag("keep:k", hmsg("k"+strconv.Itoa(i)))
	}
	h.SendTag("age:b", hmsg("b1"))
	if n := h.SweepHistory(); n != 0 {
		t.Fatalf("swept %d fresh histories", n)
	}
	clk.add(2 * time.Minute)
	if n := h.SweepHistory(); n != 2 { // age:a and age:b; keep:k has no MaxAge
		t.Fatalf("swept %d, want 2", n)
	}
	if got := h.LastSeq("keep:k"); got != 3 {
		t.Errorf("keep:k LastSeq %d, want 3", got)
	}
	if got := h.LastSeq("age:b"); got != 0 {
		t.Errorf("dropped age:b LastSeq %d, want 0", got)
	}
	// age:b comes back: numbered above age:a's 3, so since=1 is a gap.
	if _, seq := h.SendTagSeq("age:b", func(uint64) *Message { return hmsg("b-new") }); seq != 4 {
		t.Errorf("age:b numbers from %d, want 4", seq)
	}
	if msgs, first, gap := h.Since("age:b", 1); !gap || first != 4 || !equal(texts(msgs), []string{"b-new"}) {
		t.Errorf("Since(age:b, 1) = %q, %d, %v; want b-new, 4, gap", texts(msgs), first, gap)
	}
	if msgs, _, gap := h.Since("age:b", 3); gap || !equal(texts(msgs), []string{"b-new"}) {
		t.Errorf("Since(age:b, 3) = %q, %v; want b-new, no gap", texts(msgs), gap)
	}
}

// TestHistorySweepRace sweeps while a publisher and resumers run: the
// numbers a tag gives stay strictly increasing (checked by the resumers,
// which must see no duplicate and no step back).
func TestHistorySweepRace(t *testing.T) {
	t.Parallel()
	clk := new(fakeClock)
	h := NewHub(Config{Now: clk.now})
	h.SetHistory(HistoryRule{Prefix: "r:", MaxAge: time.Second})
	s := &recSink{}
	h.SetTag(h.Register(s, nil), "r:x")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			clk.add(time.Second)
			h.SweepHistory()
		}
	}()
	for range 2000 {
		h.SendTagSeq("r:x", func(seq uint64) *Message { return hmsg(strconv.FormatUint(seq, 10)) })
	}
	close(stop)
	wg.Wait()
	got := s.got()
	prev := uint64(0)
	for _, g := range got {
		n, _ := strconv.ParseUint(g, 10, 64)
		if n <= prev {
			t.Fatalf("sequence %d after %d", n, prev)
		}
		prev = n
	}
	if len(got) != 2000 {
		t.Fatalf("got %d messages, want 2000", len(got))
	}
}
