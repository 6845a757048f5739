package main

import (
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/hooks"
	"github.com/edge-rt/edge/http1"
	"github.com/edge-rt/edge/static"
	"github.com/edge-rt/edge/web"
	"github.com/edge-rt/edge/ws"
)

// WebSocket streams in the config file: a route whose action is stream:
//
//	- path: /chat
//	  stream: {mode: chat, compression: true, page: "embed:chat.html"}
//
// Without Go code a stream does one of two fixed things with messages
// (mode): echo them back, or relay them to a room; or (mode hooks,
// hooks.go) it hands its clients to a backend in any language.

// streamKeys are the keys of a stream: mapping.
var streamKeys = []string{"mode", "protocols", "maxMessage", "queueBytes", "compression", "page", "hooks", "history"}

// historyKeys are the keys of a chat stream's history: mapping.
var historyKeys = []string{"max", "maxAge", "maxBytes"}

// Stream modes.
const (
	modeEcho = "echo" // every message goes back to its sender
	modeChat = "chat" // every message goes to every client of the sender's room
)

// Chat rooms: the room query parameter of the upgrade URL.
const (
	defaultRoom    = "lobby"
	roomTagPrefix  = "room:"
	maxRoomLen     = 64
	badRoomCode    = 1008 // policy violation
	badRoomReason  = "bad room name: want 1 to 64 of A-Z a-z 0-9 _ -"
	maxStreamBytes = math.MaxInt32
)

type streamConfig struct {
	mode        string // modeEcho or modeChat
	protocols   []string
	maxMessage  int64 // 0: edge's default (1 MiB)
	queueBytes  int   // 0: edge's default (1 MiB)
	compression bool
	page        string                 // a file resolved against fileConfig.dir, "embed:NAME", or ""
	hooks       *hooksConfig           // mode hooks (hooks.go)
	history     *broadcast.HistoryRule // mode chat: keep recent messages per room
}

// stream decodes a stream: action.
func (d *decoder) stream(f field) *streamConfig {
	fs, ok := d.mapping(f.val, f.path, streamKeys...)
	if !ok {
		return nil
	}
	sc := &streamConfig{}
	bad := false
	mf, hasMode := fs.get("mode")
	if !hasMode {
		d.errorf(f.val, f.path, "missing mode: want echo, chat or hooks")
		bad = true
	} else if s, ok := d.str(mf.val, mf.path); !ok {
		bad = true
	} else if s != modeEcho && s != modeChat && s != modeHooks {
		d.errorf(mf.val, mf.path, "unknown mode %q: want echo, chat or hooks", s)
		bad = true
	} else {
		sc.mode = s
	}
	if pf, ok := fs.get("protocols"); ok {
		if sc.protocols, ok = d.protocols(pf); !ok {
			bad = true
		}
	}
	if sf, ok := fs.get("maxMessage"); ok {
		if v, ok := d.size(sf, maxStreamBytes); ok {
			sc.maxMessage = v
		} else {
			bad = true
		}
	}
	if sf, ok := fs.get("queueBytes"); ok {
		if v, ok := d.size(sf, maxStreamBytes); ok {
			sc.queueBytes = int(v)
		} else {
			bad = true
		}
	}
	if cf, ok := fs.get("compression"); ok {
		if sc.compression, ok = d.boolean(cf); !ok {
			bad = true
		}
	}
	if pf, ok := fs.get("page"); ok {
		if sc.page, ok = d.page(pf); !ok {
			bad = true
		}
	}
	if hf, ok := fs.get("hooks"); ok {
		if sc.hooks = d.hooksBlock(hf); sc.hooks == nil {
			bad = true
		} else if hasMode && sc.mode != modeHooks && sc.mode != "" {
			d.errorf(hf.key, hf.path, "hooks: is for mode: hooks")
			bad = true
		}
	} else if sc.mode == modeHooks {
		d.errorf(f.val, f.path, "mode hooks: missing hooks: {url: ...}")
		bad = true
	}
	if hf, ok := fs.get("history"); ok {
		if sc.history = d.history(hf); sc.history == nil {
			bad = true
		} else if hasMode && sc.mode != modeChat && sc.mode != "" {
			d.errorf(hf.key, hf.path, "history: is for mode: chat")
			bad = true
		}
	}
	if bad {
		return nil
	}
	return sc
}

// history decodes a chat stream's history: {max: 100, maxAge: 10m,
// maxBytes: 1MiB}, each optional (those are the defaults). maxAge: 0 is
// no age bound: then every room ever used keeps its history (history.go).
func (d *decoder) history(f field) *broadcast.HistoryRule {
	fs, ok := d.mapping(f.val, f.path, historyKeys...)
	if !ok {
		return nil
	}
	r := &broadcast.HistoryRule{Prefix: seqTagPrefix + roomTagPrefix, Max: 100, MaxBytes: 1 << 20, MaxAge: defaultHistoryAge}
	bad := false
	if mf, ok := fs.get("max"); ok {
		if v, ok := d.integer(mf, 1, 1<<20); ok {
			r.Max = int(v)
		} else {
			bad = true
		}
	}
	if mf, ok := fs.get("maxBytes"); ok {
		if v, ok := d.size(mf, maxStreamBytes); ok && v > 0 {
			r.MaxBytes = int(v)
		} else {
			if ok {
				d.errorf(mf.val, mf.path, "maxBytes must be positive")
			}
			bad = true
		}
	}
	if af, ok := fs.get("maxAge"); ok {
		if v, ok := d.duration(af, false); ok {
			r.MaxAge = v
		} else {
			bad = true
		}
	}
	if bad {
		return nil
	}
	return r
}

// protocols decodes a list of WebSocket subprotocols (HTTP tokens).
func (d *decoder) protocols(f field) ([]string, bool) {
	items, ok := d.sequence(f)
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		d.errorf(f.val, f.path, "empty list: omit protocols for none")
		return nil, false
	}
	var ps []string
	for i, n := range items {
		p := index(f.path, i)
		s, ok := d.str(n, p)
		switch {
		case !ok:
			return nil, false
		case !http1.ValidHeaderName(s):
			d.errorf(n, p, "bad protocol %q: want a token (letters, digits and !#$%%&'*+-.^_`|~)", s)
			return nil, false
		case slices.Contains(ps, s):
			d.errorf(n, p, "duplicate protocol %q", s)
			return nil, false
		}
		ps = append(ps, s)
	}
	return ps, true
}

// page decodes a stream's page: a file, or "embed:NAME", a file of the
// embedded site.
func (d *decoder) page(f field) (string, bool) {
	s, ok := d.str(f.val, f.path)
	if !ok {
		return "", false
	}
	name, isEmbed := strings.CutPrefix(s, embedSite)
	if !isEmbed {
		return d.checkPath(f, s, false)
	}
	if !fs.ValidPath(name) || name == "." {
		d.errorf(f.val, f.path, "bad page %q: want embed:NAME, a file of the embedded site (embed:chat.html)", s)
		return "", false
	}
	fi, err := fs.Stat(web.FS(), name)
	switch {
	case err != nil:
		d.errorf(f.val, f.path, "the embedded site has no file %q", name)
		return "", false
	case !fi.Mode().IsRegular():
		d.errorf(f.val, f.path, "%q of the embedded site is not a regular file", name)
		return "", false
	}
	return s, true
}

// validRoom reports whether name can be a chat room: 1 to 64 ASCII
// letters, digits, '_' and '-'.
func validRoom(name string) bool {
	if name == "" || len(name) > maxRoomLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// newStream makes the edge.Stream a stream: route describes, loading its
// page, and the hooks of a hooks stream.
func (sc *streamConfig) newStream(logger *slog.Logger) (*edge.Stream, *hooks.Hooks, error) {
	st := &edge.Stream{
		Protocols:   sc.protocols,
		MaxMessage:  sc.maxMessage,
		QueueBytes:  sc.queueBytes,
		Compression: sc.compression,
	}
	var hk *hooks.Hooks
	var hist *chatHistory // history.go
	if sc.history != nil {
		hist = &chatHistory{rule: *sc.history}
	}
	switch sc.mode {
	case modeHooks:
		var err error
		if hk, err = sc.hookStream(st, logger); err != nil { // hooks.go
			return nil, nil, err
		}
	case modeEcho:
		st.OnMessage = func(c *edge.Client, op ws.Opcode, data []byte) {
			c.Send(op, data) // copies data
		}
	case modeChat:
		st.OnOpen = func(c *edge.Client) {
			room := c.Query("room")
			if room == "" {
				room = defaultRoom
			}
			if !validRoom(room) {
				// The upgrade has already been answered: close at once,
				// with a reason the browser can show (a refused upgrade
				// would only be a 1006 to a page's script).
				c.Close(badRoomCode, badRoomReason)
				return
			}
			t := broadcast.Tag(roomTagPrefix + room)
			c.SetData(t)
			if hist != nil {
				hist.open(c.Server().Hub())
				if since, has, seqMode := sinceQuery(c.URL(), t); seqMode {
					resumeRoom(c, t, since, has) // history.go
					return
				}
			}
			c.SetTag(t)
		}
		st.OnMessage = func(c *edge.Client, op ws.Opcode, data []byte) {
			if t, ok := c.Data().(broadcast.Tag); ok {
				c.Server().SendTag(t, op, data) // the sender too; framed once
				if hist != nil {
					publishSeq(c.Server().Hub(), t, op, data) // history.go
				}
			}
		}
	}
	if sc.page != "" {
		var data []byte
		var err error
		if name, ok := strings.CutPrefix(sc.page, embedSite); ok {
			data, err = fs.ReadFile(web.FS(), name)
		} else {
			data, err = os.ReadFile(sc.page)
		}
		if err != nil {
			return nil, nil, err
		}
		ct := static.New(data, path.Ext(sc.page))
		st.Page = func(c *edge.Ctx) { c.Content(ct) }
	}
	return st, hk, nil
}
