package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edge-rt/edge/hooks"
	"github.com/gobwas/ws"
)

// needPython returns python3's path. Without it the test is skipped, except
// in CI (CI set), where it fails.
func needPython(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("python3 not installed")
		}
		t.Fatal("python3 is required in CI:", err)
	}
	return p
}

// startPythonChat starts testdata/hooks_chat.py on Unix socket sock and
// waits until it listens.
func startPythonChat(t *testing.T, sock, admin string) *exec.Cmd {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "hooks_chat.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(needPython(t), script, "--unix", sock, "--admin", admin, "--token", "s3cret")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("python backend stderr:\n%s", stderr.String())
		}
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
		io.Copy(io.Discard, out)
	}()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) != "ready" {
			t.Fatalf("python backend: %q\n%s", line, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("python backend not ready after 15s:\n%s", stderr.String())
	}
	return cmd
}

const hooksTestConfig = `reusePort: false
admin: {listen: "127.0.0.1:{port2}", token: "s3cret"}
listeners:
  - listen: "127.0.0.1:{port}"
    hosts:
      - routes:
          - path: /chat
            stream:
              mode: hooks
              hooks:
                url: "unix:./chat.sock:/hooks"
                timeout: 1s
                headers: [Authorization, Cookie]
                batch: {max: 16, wait: 2ms}
                queue: 64
                workers: 2
                presence: ["room:"]
`

// adminJSON calls the control API and decodes its answer.
func adminJSON(t *testing.T, method, url, body string, v any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, b)
	}
}

// TestE2EHooksPythonChat is issue 11's "done when": a chat driven by a
// backend in Python (http.server, no Go, no WebSocket code) through the
// stream hooks and the control API.
func TestE2EHooksPythonChat(t *testing.T) {
	t.Parallel()
	needPython(t)
	dir := configDir(t)
	_, ports := startEdgeN(t, dir, hooksTestConfig, 2)
	base := "ws://127.0.0.1:" + ports[0] + "/chat"
	admin := "http://127.0.0.1:" + ports[1]
	py := startPythonChat(t, filepath.Join(dir, "chat.sock"), admin)

	// Two clients, accepted by the backend (one by header, one by cookie)
	// with their room's tag.
	alice := dialWS(t, base+"?room=lobby&name=alice", ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer good"}})})
	alice.expect(ws.OpText, "welcome alice")
	alice.expect(ws.OpText, "alice joined") // the answer to the join event
	bob := dialWS(t, base+"?room=lobby&name=bob", ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Cookie": {"theme=dark; sid=good"}})})
	bob.expect(ws.OpText, "welcome bob")
	bob.expect(ws.OpText, "bob joined")
	alice.expect(ws.OpText, "bob joined")
	// Presence: the room's clients with the data the backend gave them.
	var pres struct {
		Count   int
		Clients []struct {
			Client string
			Data   struct{ Name string }
		}
	}
	adminJSON(t, "GET", admin+"/api/presence?tag=room:lobby", "", &pres)
	var names []string
	bobID := ""
	for _, c := range pres.Clients {
		names = append(names, c.Data.Name)
		if c.Data.Name == "bob" {
			bobID = c.Client
		}
	}
	slices.Sort(names)
	if pres.Count != 2 || !slices.Equal(names, []string{"alice", "bob"}) {
		t.Fatalf("presence of room:lobby: %+v", pres)
	}
	// A tag given through the control API makes a join event too: the
	// backend's answer announces bob in his new room.
	var cl struct{ Tags []string }
	adminJSON(t, "POST", admin+"/api/tags/set", `{"client": "`+bobID+`", "tags": ["room:side"]}`, &cl)
	bob.expect(ws.OpText, "bob joined")
	adminJSON(t, "POST", admin+"/api/tags/del", `{"client": "`+bobID+`", "tags": ["room:side"]}`, &cl)

	// A message answered with a publish to the room: both get it.
	alice.send(ws.OpText, "hello")
	alice.expect(ws.OpText, "alice: hello")
	bob.expect(ws.OpText, "alice: hello")
	// The backend publishes through the control API, then replies.
	bob.send(ws.OpText, "/admin maintenance at noon")
	bob.expect(ws.OpText, "admin: maintenance at noon")
	bob.expect(ws.OpText, "queued 2")
	alice.expect(ws.OpText, "admin: maintenance at noon")

	// Rejected: no token. The upgrade has been answered 101 already, so
	// the rejection is a close frame with 4000+status.
	mallory := dialWS(t, base+"?room=lobby&name=mallory", ws.Dialer{})
	if ce := mallory.expectClose(); ce.Code != 4401 || ce.Reason != "bad token" {
		t.Errorf("rejected client: close %d %q, want 4401 \"bad token\"", ce.Code, ce.Reason)
	}

	// A client closed by the backend, and its close event: the backend
	// announces it through the control API.
	carol := dialWS(t, base+"?room=lobby&name=carol", ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer good"}})})
	carol.expect(ws.OpText, "welcome carol")
	carol.expect(ws.OpText, "carol joined")
	alice.expect(ws.OpText, "carol joined")
	bob.expect(ws.OpText, "carol joined")
	carol.send(ws.OpText, "/quit")
	if ce := carol.expectClose(); ce.Code != 4000 || ce.Reason != "bye" {
		t.Errorf("/quit: close %d %q, want 4000 bye", ce.Code, ce.Reason)
	}
	alice.expect(ws.OpText, "carol left")
	bob.expect(ws.OpText, "carol left")

	// Backend down: clients stay connected, their messages are dropped
	// and counted, publishing through the control API still works, and a
	// new client is refused with 4503.
	py.Process.Kill()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stats := func() hooks.Stats {
		var st struct{ Hooks map[string]hooks.Stats }
		adminJSON(t, "GET", admin+"/api/stats", "", &st)
		return st.Hooks["/chat"]
	}
	before := stats()
	if before.Accepted != 3 || before.Rejected != 1 || before.Messages != 3 || before.Failed != 0 {
		t.Errorf("stats before the backend died: %+v", before)
	}
	alice.send(ws.OpText, "anyone?")
	waitFor("the lost message to be counted", func() bool { return stats().Failed >= 1 })
	var pub struct{ Queued int }
	adminJSON(t, "POST", admin+"/api/publish", `{"tag": "room:lobby", "data": "still here"}`, &pub)
	if pub.Queued != 2 {
		t.Errorf("publish with the backend down: queued %d, want 2", pub.Queued)
	}
	alice.expect(ws.OpText, "still here") // not "alice: anyone?": it was dropped
	bob.expect(ws.OpText, "still here")
	dave := dialWS(t, base+"?name=dave", ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer good"}})})
	if ce := dave.expectClose(); ce.Code != hooks.CodeUnavailable {
		t.Errorf("connect with the backend down: close %d %q, want %d", ce.Code, ce.Reason, hooks.CodeUnavailable)
	}
	if st := stats(); st.Unavailable != 1 || st.Errors < 2 {
		t.Errorf("stats after the backend died: %+v", st)
	}
}

// TestE2EHooksReload: a reload that changes a hooks stream's URL keeps the
// clients that upgraded before on the old backend URL, sends new ones to
// the new URL, and /api/stats counts both.
func TestE2EHooksReload(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Event    string
			Messages []struct{ Data string }
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		switch ev.Event {
		case "connect":
			io.WriteString(w, `{"accept": true}`)
		case "message":
			var as []map[string]string
			for _, m := range ev.Messages {
				as = append(as, map[string]string{"reply": r.URL.Path + " " + m.Data})
			}
			json.NewEncoder(w).Encode(as)
		default:
			w.WriteHeader(204)
		}
	}))
	t.Cleanup(backend.Close)
	config := strings.NewReplacer("unix:./chat.sock:/hooks", backend.URL+"/v1", "                presence: [\"room:\"]\n", "").Replace(hooksTestConfig)
	dir := configDir(t)
	p, ports := startEdgeN(t, dir, config, 2)
	base := "ws://127.0.0.1:" + ports[0] + "/chat"
	admin := "http://127.0.0.1:" + ports[1]
	a := dialWS(t, base, ws.Dialer{})
	a.send(ws.OpText, "x")
	a.expect(ws.OpText, "/v1 x")

	b := strings.NewReplacer("{port2}", ports[1], "{port}", ports[0], "/v1", "/v2").Replace(config)
	if err := os.WriteFile(filepath.Join(dir, "edge.yaml"), []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), "edge: reloaded"); {
		if time.Now().After(deadline) {
			t.Fatalf("no reload after SIGHUP:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := dialWS(t, base, ws.Dialer{})
	c.send(ws.OpText, "y")
	c.expect(ws.OpText, "/v2 y")
	a.send(ws.OpText, "z")
	a.expect(ws.OpText, "/v1 z")
	var st struct{ Hooks map[string]hooks.Stats }
	adminJSON(t, "GET", admin+"/api/stats", "", &st)
	if s := st.Hooks["/chat"]; s.Accepted != 2 || s.Messages != 3 {
		t.Errorf("stats after the reload: %+v, want 2 accepted and 3 messages over both", s)
	}
}
