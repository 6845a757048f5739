// Package proxy holds the building blocks of edge's reverse proxy that do
// not touch the connection engine: backends and their health (passive and
// active), the balancers, the rewriting of request and response heads, the
// Framer that finds where a response ends in a backend's byte stream, and
// the PROXY protocol header sent to backends.
//
// The engine (the proxy route kind of package edge) keeps the backend
// connection on its event loop and calls Route.Pick, AppendRequestHead,
// Framer.Feed, AppendResponseHead and AppendProxyHeader there: none of them
// blocks, and none allocates when given a buffer with room enough
// (Backend.Sockaddr allocates one small value per connect). The package
// never imports package edge: it knows nothing of connections.
//
// Typical usage:
//
//	r := &proxy.Route{To: []string{"127.0.0.1:9001", "unix:/run/app.sock"}, Balance: proxy.LeastConn}
//	if err := r.Init(); err != nil {
//		// bad configuration
//	}
//	r.Start(ctx) // active health checks, if r.HealthCheck is set
//
//	// For each request, on the event loop:
//	b := r.Pick(now, nil) // nil: every backend is down: answer 502
//	b.Acquire()
//	defer b.Release()
//	out, upgrade, err := proxy.AppendRequestHead(buf[:0], head, &proxy.HeadOptions{Client: remote, ForwardedFor: r.ForwardedFor})
//	// connect to b.Sockaddr() (b.Fail(now) if that fails, then Pick(now, b)),
//	// send out and the body, then frame the response with a Framer.
package proxy
