// Package broadcast is edge's index of real-time clients: stable client IDs
// usable from any goroutine, per-client extension data, tags (set, delete,
// delete all of a client, delete a tag, list and iterate both ways) and the
// fan-out of one framed message to every client of a tag. It imports only
// the standard library.
//
// The engine owns sockets, event loops and framing. It registers each
// connection's outbound side as a Sink, usually backed by a Queue (a
// bounded byte-budget FIFO drained by the connection's loop). The Hub owns
// IDs, tags, extension data and fan-out.
//
// # Typical usage
//
// Engine side, once per WebSocket connection:
//
//	q := broadcast.NewQueue(1 << 20)       // this client's send budget
//	sink := &connSink{q: q, loop: loop}    // Send: q.Push, wake the loop on wasEmpty, kick on !ok
//	id := hub.Register(sink, nil)
//	...                                    // loop: q.Drain -> writev -> q.Consume(written)
//	hub.Unregister(id)                     // on close, then q.Close()
//
// Application side, from any goroutine:
//
//	hub.SetTag(id, "room:42")
//	m := broadcast.NewMessage(frame)       // framed once: header + payload
//	n := hub.SendTag("room:42", m)         // shared by all receivers; n were queued
//	if hub.Send(other, m) == broadcast.Gone { ... }
//
// # Concurrency contract
//
// Every Hub method is safe from any goroutine and never blocks on I/O: a
// publish never waits for a slow receiver. Sinks are called with no Hub
// lock held, must not block, and kick their client (WebSocket close 1008)
// when its queue is full, so a client that stops reading costs at most its
// queue's bound and never delays the others. A Sink may be called during,
// and shortly after, its client's Unregister: it must then report Gone.
//
// Clients and tags live in shards (Config.Shards), each behind its own
// sync.RWMutex. A client's shard is in the low bits of its ID; a tag's is
// a hash of the tag. Each tag keeps its clients' IDs and Sinks in dense
// slices (with an index map once large), so SendTag copies them under a
// read lock and sends without any lock.
//
// # Backplane
//
// With a Backplane attached (SetBackplane; package backplane implements
// it over NATS), the Hub tells it when a tag gets its first client and
// loses its last, and hands it every SendTag message after the local
// fan-out; messages from other nodes come back in through DeliverTag,
// which fans out locally only. So each node delivers each message once.
//
// Lock order (cf. nats-server's locksordering.txt):
//
//	clientShard.mu -> tagShard.mu
//
// SetTag, DelTag, DelTags and Unregister hold the client's shard lock and
// take each tag's shard lock inside it; DeleteTag snapshots the tag, drops
// its lock and then works client by client in that same order. No code path
// holds two client shard locks, two tag shard locks, or a tag shard lock
// while taking a client shard lock.
package broadcast
