package broadcast

import (
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ClientID names one registered client from any goroutine. The zero ID
// names no client. An ID is never reused within a Hub's lifetime: the low
// 32 bits pick a slot (its shard in the low bits) and the high 32 bits are
// the slot's generation, bumped on every Register; a slot whose generation
// is exhausted is retired. So an ID kept after its client closed is simply
// gone, never another client.
type ClientID uint64

// Tag groups clients for SendTag. It is any byte string: a room name, a
// user ID, the hash160 of an address...
type Tag string

// Result is the outcome of sending one message to one client.
type Result uint8

const (
	// Queued: the message is in the client's queue.
	Queued Result = iota
	// Full: the client's queue is over its bound; the message was not
	// queued and the Sink closes the client (1008).
	Full
	// Gone: the client has closed, or the ID is unknown or stale.
	Gone
)

func (r Result) String() string {
	switch r {
	case Queued:
		return "queued"
	case Full:
		return "full"
	case Gone:
		return "gone"
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// Sink is one client's outbound side, implemented by the engine (usually
// with a Queue). Send must not block and must be safe from any goroutine.
// The Hub never calls Send with one of its shard locks held, so Send may
// call back into the Hub (Unregister itself when Full, say); on a tag with
// history (SetHistory) Send runs with that tag's history lock held, so it
// must not publish to that same tag. Send may be called
// concurrently with, and shortly after, the Unregister of its client (a
// SendTag that took its snapshot before): it then reports Gone.
type Sink interface {
	Send(m *Message) Result
}

// Config configures a Hub. The zero Config is ready to use.
type Config struct {
	// Shards is the number of client shards and of tag shards, each with
	// its own lock: more shards, less contention. Zero or negative means
	// 64. It is rounded up to a power of two, at most 65536.
	Shards int
	// Now is the clock of history ages (SetHistory); nil means time.Now.
	Now func() time.Time
}

// Stats are a Hub's counters, cheap to read (see Hub.Stats).
type Stats struct {
	Clients int    // registered clients
	Tags    int    // tags with at least one client
	Sent    uint64 // messages queued (Send and SendTag, one per receiver)
	Dropped uint64 // messages refused because the receiver's queue was full
	Gone    uint64 // messages to clients that had closed (or unknown IDs, for Send)
}

// Hub maps client IDs to Sinks and extension data, indexes clients by tag,
// and fans messages out.
//
// Concurrency contract: every method is safe from any goroutine, and none
// blocks on I/O or on a Sink. Clients and tags are spread over shards, each
// with its own sync.RWMutex; no lock covers the whole Hub. Sink.Send is
// never called with a lock held: SendTag copies the tag's Sinks under the
// tag shard's read lock, releases it, then sends. Range callbacks also run
// with no lock held, on a snapshot, and may call any Hub method.
//
// A client-tag pair is always added and removed under both its client
// shard's and its tag shard's write locks, so "t is among Tags(id)" and
// "id is among Clients(t)" agree whenever both are read while no change to
// that pair is in flight. Snapshots (Tags, Clients, Range*, SendTag) reflect
// one instant per shard. Operations that change many pairs (DelTags,
// Unregister, DeleteTag) are not atomic as a whole: see each method.
//
// Lock order (locksordering, in the style of nats-server's locksordering.txt):
//
//	history.mu -> clientShard.mu -> tagShard.mu
//
// history.mu is one tag's history lock (SetHistory): it is held while a
// message of that tag is numbered, kept and handed to the local Sinks
// (SendTag), and while a client resumes (Resume).
// At most one client shard and one tag shard lock are held at a time, the
// client shard's first. No lock is held while calling a Sink or a callback.
//
// The zero Hub is ready to use, with the default Config.
type Hub struct {
	once     sync.Once
	bits     uint   // log2 of the shard count
	mask     uint32 // shard count - 1
	maxLocal uint64 // slots per client shard: 1 << (32 - bits)
	seed     maphash.Seed
	next     atomic.Uint32 // round-robin client shard for Register
	clients  []clientShard
	tags     []tagShard
	bp       atomic.Pointer[bpHolder]     // the Backplane, if any (see SetBackplane)
	rules    atomic.Pointer[historyRules] // SetHistory's rules, if any
	seqFloor atomic.Uint64                // the highest sequence of a history SweepHistory dropped
	clock    func() time.Time
}

// cacheLine pads shards apart so that their locks and counters do not
// share cache lines.
const cacheLine = 128

type clientShard struct {
	mu    sync.RWMutex
	slots []clientSlot
	free  []uint32 // free slot indexes (LIFO)

	n                atomic.Int64 // live clients
	sent, full, gone atomic.Uint64
	_                [cacheLine]byte
}

type clientSlot struct {
	gen  uint32 // generation of the current (or last) client
	sink Sink   // nil when the slot is free
	data any
	tags keySet[Tag]
}

type tagShard struct {
	mu   sync.RWMutex
	tags map[Tag]*members // no empty entries
	hist map[Tag]*history // tags with history (SetHistory), created lazily

	n                atomic.Int64 // tags
	sent, full, gone atomic.Uint64
	_                [cacheLine]byte
}

// NewHub returns a Hub configured by cfg.
func NewHub(cfg Config) *Hub {
	h := new(Hub)
	h.once.Do(func() { h.setup(cfg) })
	return h
}

func (h *Hub) init() { h.once.Do(func() { h.setup(Config{}) }) }

func (h *Hub) setup(cfg Config) {
	n := cfg.Shards
	if n <= 0 {
		n = 64
	}
	n = min(n, 1<<16)
	h.bits = uint(bits.Len(uint(n - 1)))
	h.mask = 1<<h.bits - 1
	h.maxLocal = uint64(1) << (32 - h.bits)
	h.seed = maphash.MakeSeed()
	h.clock = cfg.Now
	h.clients = make([]clientShard, 1<<h.bits)
	h.tags = make([]tagShard, 1<<h.bits)
	for i := range h.tags {
		h.tags[i].tags = make(map[Tag]*members)
	}
}

// locate splits id into its client shard, slot index and generation.
func (h *Hub) locate(id ClientID) (*clientShard, uint32, uint32) {
	low := uint32(id)
	return &h.clients[low&h.mask], low >> h.bits, uint32(id >> 32)
}

// slot returns the live slot of (local, gen), or nil. The shard lock must
// be held (read for reading, write for writing).
func (s *clientShard) slot(local, gen uint32) *clientSlot {
	if int(local) >= len(s.slots) {
		return nil
	}
	sl := &s.slots[local]
	if sl.gen != gen || sl.sink == nil {
		return nil
	}
	return sl
}

func (h *Hub) tagShard(t Tag) *tagShard {
	return &h.tags[uint32(maphash.String(h.seed, string(t)))&h.mask]
}

// Register adds a client whose outbound side is s, with extension data
// data, and returns its new ID. s must not be nil. Register panics only if
// the Hub ran out of IDs (more than 2^32 live clients).
func (h *Hub) Register(s Sink, data any) ClientID {
	if s == nil {
		panic("broadcast: Register with a nil Sink")
	}
	h.init()
	start := h.next.Add(1) - 1
	for k := range uint32(len(h.clients)) {
		shard := (start + k) & h.mask
		cs := &h.clients[shard]
		cs.mu.Lock()
		var local uint32
		if n := len(cs.free); n > 0 {
			local = cs.free[n-1]
			cs.free = cs.free[:n-1]
		} else if uint64(len(cs.slots)) < h.maxLocal {
			cs.slots = append(cs.slots, clientSlot{})
			local = uint32(len(cs.slots) - 1)
		} else {
			cs.mu.Unlock()
			continue
		}
		sl := &cs.slots[local]
		sl.gen++ // a retired slot (gen == MaxUint32) never returns to free
		sl.sink, sl.data = s, data
		id := ClientID(uint64(sl.gen)<<32 | uint64(local<<h.bits|shard))
		cs.n.Add(1)
		cs.mu.Unlock()
		return id
	}
	panic("broadcast: out of client IDs")
}

// Unregister removes client id and its extension data, and removes it from
// every tag. Later calls with id report it gone (Send: Gone, SetTag: false,
// Data: !ok). When Unregister returns, no SendTag that starts afterwards
// reaches the client's Sink; one already under way may still call it (it
// then reports Gone). Unknown or stale IDs are ignored.
func (h *Hub) Unregister(id ClientID) {
	h.init()
	cs, local, gen := h.locate(id)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	sl := cs.slot(local, gen)
	if sl == nil {
		return
	}
	h.untagAll(id, sl)
	sl.sink, sl.data = nil, nil
	if sl.gen != math.MaxUint32 {
		cs.free = append(cs.free, local)
	}
	cs.n.Add(-1)
}

// untagAll removes id from all its tags. Its client shard is write-locked.
func (h *Hub) untagAll(id ClientID, sl *clientSlot) {
	for _, t := range sl.tags.keys {
		ts := h.tagShard(t)
		ts.mu.Lock()
		h.removePair(ts, t, id)
		ts.mu.Unlock()
	}
	sl.tags.reset()
}

// removePair deletes the pair (t, id) on the tag side, telling the
// Backplane when t loses its last client. ts.mu is write-locked.
func (h *Hub) removePair(ts *tagShard, t Tag, id ClientID) {
	m := ts.tags[t]
	if m == nil || !m.remove(id) {
		return
	}
	if m.ids.len() == 0 {
		delete(ts.tags, t)
		ts.n.Add(-1)
		if b := h.backplane(); b != nil {
			b.Unsubscribe(t)
		}
	}
}

// Sink returns the Sink that client id registered with.
func (h *Hub) Sink(id ClientID) (Sink, bool) {
	h.init()
	cs, local, gen := h.locate(id)
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	if sl := cs.slot(local, gen); sl != nil {
		return sl.sink, true
	}
	return nil, false
}

// Data returns client id's extension data; ok is false if id is gone.
func (h *Hub) Data(id ClientID) (data any, ok bool) {
	h.init()
	cs, local, gen := h.locate(id)
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	if sl := cs.slot(local, gen); sl != nil {
		return sl.data, true
	}
	return nil, false
}

// SetData replaces client id's extension data. It reports false if id is
// gone.
func (h *Hub) SetData(id ClientID, data any) bool {
	h.init()
	cs, local, gen := h.locate(id)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if sl := cs.slot(local, gen); sl != nil {
		sl.data = data
		return true
	}
	return false
}

// Send passes m to client id's Sink, with no Hub lock held, and returns
// its Result: Gone for unknown or stale IDs.
func (h *Hub) Send(id ClientID, m *Message) Result {
	h.init()
	cs, local, gen := h.locate(id)
	cs.mu.RLock()
	var s Sink
	if sl := cs.slot(local, gen); sl != nil {
		s = sl.sink
	}
	cs.mu.RUnlock()
	r := Gone
	if s != nil {
		r = s.Send(m)
	}
	switch r {
	case Queued:
		cs.sent.Add(1)
	case Full:
		cs.full.Add(1)
	default:
		cs.gone.Add(1)
	}
	return r
}

// SetTag adds client id to tag t. It is idempotent and reports false if id
// is gone. Cost: O(1) (amortized; a map lookup per side).
func (h *Hub) SetTag(id ClientID, t Tag) bool {
	h.init()
	cs, local, gen := h.locate(id)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	sl := cs.slot(local, gen)
	if sl == nil {
		return false
	}
	if sl.tags.find(t) >= 0 {
		return true
	}
	ts := h.tagShard(t)
	ts.mu.Lock()
	m := ts.tags[t]
	if m == nil {
		m = new(members)
		ts.tags[t] = m
		ts.n.Add(1)
		if b := h.backplane(); b != nil {
			b.Subscribe(t)
		}
	}
	m.add(id, sl.sink)
	ts.mu.Unlock()
	sl.tags.add(t)
	return true
}

// DelTag removes client id from tag t, if it is there.
func (h *Hub) DelTag(id ClientID, t Tag) {
	h.init()
	cs, local, gen := h.locate(id)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	h.delPair(cs.slot(local, gen), id, t, nil)
}

// delPair removes the pair (id, t) from both sides. id's client shard is
// write-locked; ts is t's shard, or nil to hash t.
func (h *Hub) delPair(sl *clientSlot, id ClientID, t Tag, ts *tagShard) {
	if sl == nil {
		return
	}
	if i, _, _ := sl.tags.remove(t); i < 0 {
		return
	}
	if ts == nil {
		ts = h.tagShard(t)
	}
	ts.mu.Lock()
	h.removePair(ts, t, id)
	ts.mu.Unlock()
}

// DelTags removes client id from all its tags. It holds id's client shard
// lock throughout, so no SetTag of id interleaves, but each tag is updated
// under its own shard lock, one after the other.
func (h *Hub) DelTags(id ClientID) {
	h.init()
	cs, local, gen := h.locate(id)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if sl := cs.slot(local, gen); sl != nil {
		h.untagAll(id, sl)
	}
}

// DeleteTag removes tag t from every client that had it when DeleteTag
// started. It takes a snapshot of t's clients, then removes each pair under
// its two shard locks (so it never holds a lock for long, whatever the
// tag's size). A client tagged with t while DeleteTag runs may keep it, as
// if its SetTag came after.
func (h *Hub) DeleteTag(t Tag) {
	h.init()
	ts := h.tagShard(t)
	buf := idScratch.get()
	ts.mu.RLock()
	if m := ts.tags[t]; m != nil {
		*buf = append(*buf, m.ids.keys...)
	}
	ts.mu.RUnlock()
	for _, id := range *buf {
		cs, local, gen := h.locate(id)
		cs.mu.Lock()
		h.delPair(cs.slot(local, gen), id, t, ts)
		cs.mu.Unlock()
	}
	idScratch.put(buf)
}

// Tags returns a snapshot of client id's tags, sorted; nil if it has none
// or is gone.
func (h *Hub) Tags(id ClientID) []Tag {
	h.init()
	cs, local, gen := h.locate(id)
	cs.mu.RLock()
	var tags []Tag
	if sl := cs.slot(local, gen); sl != nil && sl.tags.len() > 0 {
		tags = slices.Clone(sl.tags.keys)
	}
	cs.mu.RUnlock()
	slices.Sort(tags)
	return tags
}

// Clients returns a snapshot of tag t's clients, in no particular order;
// nil if it has none.
func (h *Hub) Clients(t Tag) []ClientID {
	h.init()
	ts := h.tagShard(t)
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	if m := ts.tags[t]; m != nil {
		return slices.Clone(m.ids.keys)
	}
	return nil
}

// RangeClients calls f for each client of tag t, in no particular order,
// until f returns false. It iterates over a snapshot taken when it starts
// (a reused buffer: no allocation in the steady state) and holds no lock
// while calling f, so f may call any Hub method, including on t.
func (h *Hub) RangeClients(t Tag, f func(ClientID) bool) {
	h.init()
	ts := h.tagShard(t)
	buf := idScratch.get()
	defer idScratch.put(buf)
	ts.mu.RLock()
	if m := ts.tags[t]; m != nil {
		*buf = append(*buf, m.ids.keys...)
	}
	ts.mu.RUnlock()
	for _, id := range *buf {
		if !f(id) {
			return
		}
	}
}

// RangeTags calls f for each tag of client id, in no particular order,
// until f returns false. Like RangeClients, it iterates over a snapshot
// with no lock held.
func (h *Hub) RangeTags(id ClientID, f func(Tag) bool) {
	h.init()
	cs, local, gen := h.locate(id)
	buf := tagScratch.get()
	defer tagScratch.put(buf)
	cs.mu.RLock()
	if sl := cs.slot(local, gen); sl != nil {
		*buf = append(*buf, sl.tags.keys...)
	}
	cs.mu.RUnlock()
	for _, t := range *buf {
		if !f(t) {
			return
		}
	}
}

// SendTag passes m to the Sink of every client of tag t and returns how
// many queued it; receivers that report Full or Gone are not counted. m is
// shared by all receivers (frame it once). SendTag never blocks: it copies
// the tag's Sinks under the tag shard's read lock, then calls them with no
// lock held. A client unregistered meanwhile may still be called; its Sink
// reports Gone.
//
// With a Backplane (SetBackplane), SendTag then hands m to its Publish,
// whether or not t has local clients, for the other nodes' clients of t.
//
// On a tag with history (SetHistory), the message is also numbered and
// kept; publishes to that tag are then serialized (see SetHistory).
func (h *Hub) SendTag(t Tag, m *Message) int {
	h.init()
	if hs := h.lockHistory(t, true); hs != nil {
		n, _ := h.sendHistory(hs, t, func(uint64) *Message { return m })
		return n
	}
	return h.sendPlain(t, m)
}

// sendPlain is SendTag on a tag without history.
func (h *Hub) sendPlain(t Tag, m *Message) int {
	n := h.sendLocal(t, m)
	if b := h.backplane(); b != nil {
		b.Publish(t, m)
	}
	return n
}

// sendLocal is SendTag to this Hub's clients only.
func (h *Hub) sendLocal(t Tag, m *Message) int {
	ts := h.tagShard(t)
	var sent, full, gone uint64
	ts.mu.RLock()
	mem := ts.tags[t]
	switch {
	case mem == nil:
		ts.mu.RUnlock()
		return 0
	case len(mem.sinks) <= smallTag:
		var small [smallTag]Sink
		n := copy(small[:], mem.sinks)
		ts.mu.RUnlock()
		sent, full, gone = sendAll(small[:n], m)
		clear(small[:n])
	default:
		buf := sinkScratch.get()
		*buf = append(*buf, mem.sinks...)
		ts.mu.RUnlock()
		sent, full, gone = sendAll(*buf, m)
		sinkScratch.put(buf)
	}
	if sent > 0 {
		ts.sent.Add(sent)
	}
	if full > 0 {
		ts.full.Add(full)
	}
	if gone > 0 {
		ts.gone.Add(gone)
	}
	return int(sent)
}

// smallTag is the size up to which SendTag snapshots a tag on the stack.
const smallTag = 16

func sendAll(sinks []Sink, m *Message) (sent, full, gone uint64) {
	for _, s := range sinks {
		switch s.Send(m) {
		case Queued:
			sent++
		case Full:
			full++
		default:
			gone++
		}
	}
	return
}

// Len is the number of registered clients.
func (h *Hub) Len() int {
	h.init()
	n := int64(0)
	for i := range h.clients {
		n += h.clients[i].n.Load()
	}
	return int(n)
}

// TagCount is the number of tags that have at least one client.
func (h *Hub) TagCount() int {
	h.init()
	n := int64(0)
	for i := range h.tags {
		n += h.tags[i].n.Load()
	}
	return int(n)
}

// TagLen is the number of clients of tag t.
func (h *Hub) TagLen(t Tag) int {
	h.init()
	ts := h.tagShard(t)
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	if m := ts.tags[t]; m != nil {
		return m.ids.len()
	}
	return 0
}

// Stats returns the Hub's counters. It takes no lock: the fields are read
// one shard at a time and may be mutually inconsistent by in-flight
// operations.
func (h *Hub) Stats() Stats {
	h.init()
	st := Stats{Clients: h.Len(), Tags: h.TagCount()}
	for i := range h.clients {
		cs := &h.clients[i]
		st.Sent += cs.sent.Load()
		st.Dropped += cs.full.Load()
		st.Gone += cs.gone.Load()
	}
	for i := range h.tags {
		ts := &h.tags[i]
		st.Sent += ts.sent.Load()
		st.Dropped += ts.full.Load()
		st.Gone += ts.gone.Load()
	}
	return st
}

// scratch is a pool of reusable snapshot buffers.
type scratch[T any] struct{ p sync.Pool }

var (
	idScratch   scratch[ClientID]
	tagScratch  scratch[Tag]
	sinkScratch scratch[Sink]
)

func (s *scratch[T]) get() *[]T {
	if b, ok := s.p.Get().(*[]T); ok {
		return b
	}
	return new([]T)
}

// put clears b (dropping its references) and pools it, unless it is huge.
func (s *scratch[T]) put(b *[]T) {
	clear(*b)
	if cap(*b) > 1<<20 {
		return
	}
	*b = (*b)[:0]
	s.p.Put(b)
}
