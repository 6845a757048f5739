package backplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/ws"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// Header names on backplane messages.
const (
	// HeaderNode carries the publishing node's ID.
	HeaderNode = "Edge-Node"
	// HeaderType is "text" or "binary": the WebSocket message type.
	HeaderType = "Edge-Type"
)

// Config configures a NATS backplane. Only URLs is required.
type Config struct {
	// URLs are the NATS servers ("nats://127.0.0.1:4222").
	URLs []string
	// User and Password authenticate with user/password.
	User, Password string
	// Token authenticates with a token.
	Token string
	// CredsFile is a NATS credentials file (JWT and NKey seed).
	CredsFile string
	// SubjectPrefix precedes every encoded tag. Empty: DefaultSubjectPrefix.
	// It should end with '.'.
	SubjectPrefix string
	// Name is the NATS connection name and this node's ID in HeaderNode.
	// Empty: a random ID.
	Name string
	// ReconnectWait is the pause between reconnect attempts. Zero: 1 s.
	ReconnectWait time.Duration
	// PublishQueue bounds messages waiting to be published. Zero: 8192.
	PublishQueue int
	// ReceiveQueue bounds received messages waiting to be delivered.
	// Zero: 65536.
	ReceiveQueue int
	// Logger receives connection events. Nil: slog.Default().
	Logger *slog.Logger
}

// Stats are the backplane's counters.
type Stats struct {
	Connected      bool   `json:"connected"`       // the NATS connection is up now
	Subscriptions  int    `json:"subscriptions"`   // tags subscribed to now
	Published      uint64 `json:"published"`       // messages published to NATS
	PublishGap     uint64 `json:"publish_gap"`     // messages not published because NATS was unreachable
	PublishDropped uint64 `json:"publish_dropped"` // messages dropped because the publish queue was full
	PublishErrors  uint64 `json:"publish_errors"`  // other publish failures (too large, ...)
	Received       uint64 `json:"received"`        // messages received from NATS
	Delivered      uint64 `json:"delivered"`       // local clients queued by received messages (one per receiver)
	Echoes         uint64 `json:"echoes"`          // own messages received back and dropped
	BadMessages    uint64 `json:"bad_messages"`    // received messages dropped: undecodable subject
	SlowConsumer   uint64 `json:"slow_consumer"`   // received messages dropped by a full receive queue
	Disconnects    uint64 `json:"disconnects"`     // times the connection was lost
	Reconnects     uint64 `json:"reconnects"`      // times it came back
}

// NATS is a broadcast.Backplane over a NATS connection.
type NATS struct {
	hub    *broadcast.Hub
	nc     *nats.Conn
	log    *slog.Logger
	prefix string
	node   string

	pub   chan pubMsg
	recv  chan *nats.Msg
	kick  chan struct{}
	stop  context.CancelFunc
	wg    sync.WaitGroup
	close sync.Once

	mu    sync.Mutex
	dirty map[broadcast.Tag]struct{}
	subs  map[broadcast.Tag]*nats.Subscription // owned by the reconcile goroutine
	nsubs atomic.Int64

	downSince                              atomic.Int64 // unix nanos, 0 while connected
	gapAtDown                              atomic.Uint64
	published, gap, dropped, pubErrors     atomic.Uint64
	received, delivered, echoes, bad, slow atomic.Uint64
	disconnects, reconnects                atomic.Uint64
}

type pubMsg struct {
	t broadcast.Tag
	m *broadcast.Message
}

// New connects to NATS and attaches the backplane to hub. The connection
// is retried in the background when no server answers at first, so New
// fails only for a bad Config. Close detaches and disconnects.
func New(hub *broadcast.Hub, cfg Config) (*NATS, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("backplane: no NATS urls")
	}
	b := &NATS{
		hub:    hub,
		log:    cfg.Logger,
		prefix: cfg.SubjectPrefix,
		node:   cfg.Name,
		dirty:  make(map[broadcast.Tag]struct{}),
		subs:   make(map[broadcast.Tag]*nats.Subscription),
		kick:   make(chan struct{}, 1),
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.prefix == "" {
		b.prefix = DefaultSubjectPrefix
	}
	if b.node == "" {
		b.node = "edge-" + nuid.Next()
	}
	wait := cfg.ReconnectWait
	if wait <= 0 {
		wait = time.Second
	}
	pq, rq := cfg.PublishQueue, cfg.ReceiveQueue
	if pq <= 0 {
		pq = 8192
	}
	if rq <= 0 {
		rq = 65536
	}
	b.pub = make(chan pubMsg, pq)
	b.recv = make(chan *nats.Msg, rq)
	opts := []nats.Option{
		nats.Name(b.node),
		nats.NoEcho(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.ReconnectJitter(wait/4, wait/4),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(-1), // while down, publishes fail and are counted
		nats.ConnectHandler(func(*nats.Conn) { b.log.Info("backplane: connected to NATS", "node", b.node) }),
		nats.DisconnectErrHandler(b.onDisconnect),
		nats.ReconnectHandler(b.onReconnect),
		nats.ErrorHandler(b.onError),
	}
	switch {
	case cfg.CredsFile != "":
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	case cfg.Token != "":
		opts = append(opts, nats.Token(cfg.Token))
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	url := strings.Join(cfg.URLs, ",")
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("backplane: connect %s: %w", url, err)
	}
	b.nc = nc
	if !nc.IsConnected() {
		b.downSince.Store(time.Now().UnixNano())
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.stop = cancel
	b.wg.Add(3)
	go b.reconcileLoop(ctx)
	go b.publishLoop(ctx)
	go b.receiveLoop(ctx)
	hub.SetBackplane(b)
	return b, nil
}

// Node is this node's ID (the value of HeaderNode on what it publishes).
func (b *NATS) Node() string { return b.node }

// Subject is the NATS subject of tag t.
func (b *NATS) Subject(t broadcast.Tag) string { return b.prefix + EncodeTag(string(t)) }

// Close detaches the backplane from its Hub, stops its goroutines and
// closes the NATS connection. Messages still queued are dropped.
func (b *NATS) Close() error {
	b.close.Do(func() {
		if b.hub.Backplane() == broadcast.Backplane(b) {
			b.hub.SetBackplane(nil)
		}
		b.stop()
		b.wg.Wait()
		b.nc.Close()
	})
	return nil
}

// Subscribe implements broadcast.Backplane: it marks t for the reconcile
// goroutine.
func (b *NATS) Subscribe(t broadcast.Tag) { b.mark(t) }

// Unsubscribe implements broadcast.Backplane, like Subscribe.
func (b *NATS) Unsubscribe(t broadcast.Tag) { b.mark(t) }

func (b *NATS) mark(t broadcast.Tag) {
	b.mu.Lock()
	b.dirty[t] = struct{}{}
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Publish implements broadcast.Backplane: it queues m for NATS, or drops
// and counts it when the queue is full.
func (b *NATS) Publish(t broadcast.Tag, m *broadcast.Message) {
	select {
	case b.pub <- pubMsg{t, m}:
	default:
		b.dropped.Add(1)
	}
}

// Stats returns the counters.
func (b *NATS) Stats() Stats {
	return Stats{
		Connected:      b.nc.IsConnected(),
		Subscriptions:  int(b.nsubs.Load()),
		Published:      b.published.Load(),
		PublishGap:     b.gap.Load(),
		PublishDropped: b.dropped.Load(),
		PublishErrors:  b.pubErrors.Load(),
		Received:       b.received.Load(),
		Delivered:      b.delivered.Load(),
		Echoes:         b.echoes.Load(),
		BadMessages:    b.bad.Load(),
		SlowConsumer:   b.slow.Load(),
		Disconnects:    b.disconnects.Load(),
		Reconnects:     b.reconnects.Load(),
	}
}

// Flush waits until the NATS server has processed everything sent so far
// (subscriptions included), or ctx is done. Tests and orderly shutdowns
// use it.
func (b *NATS) Flush(ctx context.Context) error {
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("backplane: flush: %w", err)
	}
	return nil
}

// reconcileLoop brings the subscriptions in line with the Hub's tags.
func (b *NATS) reconcileLoop(ctx context.Context) {
	defer b.wg.Done()
	var batch []broadcast.Tag
	for {
		select {
		case <-ctx.Done():
			for t, s := range b.subs {
				_ = s.Unsubscribe()
				delete(b.subs, t)
			}
			b.nsubs.Store(0)
			return
		case <-b.kick:
		}
		b.mu.Lock()
		for t := range b.dirty {
			batch = append(batch, t)
		}
		clear(b.dirty)
		b.mu.Unlock()
		for _, t := range batch {
			want := b.hub.TagLen(t) > 0
			s, have := b.subs[t]
			switch {
			case want && !have:
				s, err := b.nc.ChanSubscribe(b.Subject(t), b.recv)
				if err != nil {
					b.log.Warn("backplane: subscribe", "tag", string(t), "err", err)
					continue
				}
				_ = s.SetPendingLimits(-1, -1) // the shared channel is the bound
				b.subs[t] = s
			case !want && have:
				if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
					b.log.Warn("backplane: unsubscribe", "tag", string(t), "err", err)
				}
				delete(b.subs, t)
			}
		}
		clear(batch)
		batch = batch[:0]
		b.nsubs.Store(int64(len(b.subs)))
	}
}

// publishLoop sends queued messages to NATS.
func (b *NATS) publishLoop(ctx context.Context) {
	defer b.wg.Done()
	hdrText := nats.Header{HeaderNode: {b.node}, HeaderType: {"text"}}
	hdrBinary := nats.Header{HeaderNode: {b.node}, HeaderType: {"binary"}}
	for {
		var p pubMsg
		select {
		case <-ctx.Done():
			return
		case p = <-b.pub:
		}
		op, data, ok := framePayload(p.m.Bytes())
		if !ok {
			b.pubErrors.Add(1)
			continue
		}
		if !b.nc.IsConnected() {
			b.gap.Add(1)
			continue
		}
		h := hdrText
		if op == ws.OpBinary {
			h = hdrBinary
		}
		err := b.nc.PublishMsg(&nats.Msg{Subject: b.Subject(p.t), Header: h, Data: data})
		switch {
		case err == nil:
			b.published.Add(1)
		case errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrConnectionReconnecting),
			errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrNoServers):
			b.gap.Add(1)
		default:
			b.pubErrors.Add(1)
			b.log.Warn("backplane: publish", "tag", string(p.t), "err", err)
		}
	}
}

// receiveLoop delivers what other nodes and backends published.
func (b *NATS) receiveLoop(ctx context.Context) {
	defer b.wg.Done()
	for {
		var m *nats.Msg
		select {
		case <-ctx.Done():
			return
		case m = <-b.recv:
		}
		b.received.Add(1)
		if m.Header != nil && m.Header.Get(HeaderNode) == b.node {
			b.echoes.Add(1)
			continue
		}
		tok, ok := strings.CutPrefix(m.Subject, b.prefix)
		var tag string
		if ok {
			tag, ok = DecodeTag(tok)
		}
		if !ok {
			b.bad.Add(1)
			continue
		}
		op := ws.OpText
		typ := ""
		if m.Header != nil {
			typ = m.Header.Get(HeaderType)
		}
		if typ == "binary" || typ == "" && !utf8.Valid(m.Data) {
			op = ws.OpBinary
		}
		n := b.hub.DeliverTag(broadcast.Tag(tag), broadcast.NewMessage(ws.AppendFrame(nil, op, m.Data)))
		b.delivered.Add(uint64(n))
	}
}

func (b *NATS) onDisconnect(_ *nats.Conn, err error) {
	b.disconnects.Add(1)
	b.downSince.Store(time.Now().UnixNano())
	b.gapAtDown.Store(b.gap.Load())
	b.log.Warn("backplane: lost NATS; local delivery goes on", "node", b.node, "err", err)
}

func (b *NATS) onReconnect(nc *nats.Conn) {
	b.reconnects.Add(1)
	var down time.Duration
	if t := b.downSince.Swap(0); t != 0 {
		down = time.Since(time.Unix(0, t))
	}
	b.log.Warn("backplane: NATS back; subscriptions replayed",
		"node", b.node, "url", nc.ConnectedUrlRedacted(), "down", down.Round(time.Millisecond),
		"not_published", b.gap.Load()-b.gapAtDown.Load(), "not_published_total", b.gap.Load())
}

func (b *NATS) onError(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		b.slow.Add(1)
		return
	}
	b.log.Warn("backplane: NATS error", "node", b.node, "err", err)
}

// framePayload splits an unmasked, uncompressed, final WebSocket frame
// (what SendTag shares) into its opcode and payload.
func framePayload(f []byte) (ws.Opcode, []byte, bool) {
	if len(f) < 2 || f[0]&0xf0 != 0x80 || f[1]&0x80 != 0 {
		return 0, nil, false
	}
	op := ws.Opcode(f[0] & 0x0f)
	if op != ws.OpText && op != ws.OpBinary {
		return 0, nil, false
	}
	n, off := uint64(f[1]&0x7f), 2
	switch n {
	case 126:
		if len(f) < 4 {
			return 0, nil, false
		}
		n, off = uint64(f[2])<<8|uint64(f[3]), 4
	case 127:
		if len(f) < 10 {
			return 0, nil, false
		}
		n = 0
		for _, c := range f[2:10] {
			n = n<<8 | uint64(c)
		}
		off = 10
	}
	if uint64(len(f)-off) != n {
		return 0, nil, false
	}
	return op, f[off:], true
}
