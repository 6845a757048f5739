// Package control is edge's control API: HTTP + JSON endpoints for
// backends in any language to publish to tags, send to one client, change
// a client's tags, disconnect clients, and read counts. It is an
// http.Handler for the admin listener (off the hot path: net/http).
//
// Endpoints (all answers are JSON; errors are {"error": "reason"}):
//
//	POST /api/publish     {"tag": "room:lobby", "data": "hi"}      -> {"queued": N}
//	                      {"tags": ["a", "b"], "data_b64": "AAE="} (binary)
//	                      [{...}, {...}]                           (batch) -> {"queued": N, "messages": M}
//	POST /api/send        {"client": "ID", "data": "hi"}           -> {"queued": 1}
//	POST /api/tags/set    {"client": "ID", "tags": ["a"]}          -> {"tags": [...]}
//	POST /api/tags/del    {"client": "ID", "tags": ["a"]} or {"client": "ID", "all": true}
//	POST /api/disconnect  {"client": "ID"} or {"tag": "a"}; optional "code", "reason" -> {"closed": N}
//	GET  /api/client?id=ID                                         -> {"client": "ID", "tags": [...]}
//	GET  /api/tag?tag=a                                            -> {"tag": "a", "clients": N}
//	GET  /api/presence?tag=a[&limit=N]  -> {"tag": "a", "count": N, "clients": [{"client": "ID", "data": {...}}], "truncated": false}
//	GET  /api/stats                                                -> {"clients": N, "tags": N, ...}
//
// Presence lists the clients of a tag (by ID, at most limit: default
// DefaultPresenceLimit, at most MaxPresenceLimit) with their data when it
// is JSON (a json.RawMessage: what stream hooks' answers set; Go code can
// set one with Client.SetData). It is this node's clients only.
//
// A message is text when given as "data" and binary when given as
// "data_b64" (or as "data" with "b64": true). Client IDs are decimal
// strings (numbers are accepted too, but IDs may exceed 2^53). "queued"
// counts this node's clients only: with a backplane, the publish also
// reaches the tag's clients on the other nodes.
package control

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/ws"
)

// Defaults.
const (
	DefaultMaxBody  = 1 << 20 // bytes of request body
	DefaultMaxBatch = 10000   // messages in one batch publish

	DefaultPresenceLimit = 1000  // clients listed by /api/presence
	MaxPresenceLimit     = 10000 // the largest limit it takes
)

// Config configures the control API.
type Config struct {
	// Hub is the server's Hub (edge.Server.Hub). Required.
	Hub *broadcast.Hub
	// Close starts the closing handshake of a WebSocket client
	// (edge.Server.CloseClient). Nil: disconnect answers 501.
	Close func(id broadcast.ClientID, code uint16, reason string) error
	// Backplane, if not nil, returns the backplane's counters
	// (backplane.NATS.Stats), shown under "backplane" in /api/stats.
	Backplane func() any
	// TagsChanged, if not nil, is told the tags /api/tags/set and
	// /api/tags/del add and remove (for the presence events of stream
	// hooks: hooks.Hooks.TagsChanged).
	TagsChanged func(id broadcast.ClientID, added, removed []string)
	// Hooks, if not nil, returns the stream hooks' counters (per stream
	// path: hooks.Stats), shown under "hooks" in /api/stats.
	Hooks func() any
	// Token, if set, is required as "Authorization: Bearer TOKEN" (the
	// admin listener may check it already).
	Token string
	// MaxBody bounds a request body. Zero: DefaultMaxBody.
	MaxBody int64
	// MaxBatch bounds the messages of one batch publish. Zero:
	// DefaultMaxBatch.
	MaxBatch int
}

// Handler serves the control API under /api/.
type Handler struct {
	cfg Config
	mux *http.ServeMux
}

// New returns the control API handler for cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Hub == nil {
		return nil, errors.New("control: no Hub")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /api/publish", h.publish)
	h.mux.HandleFunc("POST /api/send", h.send)
	h.mux.HandleFunc("POST /api/tags/set", h.setTags)
	h.mux.HandleFunc("POST /api/tags/del", h.delTags)
	h.mux.HandleFunc("POST /api/disconnect", h.disconnect)
	h.mux.HandleFunc("GET /api/client", h.client)
	h.mux.HandleFunc("GET /api/tag", h.tag)
	h.mux.HandleFunc("GET /api/presence", h.presence)
	h.mux.HandleFunc("GET /api/stats", h.stats)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.cfg.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edge"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
	}
	// A 405 from the mux is text: answer JSON for known paths too.
	if _, pattern := h.mux.Handler(r); pattern == "" || pattern == "/" {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			r2 := r.Clone(r.Context())
			r2.Method = m
			if _, p := h.mux.Handler(r2); p != "" && p != "/" {
				w.Header().Set("Allow", m)
				writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: use "+m)
				return
			}
		}
	}
	h.mux.ServeHTTP(w, r)
}

// Message is one publish: a tag or tags, and text or binary data.
type Message struct {
	Tag     string   `json:"tag,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	Data    *string  `json:"data,omitempty"`
	B64     bool     `json:"b64,omitempty"`
	DataB64 *string  `json:"data_b64,omitempty"`
}

// frame builds the WebSocket message m carries, as edge.Server.SendTag
// frames it (once, uncompressed, shared by all receivers).
func (m *Message) frame() (*broadcast.Message, error) {
	var op ws.Opcode
	var data []byte
	switch {
	case m.Data != nil && m.DataB64 != nil:
		return nil, errors.New("both data and data_b64")
	case m.DataB64 != nil || m.Data != nil && m.B64:
		s := m.DataB64
		if s == nil {
			s = m.Data
		}
		b, err := base64.StdEncoding.DecodeString(*s)
		if err != nil {
			return nil, fmt.Errorf("bad base64: %w", err)
		}
		op, data = ws.OpBinary, b
	case m.Data != nil:
		op, data = ws.OpText, []byte(*m.Data)
	default:
		return nil, errors.New("no data (want data or data_b64)")
	}
	return broadcast.NewMessage(ws.AppendFrame(nil, op, data)), nil
}

func (m *Message) tags() ([]string, error) {
	switch {
	case m.Tag != "" && len(m.Tags) > 0:
		return nil, errors.New("both tag and tags")
	case m.Tag != "":
		return []string{m.Tag}, nil
	case len(m.Tags) > 0:
		return m.Tags, nil
	}
	return nil, errors.New("no tag (want tag or tags)")
}

type publishAnswer struct {
	Queued   int `json:"queued"`
	Messages int `json:"messages,omitempty"`
}

func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	body, ok := h.body(w, r)
	if !ok {
		return
	}
	var msgs []Message
	batch := false
	if t := firstByte(body); t == '[' {
		batch = true
		if err := strictJSON(body, &msgs); err != nil {
			writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
			return
		}
		if len(msgs) == 0 {
			writeError(w, http.StatusBadRequest, "empty batch")
			return
		}
		if len(msgs) > h.cfg.MaxBatch {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("batch of %d messages: at most %d", len(msgs), h.cfg.MaxBatch))
			return
		}
	} else {
		msgs = make([]Message, 1)
		if err := strictJSON(body, &msgs[0]); err != nil {
			writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
			return
		}
	}
	// Check everything first: a batch is published whole or not at all.
	type prepared struct {
		tags []string
		m    *broadcast.Message
	}
	ps := make([]prepared, len(msgs))
	for i := range msgs {
		tags, err := msgs[i].tags()
		if err == nil {
			ps[i].m, err = msgs[i].frame()
		}
		if err != nil {
			if batch {
				err = fmt.Errorf("message %d: %w", i, err)
			}
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		ps[i].tags = tags
	}
	ans := publishAnswer{}
	for _, p := range ps {
		for _, t := range p.tags {
			ans.Queued += h.cfg.Hub.SendTag(broadcast.Tag(t), p.m)
		}
	}
	if batch {
		ans.Messages = len(ps)
	}
	writeJSON(w, http.StatusOK, ans)
}

// clientRef is a client ID in JSON: a decimal string or a number.
type clientRef struct {
	Client json.Number `json:"client"`
}

func (c clientRef) id() (broadcast.ClientID, error) {
	if c.Client == "" {
		return 0, errors.New("no client")
	}
	v, err := strconv.ParseUint(string(c.Client), 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("bad client ID %q", string(c.Client))
	}
	return broadcast.ClientID(v), nil
}

func (h *Handler) send(w http.ResponseWriter, r *http.Request) {
	var req struct {
		clientRef
		Message
	}
	if !h.decode(w, r, &req) {
		return
	}
	id, err := req.id()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Tag != "" || len(req.Tags) > 0 {
		writeError(w, http.StatusBadRequest, "send takes a client, not tags (use /api/publish)")
		return
	}
	m, err := req.frame()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch h.cfg.Hub.Send(id, m) {
	case broadcast.Gone:
		writeError(w, http.StatusNotFound, "client gone")
	case broadcast.Full:
		writeError(w, http.StatusServiceUnavailable, "client queue full (it is being closed)")
	default:
		writeJSON(w, http.StatusOK, publishAnswer{Queued: 1})
	}
}

type tagsRequest struct {
	clientRef
	Tags []string `json:"tags"`
	All  bool     `json:"all,omitempty"`
}

type clientAnswer struct {
	Client string   `json:"client"`
	Tags   []string `json:"tags"`
}

func (h *Handler) answerClient(w http.ResponseWriter, id broadcast.ClientID) {
	if _, ok := h.cfg.Hub.Data(id); !ok {
		writeError(w, http.StatusNotFound, "client gone")
		return
	}
	tags := h.cfg.Hub.Tags(id)
	ans := clientAnswer{Client: strconv.FormatUint(uint64(id), 10), Tags: make([]string, len(tags))}
	for i, t := range tags {
		ans.Tags[i] = string(t)
	}
	writeJSON(w, http.StatusOK, ans)
}

func (h *Handler) setTags(w http.ResponseWriter, r *http.Request) {
	var req tagsRequest
	if !h.decode(w, r, &req) {
		return
	}
	id, err := req.id()
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case req.All:
		writeError(w, http.StatusBadRequest, `"all" is for /api/tags/del`)
		return
	case len(req.Tags) == 0:
		writeError(w, http.StatusBadRequest, "no tags")
		return
	}
	for _, t := range req.Tags {
		if !h.cfg.Hub.SetTag(id, broadcast.Tag(t)) {
			writeError(w, http.StatusNotFound, "client gone")
			return
		}
	}
	if h.cfg.TagsChanged != nil {
		h.cfg.TagsChanged(id, req.Tags, nil)
	}
	h.answerClient(w, id)
}

func (h *Handler) delTags(w http.ResponseWriter, r *http.Request) {
	var req tagsRequest
	if !h.decode(w, r, &req) {
		return
	}
	id, err := req.id()
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case req.All == (len(req.Tags) > 0):
		writeError(w, http.StatusBadRequest, `want either "tags" or "all": true`)
		return
	}
	removed := req.Tags
	if req.All {
		if h.cfg.TagsChanged != nil {
			for _, t := range h.cfg.Hub.Tags(id) {
				removed = append(removed, string(t))
			}
		}
		h.cfg.Hub.DelTags(id)
	}
	for _, t := range req.Tags {
		h.cfg.Hub.DelTag(id, broadcast.Tag(t))
	}
	if h.cfg.TagsChanged != nil && len(removed) > 0 {
		h.cfg.TagsChanged(id, nil, removed)
	}
	h.answerClient(w, id)
}

func (h *Handler) disconnect(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Client json.Number `json:"client,omitempty"`
		Tag    *string     `json:"tag,omitempty"`
		Code   uint16      `json:"code,omitempty"`
		Reason string      `json:"reason,omitempty"`
	}
	if !h.decode(w, r, &req) {
		return
	}
	if h.cfg.Close == nil {
		writeError(w, http.StatusNotImplemented, "disconnect is not wired on this server")
		return
	}
	if req.Code == 0 {
		req.Code = 1000
	}
	switch {
	case !ws.IsValidCloseCode(req.Code) || req.Code == 1005 || req.Code == 1006 || req.Code == 1015:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("bad close code %d", req.Code))
		return
	case len(req.Reason) > 123:
		writeError(w, http.StatusBadRequest, "reason over 123 bytes")
		return
	case (req.Client != "") == (req.Tag != nil):
		writeError(w, http.StatusBadRequest, `want either "client" or "tag"`)
		return
	}
	closed := 0
	if req.Tag != nil {
		h.cfg.Hub.RangeClients(broadcast.Tag(*req.Tag), func(id broadcast.ClientID) bool {
			if h.cfg.Close(id, req.Code, req.Reason) == nil {
				closed++
			}
			return true
		})
	} else {
		id, err := clientRef{req.Client}.id()
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if h.cfg.Close(id, req.Code, req.Reason) != nil {
			writeError(w, http.StatusNotFound, "client gone")
			return
		}
		closed = 1
	}
	writeJSON(w, http.StatusOK, struct {
		Closed int `json:"closed"`
	}{closed})
}

func (h *Handler) client(w http.ResponseWriter, r *http.Request) {
	id, err := clientRef{json.Number(r.URL.Query().Get("id"))}.id()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	h.answerClient(w, id)
}

func (h *Handler) tag(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("tag") {
		writeError(w, http.StatusBadRequest, "no tag parameter")
		return
	}
	t := q.Get("tag")
	writeJSON(w, http.StatusOK, struct {
		Tag     string `json:"tag"`
		Clients int    `json:"clients"`
	}{t, h.cfg.Hub.TagLen(broadcast.Tag(t))})
}

type presenceClient struct {
	Client string          `json:"client"`
	Data   json.RawMessage `json:"data,omitempty"`
}

func (h *Handler) presence(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("tag") {
		writeError(w, http.StatusBadRequest, "no tag parameter")
		return
	}
	limit := DefaultPresenceLimit
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > MaxPresenceLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("bad limit %q: want 1 to %d", s, MaxPresenceLimit))
			return
		}
		limit = v
	}
	t := broadcast.Tag(q.Get("tag"))
	var ids []broadcast.ClientID
	count := 0
	h.cfg.Hub.RangeClients(t, func(id broadcast.ClientID) bool {
		count++
		ids = append(ids, id)
		return true
	})
	slices.Sort(ids)
	truncated := len(ids) > limit
	if truncated {
		ids = ids[:limit]
	}
	cs := make([]presenceClient, 0, len(ids))
	for _, id := range ids {
		d, ok := h.cfg.Hub.Data(id)
		if !ok {
			continue // gone meanwhile
		}
		pc := presenceClient{Client: strconv.FormatUint(uint64(id), 10)}
		if raw, isJSON := d.(json.RawMessage); isJSON && json.Valid(raw) {
			pc.Data = raw
		}
		cs = append(cs, pc)
	}
	writeJSON(w, http.StatusOK, struct {
		Tag       string           `json:"tag"`
		Count     int              `json:"count"`
		Clients   []presenceClient `json:"clients"`
		Truncated bool             `json:"truncated"`
	}{string(t), count, cs, truncated})
}

func (h *Handler) stats(w http.ResponseWriter, _ *http.Request) {
	st := h.cfg.Hub.Stats()
	ans := struct {
		Clients   int    `json:"clients"`
		Tags      int    `json:"tags"`
		Sent      uint64 `json:"sent"`
		Dropped   uint64 `json:"dropped"`
		Gone      uint64 `json:"gone"`
		Backplane any    `json:"backplane,omitempty"`
		Hooks     any    `json:"hooks,omitempty"`
	}{Clients: st.Clients, Tags: st.Tags, Sent: st.Sent, Dropped: st.Dropped, Gone: st.Gone}
	if h.cfg.Backplane != nil {
		ans.Backplane = h.cfg.Backplane()
	}
	if h.cfg.Hooks != nil {
		ans.Hooks = h.cfg.Hooks()
	}
	writeJSON(w, http.StatusOK, ans)
}

// body reads the bounded request body.
func (h *Handler) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", h.cfg.MaxBody))
		} else {
			writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
		}
		return nil, false
	}
	return b, true
}

// decode reads the body into v, strictly.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, ok := h.body(w, r)
	if !ok {
		return false
	}
	if err := strictJSON(b, v); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return false
	}
	return true
}

// strictJSON decodes exactly one JSON value with no unknown fields.
func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

func firstByte(b []byte) byte {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c
		}
	}
	return 0
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{reason})
}
