package hooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultTimeout    = 2 * time.Second
	DefaultBatchMax   = 64
	DefaultBatchWait  = 5 * time.Millisecond
	DefaultQueue      = 1024
	DefaultQueueBytes = 16 << 20
	DefaultWorkers    = 4
	DefaultMaxAnswer  = 1 << 20
)

// Close codes edge uses on its own.
const (
	// CodeUnavailable closes a client whose connect event could not be
	// answered (queue full, backend down or too slow, bad answer).
	CodeUnavailable = 4503
	// CodeRejectBase plus the answer's status is the close code of a
	// rejected client (4403 for 403).
	CodeRejectBase = 4000
)

// Client is one WebSocket client as the hooks see it. Its methods must be
// safe from any goroutine and do nothing once the client is gone.
type Client interface {
	// ID is the client's ID, unique on this server while it is connected.
	ID() uint64
	// Send sends one message to the client; it reports false if the
	// client is gone or its queue is full.
	Send(binary bool, data []byte) bool
	// Close starts the closing handshake.
	Close(code uint16, reason string)
	// SetTag and DelTag add the client to a tag and remove it.
	SetTag(tag string)
	// DelTag removes the client from tag.
	DelTag(tag string)
	// SetData replaces the client's data (a JSON value from the backend).
	SetData(data []byte)
	// Publish sends a message to every client of tag on the client's
	// server (and further, with a backplane), returning how many local
	// clients it was queued for.
	Publish(tag string, binary bool, data []byte) int
}

// Conn describes the upgrade request of a client, for the connect event.
type Conn struct {
	Path     string            // the path of the upgrade request
	Query    string            // its raw query, without '?'
	Headers  map[string]string // the configured headers it had
	Cookies  map[string]string // its cookies, if Cookie is configured
	Remote   string            // the client's address, "" on Unix sockets
	Protocol string            // the negotiated subprotocol, "" for none
}

// Config configures the hooks of one stream.
type Config struct {
	// URL is the backend: http://HOST:PORT/PATH, or unix:SOCKET:/PATH for
	// a Unix socket (unix:/run/app.sock:/hooks). Required.
	URL string
	// Timeout bounds one backend request, from the first byte sent to the
	// last byte of the answer. Zero: DefaultTimeout.
	Timeout time.Duration
	// BatchMax bounds the messages of one message request. Zero:
	// DefaultBatchMax.
	BatchMax int
	// BatchWait is how long a lane waits, after the first message, for
	// more to batch with it. Zero: DefaultBatchWait; negative: no wait
	// (only what piles up during the previous request is batched).
	BatchWait time.Duration
	// Queue bounds the events waiting for the backend, over all lanes.
	// Zero: DefaultQueue.
	Queue int
	// QueueBytes bounds the message bytes waiting, over all lanes. Zero:
	// DefaultQueueBytes.
	QueueBytes int
	// Workers is the number of lanes: concurrent requests and connections
	// to the backend. Zero: DefaultWorkers.
	Workers int
	// MaxAnswer bounds the body of an answer. Zero: DefaultMaxAnswer.
	MaxAnswer int64
	// Presence lists tag prefixes whose joins and leaves are sent to the
	// backend (join and leave events); "" matches every tag. The tag
	// changes the backend's answers make are seen, the leaves of a
	// client that closes, and the changes reported with TagsChanged;
	// not the others (the Go API's). Nil: no presence events.
	Presence []string
	// Logger gets the drop and failure reports (at most one a second of
	// each). Nil: slog.Default().
	Logger *slog.Logger
}

// Stats are a Hooks' counters since New.
type Stats struct {
	Requests uint64 `json:"requests"` // backend requests answered 2xx
	Messages uint64 `json:"messages"` // messages the backend got (2xx)
	Accepted uint64 `json:"accepted"` // clients accepted on connect
	Rejected uint64 `json:"rejected"` // clients the backend rejected
	// Unavailable counts clients closed with CodeUnavailable: their
	// connect was dropped or failed.
	Unavailable uint64 `json:"unavailable"`
	// Dropped counts events dropped because their lane's queue was full.
	Dropped uint64 `json:"dropped"`
	// Failed counts events lost in failed requests.
	Failed uint64 `json:"failed"`
	// Errors counts failed requests.
	Errors uint64 `json:"errors"`
	// Queued is the events waiting now.
	Queued int `json:"queued"`
}

// Hooks calls one stream's backend. Open, Message and Closed are safe from
// any goroutine and never block on the backend; Stats and Close too.
type Hooks struct {
	cfg    Config
	log    *slog.Logger
	hc     *httpClient
	lanes  []*lane
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // running lanes

	conns sync.Map // uint64 -> *conn: open clients

	requests, messages              atomic.Uint64
	accepted, rejected, unavailable atomic.Uint64
	dropped, failed, errs           atomic.Uint64
	dropLog, failLog                rateLog
	queued                          atomic.Int64
	laneCap, laneBytes, batchMax    int
	batchWait                       time.Duration
	closed                          atomic.Bool
}

// conn is the state of one client.
type conn struct {
	c    Client
	id   uint64
	lane *lane
	// state moves from pending to accepted or rejected (lane goroutine);
	// gone is set by Closed.
	state atomic.Int32
	gone  atomic.Bool
	// Owned by the lane's goroutine: the presence tags the client holds
	// (set through answers) and its data, for join and leave events.
	presence []string
	data     []byte
}

const (
	statePending int32 = iota
	stateAccepted
	stateRejected
)

// New checks cfg and returns the hooks it describes. No goroutine runs
// until there is an event.
func New(cfg Config) (*Hooks, error) {
	hc, err := newHTTPClient(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 || cfg.BatchMax < 0 || cfg.Queue < 0 || cfg.QueueBytes < 0 || cfg.Workers < 0 || cfg.MaxAnswer < 0 {
		return nil, errors.New("hooks: negative limit in Config")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.BatchMax == 0 {
		cfg.BatchMax = DefaultBatchMax
	}
	if cfg.BatchWait == 0 {
		cfg.BatchWait = DefaultBatchWait
	}
	if cfg.Queue == 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.QueueBytes == 0 {
		cfg.QueueBytes = DefaultQueueBytes
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MaxAnswer == 0 {
		cfg.MaxAnswer = DefaultMaxAnswer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	hc.configure(cfg.Workers, cfg.Timeout, cfg.MaxAnswer)
	h := &Hooks{
		cfg:       cfg,
		log:       cfg.Logger,
		hc:        hc,
		laneCap:   max(1, cfg.Queue/cfg.Workers),
		laneBytes: max(1, cfg.QueueBytes/cfg.Workers),
		batchMax:  cfg.BatchMax,
		batchWait: max(0, cfg.BatchWait),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.lanes = make([]*lane, cfg.Workers)
	for i := range h.lanes {
		h.lanes[i] = &lane{h: h, ring: make([]item, h.laneCap), more: make(chan struct{}, 1)}
	}
	return h, nil
}

// Open sends the connect event of c (info describes its upgrade request).
// Until the backend accepts it, c's messages wait in its lane; if the
// backend rejects it, c is closed and they are discarded.
func (h *Hooks) Open(c Client, info *Conn) {
	id := c.ID()
	cn := &conn{c: c, id: id, lane: h.lanes[id%uint64(len(h.lanes))]}
	h.conns.Store(id, cn)
	if !cn.lane.push(item{kind: evConnect, cn: cn, info: info}) {
		h.conns.Delete(id)
		h.unavailable.Add(1)
		c.Close(CodeUnavailable, "hooks: queue full")
	}
}

// Message queues one message of c for the backend; data is copied. It
// reports false when the message was dropped: c was not opened or was
// rejected, or its lane is full (counted in Stats.Dropped).
func (h *Hooks) Message(c Client, binary bool, data []byte) bool {
	v, ok := h.conns.Load(c.ID())
	if !ok {
		return false
	}
	cn := v.(*conn)
	if cn.state.Load() == stateRejected {
		return false
	}
	return cn.lane.push(item{kind: evMessage, cn: cn, binary: binary, data: append([]byte(nil), data...), at: time.Now()})
}

// Closed tells the backend that c has gone, with its close code (only for
// clients it accepted).
func (h *Hooks) Closed(c Client, code uint16) {
	v, ok := h.conns.LoadAndDelete(c.ID())
	if !ok {
		return
	}
	cn := v.(*conn)
	cn.gone.Store(true)
	if cn.state.Load() == stateRejected {
		return
	}
	cn.lane.push(item{kind: evClose, cn: cn, code: code})
}

// TagsChanged tells the hooks that client id's tags were changed by
// someone else than the backend's answers (the control API, say), so that
// presence tags make join and leave events. It reports whether id is a
// client of these hooks.
func (h *Hooks) TagsChanged(id uint64, added, removed []string) bool {
	v, ok := h.conns.Load(id)
	if !ok {
		return false
	}
	if len(h.cfg.Presence) == 0 {
		return true
	}
	pick := func(ts []string) []string {
		var out []string
		for _, t := range ts {
			if h.presenceTag(t) {
				out = append(out, t)
			}
		}
		return out
	}
	added, removed = pick(added), pick(removed)
	if len(added) > 0 || len(removed) > 0 {
		cn := v.(*conn)
		cn.lane.push(item{kind: evTags, cn: cn, tags: added, untags: removed})
	}
	return true
}

// Stats returns the counters.
func (h *Hooks) Stats() Stats {
	return Stats{
		Requests:    h.requests.Load(),
		Messages:    h.messages.Load(),
		Accepted:    h.accepted.Load(),
		Rejected:    h.rejected.Load(),
		Unavailable: h.unavailable.Load(),
		Dropped:     h.dropped.Load(),
		Failed:      h.failed.Load(),
		Errors:      h.errs.Load(),
		Queued:      int(h.queued.Load()),
	}
}

// Close stops the hooks: requests in flight are cancelled, queued events
// are discarded, later events are dropped, and Close returns once every
// lane goroutine has ended.
func (h *Hooks) Close() {
	if h.closed.Swap(true) {
		return
	}
	for _, l := range h.lanes {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
	}
	h.cancel()
	h.wg.Wait()
	h.hc.closeIdle()
}

// dropCounted counts and reports one dropped event.
func (h *Hooks) dropCounted(ev eventKind) {
	h.dropped.Add(1)
	if n, ok := h.dropLog.allow(); ok {
		h.log.Warn("hooks: lane queue full: events dropped", "url", h.cfg.URL, "event", ev.String(), "dropped", n, "total", h.dropped.Load())
	}
}

// failCounted counts and reports a failed request that lost n events.
func (h *Hooks) failCounted(ev eventKind, n int, err error) {
	h.errs.Add(1)
	h.failed.Add(uint64(n))
	if k, ok := h.failLog.allow(); ok {
		h.log.Warn("hooks: backend request failed: events lost", "url", h.cfg.URL, "event", ev.String(), "err", err, "failedRequests", k, "lost", n, "totalLost", h.failed.Load())
	}
}

// rateLog allows one report a second, with the count since the last one.
type rateLog struct {
	mu    sync.Mutex
	last  time.Time
	count uint64
}

func (r *rateLog) allow() (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count++
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < time.Second {
		return 0, false
	}
	n := r.count
	r.last, r.count = now, 0
	return n, true
}

type eventKind uint8

const (
	evConnect eventKind = iota
	evMessage
	evClose
	evJoin
	evLeave
	evTags // tags changed elsewhere (TagsChanged): may make joins and leaves
)

func (k eventKind) String() string {
	switch k {
	case evConnect:
		return "connect"
	case evMessage:
		return "message"
	case evClose:
		return "close"
	case evJoin:
		return "join"
	case evLeave:
		return "leave"
	case evTags:
		return "tags"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// item is one queued event.
type item struct {
	kind   eventKind
	cn     *conn
	info   *Conn     // connect
	binary bool      // message
	data   []byte    // message
	at     time.Time // message: when it was queued
	code   uint16    // close
	tags   []string  // join, leave; tags: added
	untags []string  // tags: removed
}

// lane is a bounded FIFO of events with at most one goroutine sending
// them, started when an event arrives and ending when the FIFO is empty.
type lane struct {
	h       *Hooks
	mu      sync.Mutex
	ring    []item
	head, n int
	bytes   int
	running bool
	closed  bool
	more    chan struct{} // a batch may be full: wake the waiting sender
}

// push queues it, starting the lane's goroutine if needed; it reports
// false (and counts the drop) when the lane is full or closed.
func (l *lane) push(it item) bool {
	l.mu.Lock()
	if l.closed || l.n == len(l.ring) || l.bytes+len(it.data) > l.h.laneBytes {
		l.mu.Unlock()
		l.h.dropCounted(it.kind)
		return false
	}
	l.ring[(l.head+l.n)%len(l.ring)] = it
	l.n++
	l.bytes += len(it.data)
	l.h.queued.Add(1)
	if !l.running {
		l.running = true
		l.h.wg.Add(1)
		go l.run()
	} else if l.n >= l.h.batchMax {
		select {
		case l.more <- struct{}{}:
		default:
		}
	}
	l.mu.Unlock()
	return true
}

// pushFront queues it first, from the lane's own goroutine; it reports
// false (and counts the drop) when the lane is full or closed.
func (l *lane) pushFront(it item) bool {
	l.mu.Lock()
	if l.closed || l.n == len(l.ring) {
		l.mu.Unlock()
		l.h.dropCounted(it.kind)
		return false
	}
	l.head = (l.head - 1 + len(l.ring)) % len(l.ring)
	l.ring[l.head] = it
	l.n++
	l.h.queued.Add(1)
	l.mu.Unlock()
	return true
}

// popLocked removes the first event.
func (l *lane) popLocked() item {
	it := l.ring[l.head]
	l.ring[l.head] = item{}
	l.head = (l.head + 1) % len(l.ring)
	l.n--
	l.bytes -= len(it.data)
	l.h.queued.Add(-1)
	return it
}

// run sends the lane's events until there are none.
func (l *lane) run() {
	defer l.h.wg.Done()
	var batch []item
	for {
		l.mu.Lock()
		if l.n == 0 || l.closed {
			for l.n > 0 {
				l.popLocked()
			}
			l.running = false
			l.mu.Unlock()
			return
		}
		first := l.ring[l.head]
		if first.kind == evMessage && l.h.batchWait > 0 {
			l.waitLocked(first.at.Add(l.h.batchWait))
			if l.closed {
				l.mu.Unlock()
				continue
			}
		}
		batch = batch[:0]
		if l.ring[l.head].kind != evMessage {
			batch = append(batch, l.popLocked())
		} else {
			for l.n > 0 && len(batch) < l.h.batchMax && l.ring[l.head].kind == evMessage {
				batch = append(batch, l.popLocked())
			}
		}
		l.mu.Unlock()
		l.send(batch)
		clear(batch)
	}
}

// waitLocked waits, l.mu held, until deadline or until BatchMax events
// are queued.
func (l *lane) waitLocked(deadline time.Time) {
	for l.n < l.h.batchMax && !l.closed {
		d := time.Until(deadline)
		if d <= 0 {
			return
		}
		select { // drain a stale wake-up
		case <-l.more:
		default:
		}
		l.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-l.more:
		case <-t.C:
		case <-l.h.ctx.Done():
		}
		t.Stop()
		l.mu.Lock()
	}
}

// send makes the request for batch: one connect or close event, or
// messages.
func (l *lane) send(batch []item) {
	h := l.h
	switch batch[0].kind {
	case evConnect:
		h.connect(batch[0])
	case evJoin, evLeave:
		h.presenceOut(batch[0])
	case evTags:
		if it := batch[0]; it.cn.state.Load() == stateAccepted {
			h.presenceChange(it.cn, it.tags, it.untags)
		}
	case evClose:
		it := batch[0]
		if it.cn.state.Load() != stateAccepted {
			return // rejected or never answered: the backend does not know it
		}
		if cn := it.cn; len(cn.presence) > 0 {
			// The client's presence tags go with it.
			h.presenceOut(item{kind: evLeave, cn: cn, tags: cn.presence})
			cn.presence = nil
		}
		body := encodeClose(it.cn.id, it.code)
		if _, err := h.hc.post(h.ctx, evClose, body); err != nil {
			h.failCounted(evClose, 1, err)
			return
		}
		h.requests.Add(1)
	case evMessage:
		h.messagesOut(batch)
	}
}

// connect asks the backend about a new client and applies the answer.
func (h *Hooks) connect(it item) {
	cn := it.cn
	body := encodeConnect(cn.id, it.info)
	ans, err := h.hc.post(h.ctx, evConnect, body)
	var a *Answer
	if err == nil {
		a, err = decodeConnectAnswer(ans)
	}
	if err != nil {
		h.failCounted(evConnect, 1, err)
		h.unavailable.Add(1)
		cn.state.Store(stateRejected)
		cn.c.Close(CodeUnavailable, "hooks: backend unavailable")
		return
	}
	h.requests.Add(1)
	if !a.accepted() {
		h.rejected.Add(1)
		cn.state.Store(stateRejected)
		code, reason := a.rejectClose()
		cn.c.Close(code, reason)
		return
	}
	h.accepted.Add(1)
	cn.state.Store(stateAccepted)
	h.apply(cn, a)
}

// messagesOut sends the messages of accepted clients in batch and applies
// the answers.
func (h *Hooks) messagesOut(batch []item) {
	keep := batch[:0]
	for _, it := range batch {
		if it.cn.state.Load() == stateAccepted {
			keep = append(keep, it)
		}
	}
	if len(keep) == 0 {
		return
	}
	body := encodeMessages(keep)
	ans, err := h.hc.post(h.ctx, evMessage, body)
	var as []*Answer
	if err == nil {
		as, err = decodeMessageAnswers(ans, len(keep))
	}
	if err != nil {
		h.failCounted(evMessage, len(keep), err)
		return
	}
	h.requests.Add(1)
	h.messages.Add(uint64(len(keep)))
	for i, a := range as {
		if a != nil {
			h.apply(keep[i].cn, a)
		}
	}
}

// apply applies answer a to cn's client and queues the join and leave
// events of the presence tags it changed. It runs on cn's lane goroutine.
func (h *Hooks) apply(cn *conn, a *Answer) {
	a.apply(cn.c)
	if len(a.Data) > 0 {
		cn.data = a.Data
	}
	h.presenceChange(cn, slices.Concat(a.Tags, a.SetTags), a.DelTags)
}

// presenceChange queues, first in cn's lane, the leave and join events
// for the presence tags among added and removed that cn did not have or
// had. It runs on cn's lane goroutine.
func (h *Hooks) presenceChange(cn *conn, added, removed []string) {
	if len(h.cfg.Presence) == 0 || cn.gone.Load() {
		return
	}
	var joined, left []string
	for _, t := range removed {
		if i := slices.Index(cn.presence, t); i >= 0 {
			cn.presence = slices.Delete(cn.presence, i, i+1)
			left = append(left, t)
		}
	}
	for _, t := range added {
		if h.presenceTag(t) && !slices.Contains(cn.presence, t) {
			cn.presence = append(cn.presence, t)
			joined = append(joined, t)
		}
	}
	// Next in the lane, before the events that came after the answered
	// one: leaves, then joins.
	if len(joined) > 0 {
		cn.lane.pushFront(item{kind: evJoin, cn: cn, tags: joined})
	}
	if len(left) > 0 {
		cn.lane.pushFront(item{kind: evLeave, cn: cn, tags: left})
	}
}

// presenceTag reports whether joins and leaves of t go to the backend.
func (h *Hooks) presenceTag(t string) bool {
	for _, p := range h.cfg.Presence {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// presenceOut sends a join or leave event and applies its answer, if any.
func (h *Hooks) presenceOut(it item) {
	cn := it.cn
	if cn.state.Load() != stateAccepted {
		return
	}
	body := encodePresence(it.kind, cn.id, it.tags, cn.data)
	ans, err := h.hc.post(h.ctx, it.kind, body)
	var a *Answer
	if err == nil {
		a, err = decodeAnswer(ans)
	}
	if err != nil {
		h.failCounted(it.kind, 1, err)
		return
	}
	h.requests.Add(1)
	if a != nil {
		h.apply(cn, a)
	}
}
