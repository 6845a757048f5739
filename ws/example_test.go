package ws_test

import (
	"fmt"
	"strings"

	"github.com/edge-rt/edge/ws"
)

// The server side of one connection: the handshake, then a masked text
// message and a close frame from the client, answered by the engine.
func Example() {
	req := ws.Request{
		Method:     "GET",
		Upgrade:    []byte("websocket"),
		Key:        []byte("dGhlIHNhbXBsZSBub25jZQ=="),
		Version:    []byte("13"),
		Protocol:   []byte("v2.chat, chat"),
		Extensions: []byte("permessage-deflate; client_max_window_bits"),
	}
	if err := ws.CheckRequest(&req); err != nil {
		fmt.Println("refused:", err)
		return
	}
	proto, _ := ws.SelectProtocol(req.Protocol, []string{"chat", "v2.chat"})
	deflate, ext := ws.NegotiateDeflate(req.Extensions, ws.DeflateConfig{Enabled: true})
	resp := ws.AppendUpgradeResponse(nil, req.Key, proto, ext)
	fmt.Print(strings.ReplaceAll(string(resp), "\r\n", "\n")) // CRLF on the wire

	// "Hello" masked with 37 fa 21 3d (RFC 6455 section 5.7), then a close
	// frame with code 1000.
	in := []byte{
		0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
		0x88, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x34, 0x12,
	}
	dec := ws.Decoder{MaxMessage: 1 << 20, Deflate: deflate}
	var out []byte
	for {
		ev, n, err := dec.Next(in)
		in = in[n:]
		if err != nil {
			out = ws.AppendClose(out, ws.CloseStatus(err), err.(*ws.CloseError).Reason)
			break
		}
		if ev.Kind == ws.KindNone {
			break // wait for more input
		}
		switch ev.Kind {
		case ws.KindMessage:
			fmt.Printf("%v message: %s\n", ev.Opcode, ev.Payload)
			out = deflate.AppendMessage(out, ev.Opcode, ev.Payload) // echo
		case ws.KindPing:
			out = ws.AppendFrame(out, ws.OpPong, ev.Payload)
		case ws.KindClose:
			fmt.Println("close code", ev.CloseCode)
			out = ws.AppendClose(out, ws.CloseNormal, "")
		}
	}
	fmt.Printf("reply: % x\n", out)
	// Output:
	// HTTP/1.1 101 Switching Protocols
	// Upgrade: websocket
	// Connection: Upgrade
	// Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
	// Sec-WebSocket-Protocol: v2.chat
	// Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover
	//
	// text message: Hello
	// close code 1000
	// reply: 81 05 48 65 6c 6c 6f 88 02 03 e8
}
