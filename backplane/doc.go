// Package backplane joins the broadcast Hubs of many edge nodes over NATS
// (github.com/nats-io/nats.go), so that a message sent to a tag on any
// node, or published straight to NATS by a backend in any language,
// reaches the tag's clients on every node.
//
// # Subjects
//
// Tag t is subject SubjectPrefix + EncodeTag(t): "edge.tag.room:lobby" for
// "room:lobby" with the default prefix. A backend publishes to that
// subject; the payload is the message. Header Edge-Type: binary (or text)
// says how clients get it; without it the payload goes as a text message
// when it is valid UTF-8, else as a binary one.
//
// # Interest
//
// A node subscribes to the subject of each tag that has at least one local
// client (one subscription per tag, whatever its number of clients), and
// unsubscribes when the tag's last local client leaves. The Hub only
// notifies; one goroutine reconciles the subscriptions with Hub.TagLen, so
// a tag that comes and goes many times between two passes costs nothing.
// All subscriptions feed one bounded channel drained by one goroutine.
//
// # Delivery guarantee
//
// At most once per node, and exactly once per node while the node's NATS
// connection is up and no bound is hit. A SendTag on a node delivers to
// its local clients at once and is published to NATS with the node's ID
// in header Edge-Node; the connection is made with NoEcho, and a message
// carrying the node's own ID is dropped anyway, so a node never delivers
// its own message twice. Other nodes deliver it once each, from their
// subscription. While NATS is unreachable, local delivery goes on; what
// this node could not publish is counted (Stats.PublishGap), what others
// published meanwhile is lost for this node (the disconnected time is
// logged on reconnect); reconnect and resubscription are automatic
// (nats.go keeps the subscriptions and replays them). A full publish
// queue or a full receive channel drops and counts (Stats.PublishDropped,
// Stats.SlowConsumer). There is no replay: per-tag history is not built
// yet.
package backplane
