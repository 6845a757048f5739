package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/backplane"
	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/control"
	"github.com/edge-rt/edge/ws"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startNATS runs an embedded nats-server on loopback (port 0: a random
// one) and returns it with its port.
func startNATS(t testing.TB, port int) (*natsserver.Server, int) {
	t.Helper()
	if port == 0 {
		port = -1
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(20 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return ns, ns.Addr().(*net.TCPAddr).Port
}

// node is one edge instance: a WebSocket stream at /ws whose clients
// join the tags of query parameter tags (comma-separated) and are told
// their ID, a NATS backplane, and the control API on its own listener.
type node struct {
	srv   *edge.Server
	addr  string
	bp    *backplane.NATS
	admin *httptest.Server
}

func startNode(t testing.TB, name string, natsURL string) *node {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	srv := edge.New(&edge.Config{Logger: log})
	l := srv.Listen("tcp", "127.0.0.1:0")
	l.Any().Stream("/ws", &edge.Stream{
		OnOpen: func(c *edge.Client) {
			for _, tag := range strings.Split(c.Query("tags"), ",") {
				if tag != "" {
					c.SetTag(broadcast.Tag(tag))
				}
			}
			c.Send(ws.OpText, []byte("id:"+strconv.FormatUint(uint64(c.ID()), 10)))
		},
	})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	bp, err := backplane.New(srv.Hub(), backplane.Config{
		URLs: []string{natsURL}, Name: name, ReconnectWait: 50 * time.Millisecond, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bp.Close() })
	h, err := control.New(control.Config{Hub: srv.Hub(), Close: srv.CloseClient, Token: "s3cret",
		Backplane: func() any { return bp.Stats() }})
	if err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(h)
	t.Cleanup(admin.Close)
	return &node{srv: srv, addr: l.Addr().String(), bp: bp, admin: admin}
}

// api calls the node's control API and decodes the JSON answer.
func (n *node) api(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, n.admin.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s: answer %q is not a JSON object: %v", method, path, b, err)
	}
	return resp.StatusCode, v
}

// wsClient is a real WebSocket client recording what it receives.
type wsClient struct {
	id   string
	conn *websocket.Conn
	mu   sync.Mutex
	got  []string // "t:payload" or "b:hex"
	done chan struct{}
}

func dial(t *testing.T, n *node, tags ...string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+n.addr+"/ws?tags="+url.QueryEscape(strings.Join(tags, ",")), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, first, err := conn.Read(ctx)
	if err != nil || !bytes.HasPrefix(first, []byte("id:")) {
		t.Fatalf("first message %q, %v", first, err)
	}
	c := &wsClient{id: string(first[3:]), conn: conn, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			typ, b, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			s := "t:" + string(b)
			if typ == websocket.MessageBinary {
				s = fmt.Sprintf("b:%x", b)
			}
			c.mu.Lock()
			c.got = append(c.got, s)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.CloseNow(); <-c.done })
	return c
}

func (c *wsClient) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitSubscribed waits until the node's backplane has subs subscriptions
// and the NATS server has processed them.
func waitSubscribed(t *testing.T, n *node, subs int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d subscriptions on %s", subs, n.bp.Node()), func() bool {
		st := n.bp.Stats()
		return st.Connected && st.Subscriptions == subs
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.bp.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// expectExactly waits until c has received every message of want, then
// until it has received the markers (sent after want, on every path), and
// checks it got want and the markers each exactly once and nothing else.
func expectExactly(t *testing.T, name string, c *wsClient, want []string) {
	t.Helper()
	waitFor(t, name+" to receive "+strings.Join(want, " "), func() bool {
		got := c.messages()
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	})
	got := c.messages()
	slices.Sort(got)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Fatalf("%s received %q, want each of %q exactly once", name, got, w)
	}
}

func natsPublisher(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestBackplaneThreeNodes(t *testing.T) {
	t.Parallel()
	ns, port := startNATS(t, 0)
	defer ns.Shutdown()
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	a, b, c := startNode(t, "a", natsURL), startNode(t, "b", natsURL), startNode(t, "c", natsURL)

	const weird = "odd.tag *>%\x01"
	a1 := dial(t, a, "room:x")
	a2 := dial(t, a, "room:x", weird)
	b1 := dial(t, b, "room:x")
	c1 := dial(t, c, weird)
	c2 := dial(t, c, "other") // must get nothing of room:x or weird
	waitSubscribed(t, a, 2)
	waitSubscribed(t, b, 1)
	waitSubscribed(t, c, 2)

	// Node A, control API: text, binary, a batch over both tags.
	if code, v := a.api(t, "POST", "/api/publish", `{"tag": "room:x", "data": "ctl-text"}`); code != 200 || v["queued"] != float64(2) {
		t.Fatalf("publish: %d %v, want 200 and 2 queued on node A", code, v)
	}
	if code, v := a.api(t, "POST", "/api/publish", `{"tags": ["room:x"], "data_b64": "AAH/"}`); code != 200 {
		t.Fatalf("binary publish: %d %v", code, v)
	}
	weirdJSON, _ := json.Marshal(weird)
	if code, v := a.api(t, "POST", "/api/publish", `[{"tag": "room:x", "data": "batch1"}, {"tag": `+string(weirdJSON)+`, "data": "batch2"}]`); code != 200 || v["messages"] != float64(2) {
		t.Fatalf("batch publish: %d %v", code, v)
	}
	// Node B, Go API.
	b.srv.SendTag("room:x", ws.OpText, []byte("go-text"))
	b.srv.SendTag(broadcast.Tag(weird), ws.OpBinary, []byte{0xfe})
	// A backend in any language: straight to NATS, with and without headers.
	nc := natsPublisher(t, natsURL)
	if err := nc.Publish(a.bp.Subject("room:x"), []byte("raw-text")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("edge.tag."+backplane.EncodeTag(weird), []byte{0xc3, 0x28}); err != nil { // not UTF-8: binary
		t.Fatal(err)
	}
	if err := nc.PublishMsg(&nats.Msg{Subject: "edge.tag.room:x", Header: nats.Header{"Edge-Type": {"binary"}}, Data: []byte("raw-bin")}); err != nil {
		t.Fatal(err)
	}
	// Markers on every path, after everything else.
	a.srv.SendTag("room:x", ws.OpText, []byte("end-a"))
	a.srv.SendTag(broadcast.Tag(weird), ws.OpText, []byte("end-a"))
	b.srv.SendTag("room:x", ws.OpText, []byte("end-b"))
	b.srv.SendTag(broadcast.Tag(weird), ws.OpText, []byte("end-b"))
	_ = nc.Publish("edge.tag.room:x", []byte("end-nats"))
	_ = nc.Publish(a.bp.Subject(broadcast.Tag(weird)), []byte("end-nats"))

	room := []string{"t:ctl-text", "b:0001ff", "t:batch1", "t:go-text", "t:raw-text", fmt.Sprintf("b:%x", "raw-bin"), "t:end-a", "t:end-b", "t:end-nats"}
	odd := []string{"t:batch2", "b:fe", "b:c328", "t:end-a", "t:end-b", "t:end-nats"}
	expectExactly(t, "a1", a1, room)
	expectExactly(t, "a2", a2, append(slices.Clone(room), odd...))
	expectExactly(t, "b1", b1, room)
	expectExactly(t, "c1", c1, odd)
	if got := c2.messages(); len(got) != 0 {
		t.Fatalf("c2 (tag other) received %q", got)
	}
	for _, n := range []*node{a, b, c} {
		if st := n.bp.Stats(); st.Echoes != 0 || st.BadMessages != 0 || st.PublishGap != 0 {
			t.Errorf("node %s stats %+v", n.bp.Node(), st)
		}
	}
	if st := b.bp.Stats(); st.Published != 4 {
		t.Errorf("node b published %d, want 4", st.Published)
	}

	// Interest follows the clients: c's weird tag goes with c1.
	c1.conn.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "node c to drop the weird tag", func() bool { return c.bp.Stats().Subscriptions == 1 })
}

func TestBackplaneNATSDownAndBack(t *testing.T) {
	t.Parallel()
	ns, port := startNATS(t, 0)
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	a, b := startNode(t, "a", natsURL), startNode(t, "b", natsURL)
	a1, b1 := dial(t, a, "room:y"), dial(t, b, "room:y")
	waitSubscribed(t, a, 1)
	waitSubscribed(t, b, 1)
	a.srv.SendTag("room:y", ws.OpText, []byte("before"))
	expectExactly(t, "b1", b1, []string{"t:before"})

	ns.Shutdown()
	waitFor(t, "both nodes to see NATS gone", func() bool { return !a.bp.Stats().Connected && !b.bp.Stats().Connected })
	// Local delivery goes on; the remote copy is the counted gap.
	if n := a.srv.SendTag("room:y", ws.OpText, []byte("during")); n != 1 {
		t.Fatalf("local SendTag while NATS is down queued %d, want 1", n)
	}
	expectExactly(t, "a1", a1, []string{"t:before", "t:during"})
	waitFor(t, "the gap to be counted", func() bool { return a.bp.Stats().PublishGap == 1 })

	ns2, _ := startNATS(t, port)
	defer ns2.Shutdown()
	waitFor(t, "both nodes to reconnect", func() bool {
		sa, sb := a.bp.Stats(), b.bp.Stats()
		return sa.Connected && sb.Connected && sa.Reconnects >= 1 && sb.Reconnects >= 1
	})
	waitSubscribed(t, a, 1)
	waitSubscribed(t, b, 1)
	b.srv.SendTag("room:y", ws.OpText, []byte("after"))
	expectExactly(t, "a1", a1, []string{"t:before", "t:during", "t:after"})
	expectExactly(t, "b1", b1, []string{"t:before", "t:after"})
	if st := a.bp.Stats(); st.Disconnects < 1 || st.PublishGap != 1 {
		t.Fatalf("node a stats %+v", st)
	}
	// The control API shows the gap too.
	if code, v := a.api(t, "GET", "/api/stats", ""); code != 200 || v["backplane"].(map[string]any)["publish_gap"] != float64(1) {
		t.Fatalf("stats: %d %v", code, v)
	}
}

// TestBackplaneDebianNATS runs the Debian nats-server binary as a
// separate process (test.sh installs it).
func TestBackplaneDebianNATS(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("nats-server not installed (apt-get install -y nats-server; ./test.sh does)")
		}
		t.Fatal("CI: nats-server not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "0", "-P", filepath.Join(dir, "pid"))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	a, b := startNode(t, "a", natsURL), startNode(t, "b", natsURL)
	a1, b1 := dial(t, a, "room:deb"), dial(t, b, "room:deb")
	waitSubscribed(t, a, 1)
	waitSubscribed(t, b, 1)
	if code, v := a.api(t, "POST", "/api/publish", `{"tag": "room:deb", "data": "AAE=", "b64": true}`); code != 200 {
		t.Fatalf("publish: %d %v", code, v)
	}
	b.srv.SendTag("room:deb", ws.OpText, []byte("from-b"))
	want := []string{"b:0001", "t:from-b"}
	expectExactly(t, "a1", a1, want)
	expectExactly(t, "b1", b1, want)
}
