// Package ws is edge's WebSocket protocol layer: the server side of RFC 6455
// and RFC 7692 (permessage-deflate) as pure functions over byte slices. It
// never touches sockets, goroutines or timers: the engine's event loop hands
// it the bytes it read and gets back events and the bytes to write, so an
// idle connection costs a Decoder struct and nothing else.
//
// The handshake: CheckRequest tells a WebSocket upgrade from a plain request
// (ErrNotWebSocket: serve the page) and from a bad one (*HandshakeError: answer
// its Status); SelectProtocol and NegotiateDeflate settle the subprotocol and
// compression; AppendUpgradeResponse writes the 101 response.
//
// Frames from the client: a Decoder turns the input into events (messages,
// pings, pongs, close), unmasking in place and assembling fragments, with
// UTF-8 checks, size limits and decompression. Every protocol violation is a
// *CloseError with the close code to send.
//
// Frames to the client: AppendFrame, AppendClose, and Deflate.AppendMessage,
// whose compressed frames can be shared by every receiver (edge always
// negotiates server_no_context_takeover).
//
// Typical usage, in the engine's read callback:
//
//	req := ws.Request{Method: "GET", Upgrade: r.Upgrade, Key: key, Version: version,
//		Protocol: protocol, Extensions: extensions}
//	switch err := ws.CheckRequest(&req); {
//	case err == ws.ErrNotWebSocket:
//		// serve the path as a plain GET
//	case err != nil:
//		he := err.(*ws.HandshakeError) // respond he.Status with he.Header, close
//	default:
//		proto, _ := ws.SelectProtocol(req.Protocol, []string{"chat"})
//		deflate, ext := ws.NegotiateDeflate(req.Extensions, ws.DeflateConfig{Enabled: true})
//		out = ws.AppendUpgradeResponse(out, req.Key, proto, ext)
//		c.dec = ws.Decoder{MaxMessage: 1 << 20, Deflate: deflate}
//	}
//
// and for every read after that:
//
//	for {
//		ev, n, err := c.dec.Next(in)
//		in = in[n:]
//		if err != nil {
//			out = ws.AppendClose(out, ws.CloseStatus(err), err.(*ws.CloseError).Reason)
//			// flush and close
//			break
//		}
//		switch ev.Kind {
//		case ws.KindNone:
//			// keep in (at most a frame header or a small frame), read more
//		case ws.KindMessage:
//			handle(ev.Opcode, ev.Payload) // borrowed until the next Next
//			out = deflate.AppendMessage(out, ws.OpText, reply)
//		case ws.KindPing:
//			out = ws.AppendFrame(out, ws.OpPong, ev.Payload)
//		case ws.KindClose:
//			out = ws.AppendClose(out, ws.CloseNormal, "") // echo, flush, close
//		}
//		if ev.Kind == ws.KindNone || ev.Kind == ws.KindClose {
//			break
//		}
//	}
//
// Sending one message to many clients: build the plain frame once with
// AppendFrame and the compressed one once with AppendMessage of any of the
// receivers' Deflates, then write to each client the one it negotiated.
package ws
