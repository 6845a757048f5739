package broadcast

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countSink is a fake Sink that counts what it queued. Once closed it
// reports Gone; with full set it reports Full.
type countSink struct {
	queued atomic.Int64
	closed atomic.Bool
	full   atomic.Bool
}

func (s *countSink) Send(*Message) Result {
	switch {
	case s.closed.Load():
		return Gone
	case s.full.Load():
		return Full
	}
	s.queued.Add(1)
	return Queued
}

// queueSink is a Sink over a Queue, as the engine writes it.
type queueSink struct{ q *Queue }

func (s *queueSink) Send(m *Message) Result {
	if ok, _ := s.q.Push(m); !ok {
		if s.q.Closed() {
			return Gone
		}
		return Full
	}
	return Queued
}

var (
	_ Sink = (*countSink)(nil)
	_ Sink = (*queueSink)(nil)
)

func sortedIDs(ids []ClientID) []ClientID {
	slices.Sort(ids)
	return ids
}

func TestRegisterData(t *testing.T) {
	t.Parallel()
	h := NewHub(Config{})
	a := h.Register(new(countSink), "alice")
	b := h.Register(new(countSink), nil)
	if a == 0 || b == 0 || a == b {
		t.Fatalf("IDs %#x %#x", a, b)
	}
	if h.Len() != 2 {
		t.Fatalf("Len = %d", h.Len())
	}
	tests := []struct {
		id     ClientID
		want   any
		wantOK bool
	}{
		{a, "alice", true},
		{b, nil, true},
		{0, nil, false},
		{a + 1<<40, nil, false},
		{math.MaxUint64, nil, false},
	}
	for _, tt := range tests {
		if d, ok := h.Data(tt.id); d != tt.want || ok != tt.wantOK {
			t.Errorf("Data(%#x) = %v, %v; want %v, %v", tt.id, d, ok, tt.want, tt.wantOK)
		}
	}
	type ext struct{ n int }
	if !h.SetData(b, &ext{7}) {
		t.Fatal("SetData on a live client failed")
	}
	if d, _ := h.Data(b); d.(*ext).n != 7 {
		t.Errorf("Data(b) = %v", d)
	}
	if h.SetData(0, 1) {
		t.Error("SetData(0) succeeded")
	}
	if s, ok := h.Sink(a); !ok || s == nil {
		t.Error("Sink(a) missing")
	}
	h.Unregister(a)
	if _, ok := h.Data(a); ok {
		t.Error("Data after Unregister")
	}
	if h.SetData(a, 1) {
		t.Error("SetData after Unregister")
	}
	if _, ok := h.Sink(a); ok {
		t.Error("Sink after Unregister")
	}
	h.Unregister(a) // idempotent
	h.Unregister(0)
	if h.Len() != 1 {
		t.Errorf("Len = %d", h.Len())
	}
}

func TestRegisterNilSinkPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	new(Hub).Register(nil, nil)
}

// A slot is reused by a later Register, under a new generation: the old ID
// is gone for every method, the new one works.
func TestStaleID(t *testing.T) {
	t.Parallel()
	h := NewHub(Config{Shards: 1})
	s1, s2 := new(countSink), new(countSink)
	old := h.Register(s1, "old")
	h.SetTag(old, "room")
	h.Unregister(old)
	id := h.Register(s2, "new")
	if uint32(id) != uint32(old) {
		t.Fatalf("slot not reused: %#x then %#x", old, id)
	}
	if id == old {
		t.Fatal("ID reused")
	}
	m := msg("x")
	if r := h.Send(old, m); r != Gone {
		t.Errorf("Send(old) = %v", r)
	}
	if h.SetTag(old, "room") {
		t.Error("SetTag(old) succeeded")
	}
	h.DelTag(old, "room")
	h.DelTags(old)
	h.Unregister(old) // must not unregister the new client
	if _, ok := h.Data(old); ok {
		t.Error("Data(old) ok")
	}
	if tags := h.Tags(old); tags != nil {
		t.Errorf("Tags(old) = %v", tags)
	}
	h.RangeTags(old, func(Tag) bool { t.Error("RangeTags(old) called f"); return true })
	if d, ok := h.Data(id); !ok || d != "new" {
		t.Errorf("Data(new) = %v, %v", d, ok)
	}
	if r := h.Send(id, m); r != Queued || s2.queued.Load() != 1 || s1.queued.Load() != 0 {
		t.Errorf("Send(new) = %v; queued %d, %d", r, s1.queued.Load(), s2.queued.Load())
	}
	if h.TagLen("room") != 0 {
		t.Error("old client still tagged")
	}
}

// A slot whose generation is exhausted is retired, never reused.
func TestGenerationExhausted(t *testing.T) {
	t.Parallel()
	h := NewHub(Config{Shards: 1})
	id := h.Register(new(countSink), nil)
	h.Unregister(id)
	h.clients[0].slots[0].gen = math.MaxUint32 - 1
	last := h.Register(new(countSink), nil)
	if last>>32 != math.MaxUint32 || uint32(last) != uint32(id) {
		t.Fatalf("last = %#x", last)
	}
	h.Unregister(last)
	next := h.Register(new(countSink), nil)
	if uint32(next) == uint32(id) {
		t.Fatalf("retired slot reused: %#x", next)
	}
	if _, ok := h.Data(last); ok {
		t.Error("retired ID live")
	}
}

func TestShardsConfig(t *testing.T) {
	t.Parallel()
	tests := []struct{ shards, want int }{
		{0, 64}, {-5, 64}, {1, 1}, {2, 2}, {3, 4}, {64, 64}, {100, 128}, {1 << 20, 1 << 16},
	}
	for _, tt := range tests {
		h := NewHub(Config{Shards: tt.shards})
		if len(h.clients) != tt.want || len(h.tags) != tt.want {
			t.Errorf("Shards %d: %d/%d shards, want %d", tt.shards, len(h.clients), len(h.tags), tt.want)
		}
		// IDs round-trip through every shard.
		for range min(2*tt.want, 300) {
			id := h.Register(new(countSink), nil)
			if r := h.Send(id, msg("x")); r != Queued {
				t.Fatalf("Shards %d: Send(%#x) = %v", tt.shards, id, r)
			}
		}
	}
}

func TestZeroHub(t *testing.T) {
	t.Parallel()
	var h Hub
	if h.Len() != 0 || h.TagCount() != 0 || h.Send(1, msg("x")) != Gone {
		t.Fatal("zero Hub not empty")
	}
	id := h.Register(new(countSink), nil)
	if !h.SetTag(id, "t") || h.SendTag("t", msg("x")) != 1 || len(h.clients) != 64 {
		t.Fatal("zero Hub not usable")
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	h := NewHub(Config{Shards: 4})
	a := h.Register(new(countSink), nil)
	b := h.Register(new(countSink), nil)
	c := h.Register(new(countSink), nil)

	type step struct {
		op   string // set, del, dels, delete, unregister
		id   ClientID
		tag  Tag
		want bool // SetTag's result
	}
	steps := []step{
		{"set", a, "red", true},
		{"set", a, "red", true}, // idempotent
		{"set", a, "blue", true},
		{"set", b, "red", true},
		{"set", c, "green", true},
		{"set", c, "red", true},
		{"set", 0, "red", false},
		{"del", b, "red", false},
		{"del", b, "red", false}, // no-op
		{"del", b, "nope", false},
		{"set", b, "blue", true},
		{"set", b, "", true}, // the empty tag is a tag
		{"dels", c, "", false},
		{"delete", 0, "blue", false},
		{"delete", 0, "never", false},
		{"set", c, "blue", true},
	}
	for _, s := range steps {
		switch s.op {
		case "set":
			if got := h.SetTag(s.id, s.tag); got != s.want {
				t.Fatalf("SetTag(%#x, %q) = %v", s.id, s.tag, got)
			}
		case "del":
			h.DelTag(s.id, s.tag)
		case "dels":
			h.DelTags(s.id)
		case "delete":
			h.DeleteTag(s.tag)
		}
	}
	wantTags := map[ClientID][]Tag{a: {"red"}, b: {""}, c: {"blue"}}
	wantClients := map[Tag][]ClientID{"red": {a}, "": {b}, "blue": {c}}
	check := func() {
		t.Helper()
		for id, want := range wantTags {
			if got := h.Tags(id); !slices.Equal(got, want) {
				t.Errorf("Tags(%#x) = %q, want %q", id, got, want)
			}
			var ranged []Tag
			h.RangeTags(id, func(t Tag) bool { ranged = append(ranged, t); return true })
			if slices.Sort(ranged); !slices.Equal(ranged, want) {
				t.Errorf("RangeTags(%#x) = %q, want %q", id, ranged, want)
			}
		}
		for tag, want := range wantClients {
			want = sortedIDs(slices.Clone(want))
			if got := sortedIDs(h.Clients(tag)); !slices.Equal(got, want) {
				t.Errorf("Clients(%q) = %v, want %v", tag, got, want)
			}
			var ranged []ClientID
			h.RangeClients(tag, func(id ClientID) bool { ranged = append(ranged, id); return true })
			if !slices.Equal(sortedIDs(ranged), want) {
				t.Errorf("RangeClients(%q) = %v, want %v", tag, ranged, want)
			}
			if h.TagLen(tag) != len(want) {
				t.Errorf("TagLen(%q) = %d, want %d", tag, h.TagLen(tag), len(want))
			}
		}
		n := 0
		for _, w := range wantClients {
			if len(w) > 0 {
				n++
			}
		}
		if h.TagCount() != n {
			t.Errorf("TagCount = %d, want %d", h.TagCount(), n)
		}
	}
	check()
	if h.Clients("green") != nil || h.TagLen("green") != 0 {
		t.Error("green survived DelTags")
	}

	// Unregister removes the client from every tag.
	h.SetTag(a, "blue")
	h.SetTag(a, "")
	h.Unregister(a)
	delete(wantTags, a)
	wantClients["red"] = nil
	check()
	if h.Tags(a) != nil {
		t.Error("Tags of an unregistered client")
	}
}

func TestTagsSortedAndMany(t *testing.T) {
	t.Parallel()
	h := NewHub(Config{})
	id := h.Register(new(countSink), nil)
	var want []Tag
	for i := range 100 { // past linearMax: the index map is built and dropped
		tag := Tag(fmt.Sprintf("t%03d", 99-i))
		h.SetTag(id, tag)
		want = append(want, tag)
	}
	slices.Sort(want)
	if got := h.Tags(id); !slices.Equal(got, want) {
		t.Fatalf("Tags = %q", got)
	}
	for i := 0; i < 100; i += 2 {
		h.DelTag(id, Tag(fmt.Sprintf("t%03d", i)))
	}
	if got := h.Tags(id); len(got) != 50 || got[0] != "t001" {
		t.Fatalf("Tags after deleting half = %q", got)
	}
	for i := 1; i < 100; i += 2 {
		if !slices.Contains(h.Clients(Tag(fmt.Sprintf("t%03d", i))), id) {
			t.Fatalf("t%03d lost its client", i)
		}
		h.DelTag(id, Tag(fmt.Sprintf("t%03d", i)))
	}
	if h.Tags(id) != nil || h.TagCount() != 0 {
		t.Fatalf("Tags = %q, TagCount = %d", h.Tags(id), h.TagCount())
	}
}

func TestRangeStopsAndReenters(t *testing.T) {
	t.Parallel()
	h := NewHub(Config{Shards: 1}) // one shard: a lock held during f would deadlock
	var ids []ClientID
	for range 40 {
		id := h.Register(new(countSink), nil)
		h.SetTag(id, "room")
		h.SetTag(id, "other")
		ids = append(ids, id)
	}
	calls := 0
	h.RangeClients("room", func(id ClientID) bool {
		calls++
		h.DelTag(id, "room") // re-entrant, same tag
		h.SetTag(id, "after")
		return calls < 10
	})
	if calls != 10 || h.TagLen("room") != 30 || h.TagLen("after") != 10 {
		t.Fatalf("calls %d, room %d, after %d", calls, h.TagLen("room"), h.TagLen("after"))
	}
	calls = 0
	h.RangeTags(ids[0], func(tag Tag) bool {
		calls++
		h.DeleteTag(tag)
		return false
	})
	if calls != 1 || len(h.Tags(ids[0])) != 1 {
		t.Fatalf("calls %d, tags %q", calls, h.Tags(ids[0]))
	}
}

func TestSend(t *testing.T) {
	t.Parallel()
	h := NewHub(Config{})
	ok, full, closed := new(countSink), new(countSink), new(countSink)
	full.full.Store(true)
	closed.closed.Store(true)
	idOK, idFull, idClosed := h.Register(ok, nil), h.Register(full, nil), h.Register(closed, nil)
	gone := h.Register(new(countSink), nil)
	h.Unregister(gone)
	tests := []struct {
		id   ClientID
		want Result
	}{
		{idOK, Queued}, {idFull, Full}, {idClosed, Gone}, {gone, Gone}, {0, Gone},
	}
	for _, tt := range tests {
		if got := h.Send(tt.id, msg("x")); got != tt.want {
			t.Errorf("Send(%#x) = %v, want %v", tt.id, got, tt.want)
		}
	}
	st := h.Stats()
	want := Stats{Clients: 3, Tags: 0, Sent: 1, Dropped: 1, Gone: 3}
	if st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
	if fmt.Sprint(Queued, Full, Gone, Result(9)) != "queued full gone Result(9)" {
		t.Errorf("Result strings: %v", []Result{Queued, Full, Gone, 9})
	}
}

func TestSendTag(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, smallTag, smallTag + 1, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			h := NewHub(Config{Shards: 8})
			sinks := make([]*countSink, n)
			for i := range sinks {
				sinks[i] = new(countSink)
				id := h.Register(sinks[i], nil)
				h.SetTag(id, "room")
				switch i % 5 {
				case 1:
					sinks[i].full.Store(true)
				case 2:
					sinks[i].closed.Store(true)
				}
			}
			want := 0
			for i := range n {
				if i%5 != 1 && i%5 != 2 {
					want++
				}
			}
			if got := h.SendTag("room", msg("hi")); got != want {
				t.Fatalf("SendTag = %d, want %d", got, want)
			}
			if got := h.SendTag("nobody", msg("hi")); got != 0 {
				t.Fatalf("SendTag(nobody) = %d", got)
			}
			for i, s := range sinks {
				want := int64(1)
				if i%5 == 1 || i%5 == 2 {
					want = 0
				}
				if s.queued.Load() != want {
					t.Fatalf("sink %d queued %d, want %d", i, s.queued.Load(), want)
				}
			}
			st := h.Stats()
			if st.Sent != uint64(want) || st.Sent+st.Dropped+st.Gone != uint64(n) {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

// The message is shared, not copied: every queue holds the same bytes.
func TestSendTagSharesMessage(t *testing.T) {
	t.Parallel()
	h := NewHub(Config{})
	var qs []*Queue
	for range 3 {
		q := NewQueue(64)
		qs = append(qs, q)
		h.SetTag(h.Register(&queueSink{q}, nil), "t")
	}
	m := msg("frame")
	if n := h.SendTag("t", m); n != 3 {
		t.Fatalf("SendTag = %d", n)
	}
	for _, q := range qs {
		bufs, _ := q.Drain(nil, 0)
		if len(bufs) != 1 || &bufs[0][0] != &m.Bytes()[0] {
			t.Fatal("message copied")
		}
	}
}

// A slow client fills its queue and is refused (the engine kicks it); the
// others keep receiving, and its memory stays within the bound.
func TestSlowReceiver(t *testing.T) {
	t.Parallel()
	h := NewHub(Config{})
	slow, fast := NewQueue(100), NewQueue(100)
	h.SetTag(h.Register(&queueSink{slow}, nil), "t")
	h.SetTag(h.Register(&queueSink{fast}, nil), "t")
	m := NewMessage(make([]byte, 30))
	var counts []int
	for range 5 {
		counts = append(counts, h.SendTag("t", m))
		bufs, n := fast.Drain(nil, 0)
		_ = bufs
		fast.Consume(n)
	}
	if !slices.Equal(counts, []int{2, 2, 2, 1, 1}) || slow.Len() != 90 {
		t.Fatalf("counts %v, slow queue %d", counts, slow.Len())
	}
	if st := h.Stats(); st.Dropped != 2 {
		t.Errorf("Stats = %+v", st)
	}
}

// Sink.Send is never called with a Hub lock held: a Sink may call back.
type reentrantSink struct {
	h  *Hub
	id ClientID
}

func (s *reentrantSink) Send(*Message) Result {
	s.h.SetTag(s.id, "again")
	s.h.Tags(s.id)
	s.h.Clients("t")
	s.h.Unregister(s.id)
	return Gone
}

func TestSinkReentrant(t *testing.T) {
	t.Parallel()
	for _, n := range []int{3, 100} { // stack and pooled snapshots
		h := NewHub(Config{Shards: 1})
		for range n {
			s := &reentrantSink{h: h}
			s.id = h.Register(s, nil)
			h.SetTag(s.id, "t")
		}
		done := make(chan int)
		go func() { done <- h.SendTag("t", msg("x")) }()
		select {
		case got := <-done:
			if got != 0 || h.Len() != 0 || h.TagCount() != 0 {
				t.Fatalf("SendTag = %d, Len %d, TagCount %d", got, h.Len(), h.TagCount())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("deadlock: Sink called with a lock held")
		}
		s := &reentrantSink{h: h}
		s.id = h.Register(s, nil)
		if r := h.Send(s.id, msg("x")); r != Gone || h.Len() != 0 {
			t.Fatalf("Send = %v, Len %d", r, h.Len())
		}
	}
}

// Random operations from 8 goroutines; at quiescence, both directions of
// the index agree and only live clients are tagged.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	d := 2 * time.Second
	if testing.Short() {
		d = 200 * time.Millisecond
	}
	h := NewHub(Config{Shards: 4}) // few shards: more contention
	tags := make([]Tag, 40)
	for i := range tags {
		tags[i] = Tag(fmt.Sprintf("tag%d", i))
	}
	var (
		mu     sync.Mutex
		ids    []ClientID // every ID issued
		sinks  = map[ClientID]*countSink{}
		issued sync.Map // ClientID -> true
		dead   sync.Map // ClientID -> true, after Unregister
	)
	pick := func(rng *rand.Rand) ClientID {
		mu.Lock()
		defer mu.Unlock()
		if len(ids) == 0 {
			return 0
		}
		return ids[rng.IntN(len(ids))]
	}
	check := func(id ClientID) {
		if _, ok := issued.Load(id); !ok {
			t.Errorf("unknown ID %#x", id)
		}
	}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	var ops atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 99))
			for n := 0; ; n++ {
				if n%64 == 0 && time.Now().After(deadline) {
					ops.Add(int64(n))
					return
				}
				tag := tags[rng.IntN(len(tags))]
				switch op := rng.IntN(100); {
				case op < 10:
					s := new(countSink)
					id := h.Register(s, g)
					issued.Store(id, true)
					mu.Lock()
					ids = append(ids, id)
					sinks[id] = s
					mu.Unlock()
				case op < 15:
					id := pick(rng)
					h.Unregister(id)
					dead.Store(id, true)
				case op < 45:
					id := pick(rng)
					_, isDead := dead.Load(id)
					if ok := h.SetTag(id, tag); ok && isDead {
						t.Errorf("SetTag succeeded on unregistered %#x", id)
					}
				case op < 60:
					h.DelTag(pick(rng), tag)
				case op < 62:
					h.DelTags(pick(rng))
				case op < 63:
					h.DeleteTag(tag)
				case op < 80:
					if got := h.SendTag(tag, msg("m")); got < 0 {
						t.Errorf("SendTag = %d", got)
					}
				case op < 85:
					h.Send(pick(rng), msg("m"))
				case op < 90:
					cl := h.Clients(tag)
					seen := map[ClientID]bool{}
					for _, id := range cl {
						check(id)
						if seen[id] {
							t.Errorf("Clients(%q) has %#x twice", tag, id)
						}
						seen[id] = true
					}
				case op < 95:
					tg := h.Tags(pick(rng))
					if !slices.IsSorted(tg) || len(slices.Compact(slices.Clone(tg))) != len(tg) {
						t.Errorf("Tags = %q", tg)
					}
				default:
					h.RangeClients(tag, func(id ClientID) bool {
						check(id)
						if rng.IntN(4) == 0 {
							h.DelTag(id, tag)
						}
						return true
					})
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d operations in %v", ops.Load(), d)

	live := map[ClientID]bool{}
	for _, id := range ids {
		if _, isDead := dead.Load(id); !isDead {
			live[id] = true
		}
		_, ok := h.Data(id)
		if ok != live[id] {
			t.Errorf("Data(%#x) ok = %v, live %v", id, ok, live[id])
		}
	}
	if h.Len() != len(live) {
		t.Errorf("Len = %d, want %d", h.Len(), len(live))
	}
	pairs := 0
	tagsInUse := 0
	for _, tag := range tags {
		cl := h.Clients(tag)
		if len(cl) > 0 {
			tagsInUse++
		}
		if h.TagLen(tag) != len(cl) {
			t.Errorf("TagLen(%q) = %d, Clients %d", tag, h.TagLen(tag), len(cl))
		}
		for _, id := range cl {
			if !live[id] {
				t.Errorf("Clients(%q) has a gone client %#x", tag, id)
			}
			if !slices.Contains(h.Tags(id), tag) {
				t.Errorf("%#x in Clients(%q) but not Tags", id, tag)
			}
			pairs++
		}
	}
	for id := range live {
		for _, tag := range h.Tags(id) {
			if !slices.Contains(h.Clients(tag), id) {
				t.Errorf("%q in Tags(%#x) but not Clients", tag, id)
			}
			pairs--
		}
	}
	if pairs != 0 {
		t.Errorf("%d pairs differ between the two directions", pairs)
	}
	if h.TagCount() != tagsInUse {
		t.Errorf("TagCount = %d, want %d", h.TagCount(), tagsInUse)
	}
	var queued int64
	for _, s := range sinks {
		queued += s.queued.Load()
	}
	if st := h.Stats(); st.Sent != uint64(queued) || st.Clients != len(live) || st.Tags != tagsInUse {
		t.Errorf("Stats = %+v; sinks queued %d", st, queued)
	}
}

// 100,000 clients and 100,000 tags: tag all, send to a few tags, delete
// tags, unregister all. The largest size is skipped under -race and -short.
func TestScale(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1000, 10_000, 100_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if n > 10_000 && (raceEnabled || testing.Short()) {
				t.Skip("the largest size runs without -race and -short")
			}
			start := time.Now()
			h := NewHub(Config{})
			const rooms = 100
			ids := make([]ClientID, n)
			sinks := make([]countSink, n)
			own := make([]Tag, n)
			for i := range ids {
				ids[i] = h.Register(&sinks[i], nil)
				own[i] = Tag(fmt.Sprintf("user:%d", i))
			}
			var wg sync.WaitGroup
			const workers = 8
			for w := range workers {
				wg.Go(func() {
					for i := w; i < n; i += workers {
						h.SetTag(ids[i], own[i])
						h.SetTag(ids[i], Tag(fmt.Sprintf("room:%d", i%rooms)))
					}
				})
			}
			wg.Wait()
			if h.Len() != n || h.TagCount() != n+rooms {
				t.Fatalf("Len %d, TagCount %d", h.Len(), h.TagCount())
			}
			m := msg("hello")
			for r := range 3 {
				if got := h.SendTag(Tag(fmt.Sprintf("room:%d", r)), m); got != n/rooms {
					t.Fatalf("SendTag(room:%d) = %d, want %d", r, got, n/rooms)
				}
			}
			if got := h.SendTag(own[n-1], m); got != 1 || sinks[n-1].queued.Load() != 1 {
				t.Fatalf("SendTag(own) = %d", got)
			}
			for r := range rooms {
				h.DeleteTag(Tag(fmt.Sprintf("room:%d", r)))
			}
			if h.TagCount() != n || len(h.Tags(ids[0])) != 1 {
				t.Fatalf("after DeleteTag: TagCount %d, Tags %q", h.TagCount(), h.Tags(ids[0]))
			}
			for w := range workers {
				wg.Go(func() {
					for i := w; i < n; i += workers {
						h.Unregister(ids[i])
					}
				})
			}
			wg.Wait()
			if h.Len() != 0 || h.TagCount() != 0 {
				t.Fatalf("after Unregister: Len %d, TagCount %d", h.Len(), h.TagCount())
			}
			t.Logf("%d clients, %d tags: %v", n, n+rooms, time.Since(start))
		})
	}
}
