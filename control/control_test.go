package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/control"
	"github.com/edge-rt/edge/ws"
)

// setup starts an edge server whose /ws clients join the tags of query
// parameter tags and are sent their ID, and the control API (with token)
// on a loopback listener.
func setup(t *testing.T, cfg control.Config) (*edge.Server, string, string) {
	t.Helper()
	srv := edge.New(&edge.Config{Logger: slog.New(slog.DiscardHandler)})
	l := srv.Listen("tcp", "127.0.0.1:0")
	l.Any().Stream("/ws", &edge.Stream{OnOpen: func(c *edge.Client) {
		for _, tag := range strings.Split(c.Query("tags"), ",") {
			if tag != "" {
				c.SetTag(broadcast.Tag(tag))
			}
		}
		c.Send(ws.OpText, []byte(strconv.FormatUint(uint64(c.ID()), 10)))
	}})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	cfg.Hub = srv.Hub()
	cfg.Close = srv.CloseClient
	h, err := control.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(h)
	t.Cleanup(api.Close)
	return srv, "ws://" + l.Addr().String() + "/ws", api.URL
}

// client is a WebSocket client of the server (gobwas/ws).
type client struct {
	id   string
	conn net.Conn // reads frames buffered with the 101 response first
}

func dial(t *testing.T, url string, tags string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, br, _, err := gws.Dial(ctx, url+"?tags="+tags)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{conn: conn}
	if br != nil {
		// Frames that came with the 101 response (OnOpen's ID) are buffered.
		c.conn = &bufferedConn{Conn: conn, r: io.MultiReader(br, conn)}
	}
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	id, _, err := wsutil.ReadServerData(c.conn)
	if err != nil {
		t.Fatal(err)
	}
	c.id = string(id)
	return c
}

type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// read returns the client's next message, or its close status as "close:N".
func (c *client) read(t *testing.T) string {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, op, err := wsutil.ReadServerData(c.conn)
	if err != nil {
		var ce wsutil.ClosedError
		if errors.As(err, &ce) {
			return "close:" + strconv.Itoa(int(ce.Code))
		}
		t.Fatal(err)
	}
	if op == gws.OpBinary {
		return "bin:" + string(b)
	}
	return string(b)
}

func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, url, ct)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, url, b)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestControlErrors(t *testing.T) {
	t.Parallel()
	_, _, api := setup(t, control.Config{Token: "tok", MaxBody: 256, MaxBatch: 2})
	for _, c := range []struct {
		name, method, path, token, body string
		status                          int
		reason                          string
	}{
		{"no token", "POST", "/api/publish", "", `{"tag":"a","data":"x"}`, 401, "bearer token"},
		{"wrong token", "POST", "/api/publish", "nope", `{"tag":"a","data":"x"}`, 401, "bearer token"},
		{"bad json", "POST", "/api/publish", "tok", `{"tag":`, 400, "bad JSON"},
		{"unknown field", "POST", "/api/publish", "tok", `{"tag":"a","data":"x","ttl":1}`, 400, "unknown field"},
		{"trailing data", "POST", "/api/publish", "tok", `{"tag":"a","data":"x"} {}`, 400, "after the JSON"},
		{"no tag", "POST", "/api/publish", "tok", `{"data":"x"}`, 400, "no tag"},
		{"tag and tags", "POST", "/api/publish", "tok", `{"tag":"a","tags":["b"],"data":"x"}`, 400, "both tag and tags"},
		{"no data", "POST", "/api/publish", "tok", `{"tag":"a"}`, 400, "no data"},
		{"both data", "POST", "/api/publish", "tok", `{"tag":"a","data":"x","data_b64":"eA=="}`, 400, "both data"},
		{"bad base64", "POST", "/api/publish", "tok", `{"tag":"a","data_b64":"!!"}`, 400, "base64"},
		{"empty batch", "POST", "/api/publish", "tok", `[]`, 400, "empty batch"},
		{"batch too big", "POST", "/api/publish", "tok", `[{"tag":"a","data":"1"},{"tag":"a","data":"2"},{"tag":"a","data":"3"}]`, 413, "at most 2"},
		{"bad batch item", "POST", "/api/publish", "tok", `[{"tag":"a","data":"1"},{"tag":"a"}]`, 400, "message 1: no data"},
		{"body too large", "POST", "/api/publish", "tok", `{"tag":"a","data":"` + strings.Repeat("x", 300) + `"}`, 413, "over 256 bytes"},
		{"send gone", "POST", "/api/send", "tok", `{"client":"12345","data":"x"}`, 404, "client gone"},
		{"send bad id", "POST", "/api/send", "tok", `{"client":"x1","data":"x"}`, 400, "bad JSON"},
		{"send zero id", "POST", "/api/send", "tok", `{"client":"0","data":"x"}`, 400, "bad client ID"},
		{"send with tag", "POST", "/api/send", "tok", `{"client":"1","tag":"a","data":"x"}`, 400, "use /api/publish"},
		{"tags no tags", "POST", "/api/tags/set", "tok", `{"client":"1"}`, 400, "no tags"},
		{"del neither", "POST", "/api/tags/del", "tok", `{"client":"1"}`, 400, "either"},
		{"client gone", "GET", "/api/client?id=77", "tok", ``, 404, "client gone"},
		{"client no id", "GET", "/api/client", "tok", ``, 400, "no client"},
		{"tag no param", "GET", "/api/tag", "tok", ``, 400, "no tag"},
		{"presence no tag", "GET", "/api/presence", "tok", ``, 400, "no tag"},
		{"presence bad limit", "GET", "/api/presence?tag=a&limit=0", "tok", ``, 400, "bad limit"},
		{"presence big limit", "GET", "/api/presence?tag=a&limit=10001", "tok", ``, 400, "bad limit"},
		{"disconnect both", "POST", "/api/disconnect", "tok", `{"client":"1","tag":"a"}`, 400, "either"},
		{"disconnect bad code", "POST", "/api/disconnect", "tok", `{"tag":"a","code":1005}`, 400, "bad close code"},
		{"method", "GET", "/api/publish", "tok", ``, 405, "use POST"},
		{"unknown", "GET", "/api/nope", "tok", ``, 404, "no such endpoint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			status, body := call(t, c.method, api+c.path, c.token, c.body)
			var v struct{ Error string }
			_ = json.Unmarshal([]byte(body), &v)
			if status != c.status || !strings.Contains(v.Error, c.reason) {
				t.Fatalf("%d %s, want %d and an error with %q", status, body, c.status, c.reason)
			}
		})
	}
}

func TestControlEndpoints(t *testing.T) {
	t.Parallel()
	_, wsURL, api := setup(t, control.Config{})
	a := dial(t, wsURL, "room:1")
	b := dial(t, wsURL, "room:1,room:2")
	post := func(path, body string) string {
		t.Helper()
		status, ans := call(t, "POST", api+path, "", body)
		if status != 200 {
			t.Fatalf("POST %s %s: %d %s", path, body, status, ans)
		}
		return ans
	}
	get := func(path string) string {
		t.Helper()
		status, ans := call(t, "GET", api+path, "", "")
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, ans)
		}
		return ans
	}
	expect := func(got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}

	expect(post("/api/publish", `{"tag":"room:1","data":"hello"}`), `{"queued":2}`)
	expect(a.read(t), "hello")
	expect(b.read(t), "hello")
	expect(post("/api/publish", `{"tags":["room:1","room:2"],"data":"aGk=","b64":true}`), `{"queued":3}`)
	expect(a.read(t), "bin:hi")
	expect(b.read(t), "bin:hi")
	expect(b.read(t), "bin:hi")
	expect(post("/api/publish", `[{"tag":"room:2","data":"one"},{"tag":"room:2","data_b64":"dHdv"}]`), `{"queued":2,"messages":2}`)
	expect(b.read(t), "one")
	expect(b.read(t), "bin:two")
	expect(post("/api/send", `{"client":"`+a.id+`","data":"just you"}`), `{"queued":1}`)
	expect(a.read(t), "just you")
	expect(post("/api/send", `{"client":`+a.id+`,"data_b64":"AA=="}`), `{"queued":1}`) // a number works too
	expect(a.read(t), "bin:\x00")

	expect(get("/api/stats"), `{"clients":2,"tags":2,"sent":9,"dropped":0,"gone":0}`)
	expect(get("/api/tag?tag=room:1"), `{"tag":"room:1","clients":2}`)
	expect(post("/api/tags/set", `{"client":"`+a.id+`","tags":["user:7","room:2"]}`), `{"client":"`+a.id+`","tags":["room:1","room:2","user:7"]}`)
	expect(post("/api/tags/del", `{"client":"`+a.id+`","tags":["room:1"]}`), `{"client":"`+a.id+`","tags":["room:2","user:7"]}`)
	expect(get("/api/client?id="+a.id), `{"client":"`+a.id+`","tags":["room:2","user:7"]}`)
	expect(post("/api/tags/del", `{"client":"`+b.id+`","all":true}`), `{"client":"`+b.id+`","tags":[]}`)
	expect(get("/api/tag?tag=room:1"), `{"tag":"room:1","clients":0}`)

	// Disconnect one client, then a whole tag.
	c := dial(t, wsURL, "room:3")
	d := dial(t, wsURL, "room:3")
	expect(post("/api/disconnect", `{"client":"`+b.id+`","code":4000,"reason":"bye"}`), `{"closed":1}`)
	expect(b.read(t), "close:4000")
	expect(post("/api/disconnect", `{"tag":"room:3"}`), `{"closed":2}`)
	expect(c.read(t), "close:1000")
	expect(d.read(t), "close:1000")
	deadline := time.Now().Add(20 * time.Second)
	for get("/api/tag?tag=room:3") != `{"tag":"room:3","clients":0}` {
		if time.Now().After(deadline) {
			t.Fatal("room:3 still has clients after disconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if status, _ := call(t, "POST", api+"/api/send", "", `{"client":"`+b.id+`","data":"x"}`); status != 404 {
		t.Fatalf("send to a disconnected client: %d, want 404", status)
	}
}

func TestPresence(t *testing.T) {
	t.Parallel()
	srv, wsURL, api := setup(t, control.Config{})
	a := dial(t, wsURL, "room:p")
	b := dial(t, wsURL, "room:p,room:q")
	aID, _ := strconv.ParseUint(a.id, 10, 64)
	bID, _ := strconv.ParseUint(b.id, 10, 64)
	srv.Hub().SetData(broadcast.ClientID(aID), json.RawMessage(`{"name":"ann"}`))
	srv.Hub().SetData(broadcast.ClientID(bID), "not JSON: not shown")
	lo, hi := a.id, b.id
	loData, hiData := `,"data":{"name":"ann"}`, ""
	if bID < aID {
		lo, hi, loData, hiData = hi, lo, hiData, loData
	}
	for _, c := range []struct{ query, want string }{
		{"tag=room:p", `{"tag":"room:p","count":2,"clients":[{"client":"` + lo + `"` + loData + `},{"client":"` + hi + `"` + hiData + `}],"truncated":false}`},
		{"tag=room:p&limit=1", `{"tag":"room:p","count":2,"clients":[{"client":"` + lo + `"` + loData + `}],"truncated":true}`},
		{"tag=room:q", `{"tag":"room:q","count":1,"clients":[{"client":"` + b.id + `"}],"truncated":false}`},
		{"tag=none", `{"tag":"none","count":0,"clients":[],"truncated":false}`},
	} {
		status, got := call(t, "GET", api+"/api/presence?"+c.query, "", "")
		if status != 200 || got != c.want {
			t.Errorf("GET /api/presence?%s: %d %s\nwant %s", c.query, status, got, c.want)
		}
	}
}

func TestTagsChanged(t *testing.T) {
	t.Parallel()
	type change struct {
		id             broadcast.ClientID
		added, removed string
	}
	changes := make(chan change, 10)
	_, wsURL, api := setup(t, control.Config{TagsChanged: func(id broadcast.ClientID, added, removed []string) {
		changes <- change{id, strings.Join(added, ","), strings.Join(removed, ",")}
	}})
	a := dial(t, wsURL, "room:1")
	id, _ := strconv.ParseUint(a.id, 10, 64)
	for _, c := range []struct {
		path, body string
		want       change
	}{
		{"/api/tags/set", `{"client":"` + a.id + `","tags":["room:2","room:3"]}`, change{broadcast.ClientID(id), "room:2,room:3", ""}},
		{"/api/tags/del", `{"client":"` + a.id + `","tags":["room:2"]}`, change{broadcast.ClientID(id), "", "room:2"}},
		{"/api/tags/del", `{"client":"` + a.id + `","all":true}`, change{broadcast.ClientID(id), "", "room:1,room:3"}},
	} {
		if status, ans := call(t, "POST", api+c.path, "", c.body); status != 200 {
			t.Fatalf("POST %s: %d %s", c.path, status, ans)
		}
		if got := <-changes; got != c.want {
			t.Errorf("POST %s %s: TagsChanged %+v, want %+v", c.path, c.body, got, c.want)
		}
	}
}

func TestNewNeedsHub(t *testing.T) {
	t.Parallel()
	if _, err := control.New(control.Config{}); err == nil || !strings.HasPrefix(err.Error(), "control: ") {
		t.Fatalf("New without Hub: %v", err)
	}
}

func Example() {
	srv := edge.New(&edge.Config{Logger: slog.New(slog.DiscardHandler)})
	h, err := control.New(control.Config{Hub: srv.Hub(), Close: srv.CloseClient, Token: "s3cret"})
	if err != nil {
		panic(err)
	}
	// Mount h on the admin listener; here, a request in memory.
	req := httptest.NewRequest("POST", "/api/publish", bytes.NewBufferString(`{"tag": "room:lobby", "data": "hi"}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output: 200 {"queued":0}
}
