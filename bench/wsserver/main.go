// Command wsserver is a tiny edge server for bench/ws.sh: one WebSocket chat
// stream, the behaviour of cmd/edge's `stream: {mode: chat}` route action,
// for edge builds whose config file does not have it yet (ws.sh prefers the
// real binary when `edge -t` accepts its configuration).
//
//	go run ./wsserver -listen 127.0.0.1:18090 [-tls-listen 127.0.0.1:18445 -cert C -key K]
//
// Chat: a client upgrading on -path joins tag room:<name>, name being the
// `room` query parameter of the upgrade URL (default lobby), and every
// message it sends (text or binary) goes to every client of its room, the
// sender included: Routes.Stream, Client.SetTag and Server.SendTag, framed
// once for the whole room. Nothing else is kept per client (no SetData).
//
// The server runs until SIGTERM or SIGINT.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/stdlib"
	"github.com/edge-rt/edge/ws"
)

func main() {
	var (
		listen    = flag.String("listen", "127.0.0.1:18090", "plain (ws://) listener `host:port`; empty: none")
		tlsListen = flag.String("tls-listen", "", "TLS (wss://) listener `host:port`; needs -cert and -key")
		certFile  = flag.String("cert", "", "PEM certificate chain for -tls-listen")
		keyFile   = flag.String("key", "", "PEM private key for -tls-listen")
		path      = flag.String("path", "/ws", "the stream's path")
		workers   = flag.Int("workers", 1, "event loops (0: GOMAXPROCS)")
		queue     = flag.Int("queue-bytes", 4<<20, "per-client send queue bound (Stream.QueueBytes)")
		maxMsg    = flag.Int64("max-message", 64<<10, "largest message a client may send (Stream.MaxMessage)")
		ping      = flag.Duration("ping-interval", 300*time.Second, "Config.PingInterval")
	)
	flag.Parse()
	if err := run(*listen, *tlsListen, *certFile, *keyFile, *path, *workers, *queue, *maxMsg, *ping); err != nil {
		fmt.Fprintln(os.Stderr, "wsserver:", err)
		os.Exit(1)
	}
}

func run(listen, tlsListen, certFile, keyFile, path string, workers, queue int, maxMsg int64, ping time.Duration) error {
	if listen == "" && tlsListen == "" {
		return fmt.Errorf("no listener: set -listen and/or -tls-listen")
	}
	srv := edge.New(&edge.Config{
		Workers:        workers,
		ClientMax:      32000,
		LimitOpenFiles: -1,
		IdleTimeout:    300 * time.Second,
		PingInterval:   ping,
		HeaderServer:   true,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	st := chatStream(queue, maxMsg)
	if listen != "" {
		srv.Listen("tcp", listen).Any().Stream(path, st)
	}
	if tlsListen != "" {
		if certFile == "" || keyFile == "" {
			return fmt.Errorf("-tls-listen needs -cert and -key")
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return err
		}
		// As bench/lib.sh's edge TLS configuration: TLS 1.3, no tickets.
		ts, err := stdlib.New().NewServer(&tlsbackend.Config{
			GetCertificate: func(*tlsbackend.ClientHello) (*tls.Certificate, error) {
				return &cert, nil
			},
			MinVersion:            tls.VersionTLS13,
			DisableSessionTickets: true,
		})
		if err != nil {
			return err
		}
		defer ts.Close()
		l := srv.Listen("tcp", tlsListen).TLS(edge.TLSConfig{Server: ts, HostPolicy: edge.HostIgnoresSNI})
		l.Any().Stream(path, st)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return srv.Run(ctx)
}

// chatStream is the chat mode: join room:<room> on open, relay every
// message to the room (sender included).
func chatStream(queue int, maxMsg int64) *edge.Stream {
	return &edge.Stream{
		QueueBytes: queue,
		MaxMessage: maxMsg,
		OnOpen: func(c *edge.Client) {
			c.SetTag(roomTag(c))
		},
		OnMessage: func(c *edge.Client, op ws.Opcode, data []byte) {
			c.Server().SendTag(roomTag(c), op, data)
		},
	}
}

func roomTag(c *edge.Client) broadcast.Tag {
	room := c.Query("room")
	if room == "" {
		room = "lobby"
	}
	return broadcast.Tag("room:" + room)
}
