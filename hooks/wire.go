package hooks

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Answer is the backend's answer to one event (see the package doc for
// the JSON). Decoding checks it whole: an answer with one bad field is
// refused entirely.
type Answer struct {
	// Accept, in a connect answer, accepts or rejects the client.
	Accept *bool `json:"accept,omitempty"`
	// Status and Reason reject a client: close code CodeRejectBase+Status
	// (400 to 599; zero: 403).
	Status int    `json:"status,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Tags and SetTags add the client to tags; DelTags removes it.
	Tags    []string `json:"tags,omitempty"`
	SetTags []string `json:"set_tags,omitempty"`
	DelTags []string `json:"del_tags,omitempty"`
	// Data, any JSON value, replaces the client's data.
	Data json.RawMessage `json:"data,omitempty"`
	// Reply (text) or ReplyB64 (binary) is sent to the client.
	Reply    *string `json:"reply,omitempty"`
	ReplyB64 *string `json:"reply_b64,omitempty"`
	// Publish sends messages to tags.
	Publish []Publish `json:"publish,omitempty"`
	// Close closes the client.
	Close *CloseAnswer `json:"close,omitempty"`

	reply  []byte
	pubs   []pub
	hasRep bool
}

// Publish is one message to tags in an answer, as in the control API.
type Publish struct {
	Tag     string   `json:"tag,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	Data    *string  `json:"data,omitempty"`
	DataB64 *string  `json:"data_b64,omitempty"`
}

// CloseAnswer closes a client: true, or {"code": 4000, "reason": "..."}.
type CloseAnswer struct {
	Code   uint16 `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// UnmarshalJSON accepts true (close with 1000), false (no close: the
// answer's Close is then zero and ignored) or an object.
func (c *CloseAnswer) UnmarshalJSON(b []byte) error {
	switch string(bytes.TrimSpace(b)) {
	case "true":
		*c = CloseAnswer{Code: 1000}
		return nil
	case "false", "null":
		*c = CloseAnswer{}
		return nil
	}
	type plain CloseAnswer
	var p plain
	if err := strictJSON(b, &p); err != nil {
		return err
	}
	if p.Code == 0 {
		p.Code = 1000
	}
	*c = CloseAnswer(p)
	return nil
}

type pub struct {
	tags   []string
	binary bool
	data   []byte
}

// check validates a and prepares its payloads.
func (a *Answer) check() error {
	switch {
	case a.Reply != nil && a.ReplyB64 != nil:
		return errors.New("both reply and reply_b64")
	case a.Reply != nil:
		a.reply, a.hasRep = []byte(*a.Reply), true
	case a.ReplyB64 != nil:
		b, err := base64.StdEncoding.DecodeString(*a.ReplyB64)
		if err != nil {
			return fmt.Errorf("reply_b64: %w", err)
		}
		a.reply, a.hasRep = b, true
	}
	if a.Status != 0 && (a.Status < 400 || a.Status > 599) {
		return fmt.Errorf("status %d: want 400 to 599", a.Status)
	}
	if len(a.Reason) > 123 {
		return errors.New("reason over 123 bytes")
	}
	if c := a.Close; c != nil && c.Code != 0 {
		if !validCloseCode(c.Code) {
			return fmt.Errorf("close code %d: want 1000, 1001, 1008, 1011 or 3000 to 4999", c.Code)
		}
		if len(c.Reason) > 123 {
			return errors.New("close reason over 123 bytes")
		}
	}
	for i, t := range append(append(a.Tags[:len(a.Tags):len(a.Tags)], a.SetTags...), a.DelTags...) {
		if t == "" {
			return fmt.Errorf("tag %d: empty", i)
		}
	}
	a.pubs = make([]pub, 0, len(a.Publish))
	for i, p := range a.Publish {
		q := pub{}
		switch {
		case p.Tag != "" && len(p.Tags) > 0:
			return fmt.Errorf("publish %d: both tag and tags", i)
		case p.Tag != "":
			q.tags = []string{p.Tag}
		case len(p.Tags) > 0:
			q.tags = p.Tags
		default:
			return fmt.Errorf("publish %d: no tag (want tag or tags)", i)
		}
		switch {
		case p.Data != nil && p.DataB64 != nil:
			return fmt.Errorf("publish %d: both data and data_b64", i)
		case p.Data != nil:
			q.data = []byte(*p.Data)
		case p.DataB64 != nil:
			b, err := base64.StdEncoding.DecodeString(*p.DataB64)
			if err != nil {
				return fmt.Errorf("publish %d: data_b64: %w", i, err)
			}
			q.binary, q.data = true, b
		default:
			return fmt.Errorf("publish %d: no data (want data or data_b64)", i)
		}
		a.pubs = append(a.pubs, q)
	}
	return nil
}

// validCloseCode reports whether a backend may close a client with code.
func validCloseCode(code uint16) bool {
	switch code {
	case 1000, 1001, 1008, 1011:
		return true
	}
	return code >= 3000 && code <= 4999
}

// accepted reports whether a connect answer accepts the client.
func (a *Answer) accepted() bool { return a.Accept != nil && *a.Accept }

// rejectClose is the close code and reason of a rejected client.
func (a *Answer) rejectClose() (uint16, string) {
	status := a.Status
	if status == 0 {
		status = 403
	}
	reason := a.Reason
	if reason == "" {
		reason = "rejected"
	}
	return uint16(CodeRejectBase + status), reason
}

// apply does what a asks to client c, in the documented order.
func (a *Answer) apply(c Client) {
	if len(a.Data) > 0 {
		c.SetData(a.Data)
	}
	for _, t := range a.DelTags {
		c.DelTag(t)
	}
	for _, t := range a.Tags {
		c.SetTag(t)
	}
	for _, t := range a.SetTags {
		c.SetTag(t)
	}
	if a.hasRep {
		c.Send(a.ReplyB64 != nil, a.reply)
	}
	for _, p := range a.pubs {
		for _, t := range p.tags {
			c.Publish(t, p.binary, p.data)
		}
	}
	if a.Close != nil && a.Close.Code != 0 {
		c.Close(a.Close.Code, a.Close.Reason)
	}
}

// decodeConnectAnswer decodes and checks a connect answer.
func decodeConnectAnswer(b []byte) (*Answer, error) {
	var a Answer
	if err := strictJSON(b, &a); err != nil {
		return nil, fmt.Errorf("hooks: connect answer: %w", err)
	}
	if a.Accept == nil {
		return nil, errors.New(`hooks: connect answer: no "accept"`)
	}
	if err := a.check(); err != nil {
		return nil, fmt.Errorf("hooks: connect answer: %w", err)
	}
	return &a, nil
}

// decodeAnswer decodes and checks the optional answer to a join or leave
// event (nil for an empty body or null).
func decodeAnswer(b []byte) (*Answer, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	var a *Answer
	if err := strictJSON(b, &a); err != nil {
		return nil, fmt.Errorf("hooks: answer: %w", err)
	}
	if a == nil {
		return nil, nil
	}
	if err := a.check(); err != nil {
		return nil, fmt.Errorf("hooks: answer: %w", err)
	}
	return a, nil
}

// decodeMessageAnswers decodes and checks the answers to n messages: an
// array of at most n answers (null entries for none), null or nothing.
func decodeMessageAnswers(b []byte, n int) ([]*Answer, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	var as []*Answer
	if err := strictJSON(b, &as); err != nil {
		return nil, fmt.Errorf("hooks: message answers: %w", err)
	}
	if len(as) > n {
		return nil, fmt.Errorf("hooks: message answers: %d answers to %d messages", len(as), n)
	}
	for i, a := range as {
		if a == nil {
			continue
		}
		if err := a.check(); err != nil {
			return nil, fmt.Errorf("hooks: message answer %d: %w", i, err)
		}
	}
	return as, nil
}

// strictJSON decodes exactly one JSON value with no unknown fields.
func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// The requests' JSON.

type connectEvent struct {
	Event    string            `json:"event"`
	Client   string            `json:"client"`
	Path     string            `json:"path"`
	Query    string            `json:"query"`
	Headers  map[string]string `json:"headers"`
	Cookies  map[string]string `json:"cookies,omitempty"`
	Remote   string            `json:"remote"`
	Protocol string            `json:"protocol"`
}

type messageOut struct {
	Client  string  `json:"client"`
	Data    *string `json:"data,omitempty"`
	DataB64 *string `json:"data_b64,omitempty"`
}

type messageEvent struct {
	Event    string       `json:"event"`
	Messages []messageOut `json:"messages"`
}

type closeEvent struct {
	Event  string `json:"event"`
	Client string `json:"client"`
	Code   uint16 `json:"code"`
}

func clientID(id uint64) string { return strconv.FormatUint(id, 10) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only strings, maps of strings and numbers: cannot fail.
		panic("hooks: encoding an event: " + err.Error())
	}
	return b
}

func encodeConnect(id uint64, info *Conn) []byte {
	ev := connectEvent{Event: "connect", Client: clientID(id), Headers: map[string]string{}}
	if info != nil {
		ev.Path, ev.Query, ev.Remote, ev.Protocol = info.Path, info.Query, info.Remote, info.Protocol
		if info.Headers != nil {
			ev.Headers = info.Headers
		}
		ev.Cookies = info.Cookies
	}
	return mustJSON(ev)
}

func encodeMessages(batch []item) []byte {
	ev := messageEvent{Event: "message", Messages: make([]messageOut, len(batch))}
	for i, it := range batch {
		s := string(it.data)
		if it.binary {
			s = base64.StdEncoding.EncodeToString(it.data)
			ev.Messages[i] = messageOut{Client: clientID(it.cn.id), DataB64: &s}
		} else {
			ev.Messages[i] = messageOut{Client: clientID(it.cn.id), Data: &s}
		}
	}
	return mustJSON(ev)
}

type presenceEvent struct {
	Event  string          `json:"event"`
	Client string          `json:"client"`
	Tags   []string        `json:"tags"`
	Data   json.RawMessage `json:"data,omitempty"`
}

func encodePresence(kind eventKind, id uint64, tags []string, data []byte) []byte {
	return mustJSON(presenceEvent{Event: kind.String(), Client: clientID(id), Tags: tags, Data: data})
}

func encodeClose(id uint64, code uint16) []byte {
	return mustJSON(closeEvent{Event: "close", Client: clientID(id), Code: code})
}
