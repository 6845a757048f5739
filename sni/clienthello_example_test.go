package sni_test

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/edge-rt/edge/sni"
)

// Example_peekClientHello reads a connection's first bytes until they hold a
// whole ClientHello, routes on its server name, and keeps the bytes to
// replay them to a passthrough backend.
func Example_peekClientHello() {
	client, server := net.Pipe()
	go func() {
		b, _ := os.ReadFile("testdata/hellos/chrome_133.bin")
		for len(b) > 0 { // a client that writes in small pieces
			n := min(100, len(b))
			client.Write(b[:n])
			b = b[n:]
		}
		client.Close()
	}()
	var (
		h    sni.ClientHello
		peek []byte
		buf  = make([]byte, 512)
	)
	for {
		n, err := server.Read(buf)
		peek = append(peek, buf[:n]...)
		perr := h.Parse(peek)
		if perr == nil {
			break
		}
		if !errors.Is(perr, sni.ErrNeedMore) || err != nil {
			fmt.Println("refuse:", perr)
			return
		}
	}
	fmt.Println(h.ServerName, h.ALPN, len(peek) == h.Len)
	// Output: www.example.org [h2 http/1.1] true
}
