// Package hooks connects the WebSocket clients of a stream to a backend
// written in any language, over HTTP/1.1 and JSON: edge POSTs an event to
// the backend's URL when a client connects, for its messages (batched),
// and when it closes; the backend's JSON answer accepts or rejects the
// client, replies to it, changes its tags, publishes to tags or closes it.
// The backend needs no Go and no WebSocket code; with the control API
// (package control) it can also publish at any time.
//
// The package imports no other part of edge: it works on the small Client
// interface, which cmd/edge implements on edge.Client.
//
// Typical usage (cmd/edge does this for `stream: {mode: hooks, ...}`):
//
//	h, err := hooks.New(hooks.Config{URL: "http://127.0.0.1:9001/hooks"})
//	...
//	st.OnOpen = func(c *edge.Client) { h.Open(adapt(c), info) }
//	st.OnMessage = func(c *edge.Client, op ws.Opcode, b []byte) { h.Message(adapt(c), op == ws.OpBinary, b) }
//	st.OnClose = func(c *edge.Client, code uint16, _ string) { h.Closed(adapt(c), code) }
//
// # Events
//
// Every request is a POST with a JSON body and the header Edge-Hook naming
// the event. Client IDs are decimal strings (they may exceed 2^53).
//
// connect, once per client, right after the WebSocket upgrade:
//
//	{"event": "connect", "client": "17", "path": "/chat", "query": "room=lobby",
//	 "headers": {"Authorization": "Bearer x"}, "cookies": {"sid": "abc"},
//	 "remote": "192.0.2.7:50123", "protocol": ""}
//
// headers holds the configured headers the request had; cookies is there
// when Cookie is one of them. The answer:
//
//	{"accept": true, "tags": ["room:lobby"], "data": {"name": "ann"}, "reply": "welcome"}
//	{"accept": false, "status": 403, "reason": "bad token"}
//
// An accepted client gets its initial tags and data (any JSON value, kept
// by edge and shown by the control API) and the optional reply; the other
// answer fields below work here too. A rejected one is closed with close
// code 4000+status (4403 for 403; status 400 to 599, default 403) and the
// reason (at most 123 bytes).
//
// message, for the messages of one or more accepted clients, in order:
//
//	{"event": "message", "messages": [
//	  {"client": "17", "data": "hello"},
//	  {"client": "18", "data_b64": "AAEC"}]}
//
// data is a text message, data_b64 a binary one. The answer is an array
// with one answer per message, in the same order (null, {} or a shorter
// array: nothing to do; an empty 2xx body too):
//
//	[{"reply": "ok", "set_tags": ["room:b"], "del_tags": ["room:a"],
//	  "publish": [{"tag": "room:b", "data": "ann: hello"}]},
//	 {"close": {"code": 4000, "reason": "bye"}}]
//
// reply (text) or reply_b64 (binary) goes to the sender; set_tags (or
// tags) and del_tags change its tags; data replaces its data; publish
// sends to every client of each tag (tag or tags; data or data_b64, as in
// the control API), on every node when a backplane is on; close ends the
// client (code 1000 when omitted). They apply in that order.
//
// close, once per accepted client, when it has gone:
//
//	{"event": "close", "client": "17", "code": 1001}
//
// Its answer is ignored (any 2xx).
//
// join and leave, with Config.Presence (tag prefixes), when a client
// accepted by the backend gains or loses tags of those prefixes through
// the answers (a connect answer's tags included; the events go next, before
// the client's later messages), and for the presence tags of a client that
// closes (before its close event), with the data the answers gave it:
//
//	{"event": "join", "client": "17", "tags": ["room:lobby"], "data": {"name": "ann"}}
//	{"event": "leave", "client": "17", "tags": ["room:lobby"], "data": {"name": "ann"}}
//
// The answer may be empty, or one answer object as for a message (to
// publish "ann joined", say). Tag changes made elsewhere make events when
// they are reported with Hooks.TagsChanged (cmd/edge reports the control
// API's); the Go API's are not seen. To list the clients of a tag with
// their data, use the control API's GET /api/presence?tag=....
//
// # Delivery, limits and failures
//
// Events are at most once: there are no retries. A client's events reach
// the backend in order (connect, its messages, close): each client belongs
// to one of Config.Workers lanes, and a lane makes one request at a time.
// So at most Workers requests (and connections) are open to the backend,
// and a slow or dead backend delays only its lanes, never the event loops
// (Open, Message and Closed only queue). Messages that arrive while the
// lane is busy, or within Config.BatchWait of the first, go in one request
// of at most Config.BatchMax messages.
//
// The drop policy: each lane queues at most Config.Queue/Workers events
// and Config.QueueBytes/Workers bytes; an event that does not fit is
// dropped (the newest is the one dropped) and counted in Stats.Dropped. A
// request that fails (connection refused, Config.Timeout, a status other
// than 2xx, an answer that does not parse) loses its events, counted in
// Stats.Failed. Both are logged at most once a second with the counts. A
// connect that is dropped or fails closes the client with 4503 (the
// backend decides who may connect: fail closed); a client already
// connected stays connected while the backend is down, and its messages
// are dropped and counted.
package hooks
