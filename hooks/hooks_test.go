package hooks

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recClient is a Client that records what the hooks did to it.
type recClient struct {
	id uint64
	mu sync.Mutex
	// what happened
	sent   []string
	tags   map[string]bool
	data   string
	closed bool
	code   uint16
	reason string
	pubs   []string // "tag=data"
}

func newRec(id uint64) *recClient { return &recClient{id: id, tags: map[string]bool{}} }

func (c *recClient) ID() uint64 { return c.id }
func (c *recClient) Send(binary bool, data []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	s := string(data)
	if binary {
		s = "bin:" + s
	}
	c.sent = append(c.sent, s)
	return true
}
func (c *recClient) Close(code uint16, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed, c.code, c.reason = true, code, reason
	}
}
func (c *recClient) SetTag(t string) { c.mu.Lock(); c.tags[t] = true; c.mu.Unlock() }
func (c *recClient) DelTag(t string) { c.mu.Lock(); delete(c.tags, t); c.mu.Unlock() }
func (c *recClient) SetData(d []byte) {
	c.mu.Lock()
	c.data = string(d)
	c.mu.Unlock()
}
func (c *recClient) Publish(t string, binary bool, data []byte) int {
	c.mu.Lock()
	c.pubs = append(c.pubs, t+"="+string(data))
	c.mu.Unlock()
	return 1
}

func (c *recClient) snapshot() (sent []string, tags []string, closed bool, code uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t := range c.tags {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	return slices.Clone(c.sent), tags, c.closed, c.code
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// event is what the test backend receives.
type event struct {
	Event    string            `json:"event"`
	Client   string            `json:"client"`
	Path     string            `json:"path"`
	Query    string            `json:"query"`
	Headers  map[string]string `json:"headers"`
	Cookies  map[string]string `json:"cookies"`
	Remote   string            `json:"remote"`
	Code     int               `json:"code"`
	Tags     []string          `json:"tags"`
	Data     json.RawMessage   `json:"data"`
	Messages []struct {
		Client  string  `json:"client"`
		Data    *string `json:"data"`
		DataB64 *string `json:"data_b64"`
	} `json:"messages"`
}

// backend is a real HTTP backend over TCP or a Unix socket; handle
// answers each decoded event.
type backend struct {
	srv  *httptest.Server
	url  string
	mu   sync.Mutex
	evs  []event
	hook func(w http.ResponseWriter, ev *event)
}

func (b *backend) events() []event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.evs)
}

func newBackend(t *testing.T, unix bool, hook func(w http.ResponseWriter, ev *event)) *backend {
	t.Helper()
	b := &backend{hook: hook}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev event
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", 400)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if got := r.Header.Get("Edge-Hook"); got != ev.Event {
			http.Error(w, "Edge-Hook "+got+" for event "+ev.Event, 400)
			return
		}
		b.mu.Lock()
		b.evs = append(b.evs, ev)
		b.mu.Unlock()
		b.hook(w, &ev)
	})
	if unix {
		dir, err := os.MkdirTemp("", "hk")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		sock := filepath.Join(dir, "b.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		b.srv = httptest.NewUnstartedServer(h)
		b.srv.Listener.Close()
		b.srv.Listener = l
		b.srv.Start()
		b.url = "unix:" + sock + ":/hooks"
	} else {
		b.srv = httptest.NewServer(h)
		b.url = b.srv.URL + "/hooks"
	}
	t.Cleanup(b.srv.Close)
	return b
}

func writeJSON(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, s)
}

// chatHook accepts clients whose query has a token, tags them with their
// room, and publishes every message to the room with a reply "ok N".
func chatHook(w http.ResponseWriter, ev *event) {
	switch ev.Event {
	case "connect":
		if !strings.Contains(ev.Query, "token=good") {
			writeJSON(w, `{"accept": false, "status": 401, "reason": "bad token"}`)
			return
		}
		writeJSON(w, `{"accept": true, "tags": ["room:a", "user:`+ev.Client+`"], "data": {"name": "n`+ev.Client+`"}, "reply": "welcome"}`)
	case "message":
		var as []map[string]any
		for i, m := range ev.Messages {
			a := map[string]any{"reply": "ok " + strconv.Itoa(i)}
			if m.Data != nil {
				a["publish"] = []map[string]any{{"tag": "room:a", "data": m.Client + ": " + *m.Data}}
				if *m.Data == "bye" {
					a["close"] = map[string]any{"code": 4000, "reason": "bye"}
				}
				if *m.Data == "move" {
					a["del_tags"] = []string{"room:a"}
					a["set_tags"] = []string{"room:b"}
				}
			}
			as = append(as, a)
		}
		b, _ := json.Marshal(as)
		writeJSON(w, string(b))
	case "close":
		w.WriteHeader(204)
	}
}

func TestChat(t *testing.T) {
	t.Parallel()
	for _, unix := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcp", true: "unix"}[unix], func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, unix, chatHook)
			h, err := New(Config{URL: b.url, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			good, bad := newRec(7), newRec(8)
			h.Open(good, &Conn{Path: "/chat", Query: "token=good", Headers: map[string]string{"Authorization": "Bearer x"}, Cookies: map[string]string{"sid": "s1"}, Remote: "127.0.0.1:5"})
			h.Open(bad, &Conn{Path: "/chat", Query: "token=no"})
			// Queued behind the connect, sent once it is accepted.
			h.Message(good, false, []byte("hi"))
			h.Message(good, false, []byte("move"))
			h.Message(bad, false, []byte("never sent"))
			waitFor(t, "the rejection", func() bool { _, _, closed, _ := bad.snapshot(); return closed })
			if _, _, _, code := bad.snapshot(); code != 4401 || bad.reason != "bad token" {
				t.Errorf("rejected client closed with %d %q, want 4401 \"bad token\"", code, bad.reason)
			}
			waitFor(t, "the replies", func() bool { s, _, _, _ := good.snapshot(); return len(s) >= 3 })
			sent, tags, closed, _ := good.snapshot()
			if closed || !slices.Equal(sent[:1], []string{"welcome"}) {
				t.Errorf("accepted client: closed %v, sent %q", closed, sent)
			}
			if !slices.Equal(tags, []string{"room:b", "user:7"}) {
				t.Errorf("tags %q, want room:b user:7", tags)
			}
			if good.data != `{"name": "n7"}` {
				t.Errorf("data %q", good.data)
			}
			good.mu.Lock()
			pubs := slices.Clone(good.pubs)
			good.mu.Unlock()
			if !slices.Equal(pubs, []string{"room:a=7: hi", "room:a=7: move"}) {
				t.Errorf("published %q", pubs)
			}
			h.Message(good, true, []byte{0, 1})
			h.Message(good, false, []byte("bye"))
			waitFor(t, "the close answer", func() bool { _, _, closed, _ := good.snapshot(); return closed })
			if good.code != 4000 {
				t.Errorf("closed with %d, want 4000", good.code)
			}
			h.Closed(good, 4000)
			h.Closed(bad, 4401)
			waitFor(t, "the close event", func() bool {
				evs := b.events()
				return len(evs) > 0 && evs[len(evs)-1].Event == "close"
			})
			var connects, closes int
			var msgs []string
			for _, ev := range b.events() {
				switch ev.Event {
				case "connect":
					connects++
					if ev.Client == "7" && (ev.Headers["Authorization"] != "Bearer x" || ev.Cookies["sid"] != "s1" || ev.Path != "/chat" || ev.Remote != "127.0.0.1:5") {
						t.Errorf("connect event %+v", ev)
					}
				case "close":
					closes++
					if ev.Client != "7" || ev.Code != 4000 {
						t.Errorf("close event %+v, want client 7 code 4000", ev)
					}
				case "message":
					for _, m := range ev.Messages {
						if m.Client != "7" {
							t.Errorf("message of client %s reached the backend", m.Client)
						}
						if m.Data != nil {
							msgs = append(msgs, *m.Data)
						} else {
							msgs = append(msgs, "b64:"+*m.DataB64)
						}
					}
				}
			}
			if connects != 2 || closes != 1 || !slices.Equal(msgs, []string{"hi", "move", "b64:AAE=", "bye"}) {
				t.Errorf("backend got %d connects, %d closes, messages %q", connects, closes, msgs)
			}
			st := h.Stats()
			if st.Accepted != 1 || st.Rejected != 1 || st.Messages != 4 || st.Failed != 0 || st.Dropped != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestBatching(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sizes []int
	b := newBackend(t, false, func(w http.ResponseWriter, ev *event) {
		if ev.Event == "connect" {
			writeJSON(w, `{"accept": true}`)
			return
		}
		mu.Lock()
		sizes = append(sizes, len(ev.Messages))
		mu.Unlock()
		var as []string
		for _, m := range ev.Messages {
			q, _ := json.Marshal(*m.Data)
			as = append(as, `{"reply": `+string(q)+`}`)
		}
		writeJSON(w, "["+strings.Join(as, ",")+"]")
	})
	// A long wait: the 200 messages are queued well within it, so batches
	// are full but for the last.
	h, err := New(Config{URL: b.url, BatchMax: 64, BatchWait: time.Second, Workers: 1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c := newRec(1)
	h.Open(c, nil)
	var want []string
	for i := range 200 {
		s := "m" + strconv.Itoa(i)
		want = append(want, s)
		if !h.Message(c, false, []byte(s)) {
			t.Fatalf("message %d dropped", i)
		}
	}
	waitFor(t, "200 replies", func() bool { s, _, _, _ := c.snapshot(); return len(s) == 200 })
	got, _, _, _ := c.snapshot()
	if !slices.Equal(got, want) {
		t.Errorf("replies out of order: %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, n := range sizes {
		total += n
		if n > 64 {
			t.Errorf("batch of %d messages, BatchMax 64", n)
		}
	}
	if total != 200 || len(sizes) > 8 {
		t.Errorf("batches %v: want 200 messages in a few batches", sizes)
	}
}

// blockingBackend accepts connects at once and holds message requests
// until release is closed; entered gets one value per held request.
func blockingBackend(t *testing.T) (*backend, chan struct{}, chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	entered := make(chan struct{}, 100)
	b := newBackend(t, false, func(w http.ResponseWriter, ev *event) {
		if ev.Event != "message" {
			writeJSON(w, `{"accept": true}`)
			return
		}
		entered <- struct{}{}
		<-release
		writeJSON(w, `[]`)
	})
	return b, release, entered
}

func TestQueueFullDropsCounted(t *testing.T) {
	t.Parallel()
	b, release, entered := blockingBackend(t)
	defer close(release)
	h, err := New(Config{URL: b.url, Workers: 1, Queue: 4, BatchWait: -1, Timeout: time.Minute, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c := newRec(1)
	h.Open(c, nil)
	h.Message(c, false, []byte("first"))
	<-entered // the first message is in flight: the lane is empty
	for i := range 4 {
		if !h.Message(c, false, []byte("queued")) {
			t.Fatalf("message %d dropped with room in the queue", i)
		}
	}
	for i := range 3 {
		if h.Message(c, false, []byte("over")) {
			t.Fatalf("message %d over the bound was queued", i)
		}
	}
	if st := h.Stats(); st.Dropped != 3 || st.Queued != 4 {
		t.Errorf("stats %+v: want 3 dropped, 4 queued", st)
	}
	if _, _, closed, _ := c.snapshot(); closed {
		t.Error("a client whose messages were dropped was closed")
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	// A port with nothing listening.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + l.Addr().String() + "/hooks"
	l.Close()
	slow, release, _ := blockingBackend(t)
	t.Cleanup(func() { close(release) }) // after the parallel subtests
	hang := newBackend(t, false, func(w http.ResponseWriter, ev *event) {
		time.Sleep(2 * time.Second) // past the 200 ms timeout
		writeJSON(w, `{"accept": true}`)
	})
	cases := []struct {
		name string
		url  string
		body string // the connect answer, if not from a backend above
	}{
		{"down", downURL, ""},
		{"timeout", hang.url, ""},
		{"status 500", "", "500"},
		{"not JSON", "", "hello"},
		{"no accept", "", `{"tags": ["a"]}`},
		{"unknown field", "", `{"accept": true, "tag": "a"}`},
		{"bad status", "", `{"accept": false, "status": 200}`},
		{"two replies", "", `{"accept": true, "reply": "a", "reply_b64": "AA=="}`},
		{"bad publish", "", `{"accept": true, "publish": [{"data": "x"}]}`},
		{"bad close code", "", `{"accept": true, "close": {"code": 1005}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := tc.url
			if url == "" {
				body := tc.body
				url = newBackend(t, false, func(w http.ResponseWriter, ev *event) {
					if body == "500" {
						http.Error(w, "boom", 500)
						return
					}
					writeJSON(w, body)
				}).url
			}
			h, err := New(Config{URL: url, Timeout: 200 * time.Millisecond, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			c := newRec(3)
			h.Open(c, nil)
			h.Message(c, false, []byte("lost"))
			waitFor(t, "the close", func() bool { _, _, closed, _ := c.snapshot(); return closed })
			if _, _, _, code := c.snapshot(); code != CodeUnavailable {
				t.Errorf("closed with %d, want %d", code, CodeUnavailable)
			}
			st := h.Stats()
			if st.Unavailable != 1 || st.Errors != 1 || st.Failed != 1 || st.Accepted != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
	// A connected client stays connected when message requests fail.
	t.Run("messages timeout", func(t *testing.T) {
		t.Parallel()
		h, err := New(Config{URL: slow.url, Timeout: 200 * time.Millisecond, BatchWait: -1, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		c := newRec(4)
		h.Open(c, nil)
		h.Message(c, false, []byte("a"))
		waitFor(t, "the failed request", func() bool { return h.Stats().Failed == 1 })
		if _, _, closed, _ := c.snapshot(); closed {
			t.Error("client closed by a failed message request")
		}
	})
}

// A slow backend for one lane does not delay the other lanes.
func TestSlowLaneIsolated(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	b := newBackend(t, false, func(w http.ResponseWriter, ev *event) {
		switch {
		case ev.Event != "message":
			writeJSON(w, `{"accept": true}`)
		case ev.Messages[0].Client == "1":
			<-release
			writeJSON(w, `[]`)
		default:
			writeJSON(w, `[{"reply": "fast"}]`)
		}
	})
	h, err := New(Config{URL: b.url, Workers: 2, BatchWait: -1, Timeout: time.Minute, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	slowC, fastC := newRec(1), newRec(2) // lanes 1 and 0
	h.Open(slowC, nil)
	h.Open(fastC, nil)
	h.Message(slowC, false, []byte("stuck"))
	waitFor(t, "the slow request", func() bool {
		for _, ev := range b.events() {
			if ev.Event == "message" {
				return true
			}
		}
		return false
	})
	for i := range 10 {
		h.Message(fastC, false, []byte("go"))
		waitFor(t, "a fast reply", func() bool { s, _, _, _ := fastC.snapshot(); return len(s) == i+1 })
	}
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, network, address, url string
	}{
		{"http://127.0.0.1:9001/hooks", "tcp", "127.0.0.1:9001", "http://127.0.0.1:9001/hooks"},
		{"http://app/hooks?x=1", "tcp", "app:80", "http://app/hooks?x=1"},
		{"http://[::1]:8080", "tcp", "[::1]:8080", "http://[::1]:8080/"},
		{"unix:/run/app.sock:/hooks", "unix", "/run/app.sock", "http://localhost/hooks"},
		{"unix:/run/app.sock", "unix", "/run/app.sock", "http://localhost/"},
		{"unix:@abstract:/h", "unix", "@abstract", "http://localhost/h"},
		{"https://a/b", "", "", ""},
		{"ftp://a/b", "", "", ""},
		{"unix::/h", "", "", ""},
		{"http:///x", "", "", ""},
		{"http://u:p@a/x", "", "", ""},
	}
	for _, tc := range cases {
		n, a, u, err := ParseURL(tc.in)
		if tc.network == "" {
			if err == nil {
				t.Errorf("ParseURL(%q) = %s %s %s, want an error", tc.in, n, a, u)
			}
			continue
		}
		if err != nil || n != tc.network || a != tc.address || u != tc.url {
			t.Errorf("ParseURL(%q) = %s %s %s %v, want %s %s %s", tc.in, n, a, u, err, tc.network, tc.address, tc.url)
		}
	}
}

func TestConfigChecked(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{}, {URL: "http://a/", Workers: -1}, {URL: "http://a/", Timeout: -time.Second}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestCloseStopsLanes(t *testing.T) {
	t.Parallel()
	b, release, entered := blockingBackend(t)
	defer close(release)
	h, err := New(Config{URL: b.url, Workers: 1, BatchWait: -1, Timeout: time.Minute, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c := newRec(1)
	h.Open(c, nil)
	h.Message(c, false, []byte("held"))
	<-entered
	h.Message(c, false, []byte("queued"))
	h.Close() // cancels the held request, discards the queued one, waits
	if st := h.Stats(); st.Queued != 0 {
		t.Errorf("after Close: %+v", st)
	}
	if h.Message(c, false, []byte("late")) {
		t.Error("a message was queued after Close")
	}
}

func TestPresence(t *testing.T) {
	t.Parallel()
	b := newBackend(t, false, func(w http.ResponseWriter, ev *event) {
		switch ev.Event {
		case "connect":
			writeJSON(w, `{"accept": true, "tags": ["room:a", "user:`+ev.Client+`"], "data": {"name": "ann"}}`)
		case "message":
			writeJSON(w, `[{"set_tags": ["room:b", "room:b"], "del_tags": ["room:a", "other"]}]`)
		case "join":
			writeJSON(w, `{"publish": [{"tag": "room:b", "data": "ann joined"}]}`)
		default:
			w.WriteHeader(204)
		}
	})
	h, err := New(Config{URL: b.url, Presence: []string{"room:"}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c := newRec(5)
	h.Open(c, nil)
	h.Message(c, false, []byte("move"))
	waitFor(t, "the move", func() bool { _, tags, _, _ := c.snapshot(); return slices.Contains(tags, "room:b") })
	h.Closed(c, 1000)
	waitFor(t, "the close event", func() bool {
		evs := b.events()
		return len(evs) > 0 && evs[len(evs)-1].Event == "close"
	})
	var got []string
	for _, ev := range b.events() {
		s := ev.Event
		if ev.Tags != nil {
			s += " " + strings.Join(ev.Tags, ",") + " " + string(ev.Data)
		}
		got = append(got, s)
	}
	data := `{"name":"ann"}`
	want := []string{"connect", "join room:a " + data, "message", "leave room:a " + data, "join room:b " + data, "leave room:b " + data, "close"}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	c.mu.Lock()
	pubs := slices.Clone(c.pubs)
	c.mu.Unlock()
	if !slices.Equal(pubs, []string{"room:b=ann joined", "room:b=ann joined"}) {
		t.Errorf("published %q", pubs)
	}
}

// Tag changes reported with TagsChanged make join and leave events too.
func TestPresenceTagsChanged(t *testing.T) {
	t.Parallel()
	b := newBackend(t, false, func(w http.ResponseWriter, ev *event) {
		if ev.Event == "connect" {
			writeJSON(w, `{"accept": true, "data": {"n": 1}}`)
			return
		}
		w.WriteHeader(204)
	})
	h, err := New(Config{URL: b.url, Presence: []string{"room:"}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c := newRec(9)
	h.Open(c, nil)
	if h.TagsChanged(10, []string{"room:x"}, nil) {
		t.Error("TagsChanged claims a client it does not have")
	}
	if !h.TagsChanged(9, []string{"room:x", "user:9"}, nil) || !h.TagsChanged(9, []string{"room:y"}, []string{"room:x", "room:z"}) {
		t.Error("TagsChanged does not know client 9")
	}
	// (A client that is gone before its change is processed makes no
	// join or leave: its close event says it all.)
	waitFor(t, "the presence events", func() bool { return len(b.events()) == 4 })
	h.Closed(c, 1001)
	waitFor(t, "the close event", func() bool {
		evs := b.events()
		return len(evs) > 0 && evs[len(evs)-1].Event == "close"
	})
	var got []string
	for _, ev := range b.events() {
		got = append(got, strings.TrimSpace(ev.Event+" "+strings.Join(ev.Tags, ",")))
	}
	want := []string{"connect", "join room:x", "leave room:x", "join room:y", "leave room:y", "close"}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}
