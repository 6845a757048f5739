package tests

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/edge-rt/edge/ws"
)

// BenchmarkBackplaneHop measures publish-to-receive on a client of the
// same node (local) and of another node over an embedded NATS (remote),
// one message at a time.
func BenchmarkBackplaneHop(b *testing.B) {
	for _, remote := range []bool{false, true} {
		name := "local"
		if remote {
			name = "remote"
		}
		b.Run(name, func(b *testing.B) {
			ns, port := startNATS(b, 0)
			defer ns.Shutdown()
			natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
			na, nb := startNode(b, "a", natsURL), startNode(b, "b", natsURL)
			target := na
			if remote {
				target = nb
			}
			ctx := context.Background()
			conn, _, err := websocket.Dial(ctx, "ws://"+target.addr+"/ws?tags=room:bench", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.CloseNow()
			if _, _, err := conn.Read(ctx); err != nil { // its ID
				b.Fatal(err)
			}
			for target.bp.Stats().Subscriptions != 1 {
				time.Sleep(time.Millisecond)
			}
			_ = target.bp.Flush(ctx)
			msg := []byte("x")
			b.ResetTimer()
			for range b.N {
				na.srv.SendTag("room:bench", ws.OpText, msg)
				if _, _, err := conn.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkControlPublish measures POST /api/publish to a tag with one
// client, over loopback HTTP with keep-alive.
func BenchmarkControlPublish(b *testing.B) {
	ns, port := startNATS(b, 0)
	defer ns.Shutdown()
	n := startNode(b, "a", fmt.Sprintf("nats://127.0.0.1:%d", port))
	body := `{"tag": "room:bench", "data": "hello"}`
	b.ResetTimer()
	for range b.N {
		req, _ := http.NewRequest("POST", n.admin.URL+"/api/publish", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}
