package main

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/ws"
)

// Chat history (stream: {mode: chat, history: {...}}): the messages of a
// room are also kept, numbered, in the Hub's history of the tag
// "seq:room:NAME", whose clients get them in a JSON envelope with their
// sequence number:
//
//	{"tag":"room:lobby","seq":42,"data":"text"}        a text message
//	{"tag":"room:lobby","seq":43,"base64":"AAEC"}      a binary one
//	{"tag":"room:lobby","gap":true,"first":40,"last":43} missed messages were dropped
//
// A client asks for envelopes with ?seq=1 or with ?since=room:lobby:42 (its
// last sequence number in that room); then it first receives the kept
// messages after 42 (all the kept ones without since), a gap marker first
// if some of them were already dropped or if 42 is not from this node's
// history, then the live ones, in order, with no duplicate and no loss in
// between (Hub.Resume holds the room's history lock while it sends the
// missed messages and tags the client). Clients without seq or since get
// the plain messages, as before: each message is framed twice, once plain
// for them and once in its envelope.

// seqTagPrefix prefixes the tag of a room's envelope clients.
const seqTagPrefix = "seq:"

// defaultHistoryAge is a room history's maxAge when the config gives none.
const defaultHistoryAge = 10 * time.Minute

// chatHistory is the history state of one chat stream.
type chatHistory struct {
	rule      broadcast.HistoryRule
	once      sync.Once    // the Hub's rule, set on the first client
	lastSweep atomic.Int64 // unix nanoseconds of the last SweepHistory
	sweeping  atomic.Bool
}

// open readies the Hub for a new client: it sets the history rule once,
// and now and then (every maxAge, at most once a minute) sweeps the
// expired rooms' histories, in a goroutine of its own (it visits every
// room), one at a time.
func (ch *chatHistory) open(hub *broadcast.Hub) {
	ch.once.Do(func() {
		hub.SetHistory(ch.rule)
		ch.lastSweep.Store(time.Now().UnixNano())
	})
	if ch.rule.MaxAge <= 0 {
		return
	}
	every := max(ch.rule.MaxAge, time.Minute)
	now := time.Now().UnixNano()
	if now-ch.lastSweep.Load() < int64(every) || !ch.sweeping.CompareAndSwap(false, true) {
		return
	}
	ch.lastSweep.Store(now)
	go func() {
		defer ch.sweeping.Store(false)
		hub.SweepHistory()
	}()
}

// sinceQuery reads the seq and since parameters of an upgrade URL for room
// tag t: seqMode is true when the client wants envelopes, has when it gave
// a since for t (a malformed one counts as absent).
func sinceQuery(rawURL string, t broadcast.Tag) (since uint64, has, seqMode bool) {
	_, q, _ := strings.Cut(rawURL, "?")
	vals, _ := url.ParseQuery(q)      // a malformed pair is skipped
	for _, v := range vals["since"] { // TAG:SEQ, one per tag
		seqMode = true
		i := strings.LastIndexByte(v, ':')
		if i < 0 || v[:i] != string(t) {
			continue
		}
		if s, err := strconv.ParseUint(v[i+1:], 10, 64); err == nil {
			since, has = s, true
		}
	}
	if vals.Get("seq") == "1" {
		seqMode = true
	}
	return since, has, seqMode
}

// envelope is the JSON of one enveloped message or gap marker.
type envelope struct {
	Tag    string `json:"tag"`
	Seq    uint64 `json:"seq,omitempty"`
	Data   string `json:"data,omitempty"`
	Base64 string `json:"base64,omitempty"`
	Gap    bool   `json:"gap,omitempty"`
	First  uint64 `json:"first,omitempty"`
	Last   uint64 `json:"last,omitempty"`
}

// frame frames e as one text message.
func (e *envelope) frame() *broadcast.Message {
	b, _ := json.Marshal(e) // strings and integers only: cannot fail
	return broadcast.NewMessage(ws.AppendFrame(nil, ws.OpText, b))
}

// publishSeq sends one message of room t to its envelope clients, numbered.
func publishSeq(hub *broadcast.Hub, t broadcast.Tag, op ws.Opcode, data []byte) {
	hub.SendTagSeq(seqTagPrefix+t, func(seq uint64) *broadcast.Message {
		e := envelope{Tag: string(t), Seq: seq}
		if op == ws.OpBinary {
			e.Base64 = base64.StdEncoding.EncodeToString(data)
		} else {
			e.Data = string(data)
		}
		return e.frame()
	})
}

// resumeRoom joins client c to the envelope tag of room t, after sending
// it what it missed since sequence number since (everything kept if it
// gave none: then there is no gap marker either).
func resumeRoom(c *edge.Client, t broadcast.Tag, since uint64, has bool) {
	var onGap func(first, last uint64) *broadcast.Message
	if has {
		onGap = func(first, last uint64) *broadcast.Message {
			return (&envelope{Tag: string(t), Gap: true, First: first, Last: last}).frame()
		}
	}
	c.Server().Hub().Resume(c.ID(), seqTagPrefix+t, since, onGap)
}

// checkHistory refuses chat history with the NATS backplane: history is
// per node, and a message published on one node would reach the envelope
// clients of the others with the first node's number, which means nothing
// there (a JetStream-backed history would be the way to have both).
func (fc *fileConfig) checkHistory(d *decoder) {
	if fc.nats == nil {
		return
	}
	for _, lc := range fc.listeners {
		for _, hc := range lc.hosts {
			for _, rc := range hc.routes {
				if rc.stream != nil && rc.stream.history != nil {
					d.errors(d.errorAt(rc.at, "stream.history: is per node, not available with nats: (yet)"))
					return
				}
			}
		}
	}
}
