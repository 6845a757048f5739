package broadcast

import (
	"strings"
	"sync"
	"time"
)

// HistoryRule keeps the recent messages of the tags that start with
// Prefix, numbered, so that a client that reconnects can catch up on what
// it missed (Hub.Resume) or learn that it cannot (a gap).
//
// A tag's history is bounded three ways, whichever bites first: Max
// messages, MaxBytes bytes (the sum of Message.Len, so the framed size),
// and MaxAge. Eviction is lazy: it happens when the tag is published to
// or read (no timer), so an idle tag keeps its expired messages in memory
// until then; the bounds on count and bytes hold at all times.
type HistoryRule struct {
	// Prefix selects the tags ("room:" for every room). The first rule
	// whose Prefix matches a tag applies.
	Prefix string
	// Max is the number of messages kept per tag. Zero or negative: 100.
	Max int
	// MaxBytes bounds the framed bytes kept per tag (at least the newest
	// message is kept). Zero or negative: 1 MiB.
	MaxBytes int
	// MaxAge drops messages older than this. Zero: no age bound.
	MaxAge time.Duration
}

// Default history bounds.
const (
	defaultHistoryMax   = 100
	defaultHistoryBytes = 1 << 20
)

type historyRules struct{ rules []HistoryRule }

// SetHistory turns per-tag history on for the tags matched by rules
// (replacing earlier rules; none turns history off). Call it before
// publishing: a tag has history while a rule matches it; its history is
// created, with the rule's bounds, the first time it is published to or
// resumed, and keeps those bounds.
//
// On a tag with history, each SendTag (and SendTagSeq) gets the tag's
// next sequence number (1, 2, 3... per tag and per Hub, so per node) and
// the message is kept in the tag's history. Publishes to one such tag are
// serialized (a per-tag lock held while the message is numbered, kept and
// handed to the local Sinks), so every client of the tag receives them in
// sequence order. Tags without history are unaffected. Messages that a
// Backplane delivers from other nodes (DeliverTag) are not kept: history
// is per node.
//
// The state of a tag's history (its counter and its messages) lives until
// SweepHistory finds all its messages expired (MaxAge); without MaxAge, or
// without SweepHistory, memory grows with the number of distinct history
// tags ever used, each bounded by its rule.
func (h *Hub) SetHistory(rules ...HistoryRule) {
	h.init()
	if len(rules) == 0 {
		h.rules.Store(nil)
		return
	}
	rs := make([]HistoryRule, len(rules))
	for i, r := range rules {
		if r.Max <= 0 {
			r.Max = defaultHistoryMax
		}
		if r.MaxBytes <= 0 {
			r.MaxBytes = defaultHistoryBytes
		}
		rs[i] = r
	}
	h.rules.Store(&historyRules{rs})
}

// history is one tag's numbered recent messages.
type history struct {
	mu    sync.Mutex
	dead  bool // dropped by SweepHistory: look the tag up again
	rule  HistoryRule
	last  uint64      // sequence of the newest message published (0: none)
	ents  []histEntry // ents[start:] are kept, oldest first
	start int
	bytes int
}

type histEntry struct {
	seq uint64
	at  int64 // unix nanoseconds
	m   *Message
}

func (hs *history) kept() []histEntry { return hs.ents[hs.start:] }

// push appends m as message seq, then evicts beyond the bounds. hs.mu is
// held.
func (hs *history) push(seq uint64, at int64, m *Message) {
	if hs.start > 0 && len(hs.ents) == cap(hs.ents) {
		n := copy(hs.ents, hs.ents[hs.start:])
		clear(hs.ents[n:])
		hs.ents, hs.start = hs.ents[:n], 0
	}
	hs.ents = append(hs.ents, histEntry{seq: seq, at: at, m: m})
	hs.bytes += m.Len()
	for k := len(hs.ents) - hs.start; k > 1 && (k > hs.rule.Max || hs.bytes > hs.rule.MaxBytes); k-- {
		hs.dropOldest()
	}
	hs.expire(at)
}

// expire drops the messages older than the rule's MaxAge. hs.mu is held.
func (hs *history) expire(now int64) {
	if hs.rule.MaxAge <= 0 {
		return
	}
	cut := now - int64(hs.rule.MaxAge)
	for hs.start < len(hs.ents) && hs.ents[hs.start].at < cut {
		hs.dropOldest()
	}
	if hs.start == len(hs.ents) {
		hs.ents, hs.start = hs.ents[:0], 0
	}
}

func (hs *history) dropOldest() {
	e := &hs.ents[hs.start]
	hs.bytes -= e.m.Len()
	*e = histEntry{}
	hs.start++
}

// since returns the kept messages newer than seq and whether some were
// lost (see Hub.Since). hs.mu is held.
func (hs *history) since(seq uint64) (ents []histEntry, first uint64, gap bool) {
	kept := hs.kept()
	switch {
	case seq > hs.last:
		// The client numbers from another life of this tag (another node,
		// a restart): nothing it knows can be trusted.
		return kept, firstSeq(kept, hs.last), true
	case seq == hs.last:
		return nil, hs.last + 1, false
	}
	if len(kept) == 0 || kept[0].seq > seq+1 {
		return kept, firstSeq(kept, hs.last), true
	}
	i := int(seq + 1 - kept[0].seq)
	return kept[i:], seq + 1, false
}

func firstSeq(kept []histEntry, last uint64) uint64 {
	if len(kept) > 0 {
		return kept[0].seq
	}
	return last + 1
}

func (h *Hub) now() int64 {
	if h.clock != nil {
		return h.clock().UnixNano()
	}
	return time.Now().UnixNano()
}

// historyOf returns tag t's history if a rule of SetHistory matches t,
// creating it if create; nil otherwise. It costs nothing but an atomic
// load when no rule is set, and a prefix test per rule for tags that match
// none.
func (h *Hub) historyOf(t Tag, create bool) *history {
	rs := h.rules.Load()
	if rs == nil {
		return nil
	}
	var rule *HistoryRule
	for i := range rs.rules {
		if strings.HasPrefix(string(t), rs.rules[i].Prefix) {
			rule = &rs.rules[i]
			break
		}
	}
	if rule == nil {
		return nil
	}
	ts := h.tagShard(t)
	ts.mu.RLock()
	hs := ts.hist[t]
	ts.mu.RUnlock()
	if hs != nil || !create {
		return hs
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if hs = ts.hist[t]; hs == nil {
		if ts.hist == nil {
			ts.hist = make(map[Tag]*history)
		}
		// A tag dropped by SweepHistory numbers on above every number it
		// gave, so that a client of its earlier life sees a gap.
		hs = &history{rule: *rule, last: h.seqFloor.Load()}
		ts.hist[t] = hs
	}
	return hs
}

// lockHistory returns tag t's history locked, as historyOf, or nil.
func (h *Hub) lockHistory(t Tag, create bool) *history {
	for {
		hs := h.historyOf(t, create)
		if hs == nil {
			return nil
		}
		hs.mu.Lock()
		if !hs.dead {
			return hs
		}
		hs.mu.Unlock()
	}
}

// SweepHistory drops the state of the tags whose kept messages have all
// expired (MaxAge) and that nothing is using at the moment, and returns
// how many it dropped. Call it now and then (every MaxAge, say): it visits
// every history tag, one tag shard at a time. A dropped tag that is
// published to again numbers on above every number this Hub gave out
// before the drop, so a client that resumes with a number from before sees
// a gap, never someone else's messages.
func (h *Hub) SweepHistory() int {
	h.init()
	now := h.now()
	n := 0
	for i := range h.tags {
		ts := &h.tags[i]
		ts.mu.Lock()
		for t, hs := range ts.hist {
			if !hs.mu.TryLock() { // busy: hs.mu comes before ts.mu
				continue
			}
			hs.expire(now)
			if hs.rule.MaxAge > 0 && len(hs.kept()) == 0 {
				for f := h.seqFloor.Load(); f < hs.last && !h.seqFloor.CompareAndSwap(f, hs.last); f = h.seqFloor.Load() {
				}
				hs.dead = true
				delete(ts.hist, t)
				n++
			}
			hs.mu.Unlock()
		}
		ts.mu.Unlock()
	}
	return n
}

// SendTagSeq is SendTag for a message that carries its own sequence
// number: build gets the number the message will have in t's history and
// returns the message (it runs with t's history lock held: it must not
// call the Hub). It returns how many clients queued the message and its
// sequence number. On a tag without history, build gets 0.
func (h *Hub) SendTagSeq(t Tag, build func(seq uint64) *Message) (n int, seq uint64) {
	h.init()
	if hs := h.lockHistory(t, true); hs != nil {
		return h.sendHistory(hs, t, build)
	}
	return h.sendPlain(t, build(0)), 0
}

// sendHistory numbers, keeps and sends one message of a history tag; hs
// is locked (lockHistory), and unlocked on return.
func (h *Hub) sendHistory(hs *history, t Tag, build func(seq uint64) *Message) (int, uint64) {
	seq := hs.last + 1
	m := build(seq)
	hs.last = seq
	hs.push(seq, h.now(), m)
	n := h.sendLocal(t, m)
	hs.mu.Unlock()
	if b := h.backplane(); b != nil {
		b.Publish(t, m)
	}
	return n, seq
}

// LastSeq is the sequence number of the newest message published to tag
// t (0 if none, or if t has no history).
func (h *Hub) LastSeq(t Tag) uint64 {
	h.init()
	hs := h.lockHistory(t, false)
	if hs == nil {
		return 0
	}
	defer hs.mu.Unlock()
	return hs.last
}

// Since returns the kept messages of tag t newer than sequence number
// seq, oldest first, and the sequence number of the first of them (when
// msgs is empty: the number the next message will get).
//
// gap reports that the caller cannot catch up from seq: messages after
// seq were already evicted (msgs then holds what is kept, from first), or
// seq is ahead of the tag's newest message (it comes from another node or
// an earlier life of the Hub). A client told of a gap must resync by
// other means (reload the room, say). seq 0 asks for everything kept; it
// is a gap only if some messages were evicted. A tag with no history has
// no messages and reports a gap for any seq above 0.
func (h *Hub) Since(t Tag, seq uint64) (msgs []*Message, first uint64, gap bool) {
	h.init()
	hs := h.lockHistory(t, false)
	if hs == nil {
		return nil, h.seqFloor.Load() + 1, seq > 0
	}
	defer hs.mu.Unlock()
	hs.expire(h.now())
	ents, first, gap := hs.since(seq)
	if len(ents) > 0 {
		msgs = make([]*Message, len(ents))
		for i, e := range ents {
			msgs[i] = e.m
		}
	}
	return msgs, first, gap
}

// Resume adds client id to tag t, like SetTag, after sending it the kept
// messages of t newer than seq (see Since), so that the client misses
// nothing between what it saw and the live messages. It is atomic with
// respect to publishes on t: each one is either kept and sent here, or
// sent live after the kept ones, never both, never neither (they are
// serialized by t's history lock, which Resume holds throughout).
//
// When there is a gap (see Since), Resume first sends the Message that
// onGap returns for (first, last): the sequence of the first kept message
// sent next and of the newest; onGap runs with the history lock held and
// must not call the Hub; nil onGap, or a nil Message, sends no marker.
// If t has no history, Resume is SetTag (a seq above 0 is still a gap).
//
// It returns how many messages were queued (the marker included), whether
// there was a gap, and false if id is gone. Like SendTag it never blocks;
// a client whose queue overflows is closed by its Sink (Full), and the
// remaining messages are not sent.
func (h *Hub) Resume(id ClientID, t Tag, seq uint64, onGap func(first, last uint64) *Message) (n int, gap, ok bool) {
	h.init()
	hs := h.lockHistory(t, true)
	if hs == nil {
		if seq > 0 && onGap != nil {
			if m := onGap(1, 0); m != nil && h.Send(id, m) == Queued {
				n++
			}
		}
		return n, seq > 0, h.SetTag(id, t)
	}
	defer hs.mu.Unlock()
	hs.expire(h.now())
	ents, first, gap := hs.since(seq)
	if gap && onGap != nil {
		if m := onGap(first, hs.last); m != nil {
			switch h.Send(id, m) {
			case Queued:
				n++
			case Full:
				return n, gap, true
			default:
				return n, gap, false
			}
		}
	}
	for _, e := range ents {
		switch h.Send(id, e.m) {
		case Queued:
			n++
		case Full:
			return n, gap, true
		default:
			return n, gap, false
		}
	}
	return n, gap, h.SetTag(id, t)
}
