package edge

import (
	"context"

	"github.com/edge-rt/edge/proxy"
)

// Active health checks of proxy routes run while the server runs and
// while the route is served: a reload (Listener.SetRoutes) starts those of
// new routes and stops those of routes no longer served.

// syncProxyChecks starts the checks of every proxy route the listeners
// serve that has none running, and stops those of routes served no more.
// s.mu must be held.
func (s *Server) syncProxyChecks() {
	if !s.started || s.shutdown {
		return
	}
	live := map[*proxy.Route]bool{}
	for _, l := range s.listeners {
		for _, g := range l.currentGroups() {
			for _, r := range g.proxyRoutes() {
				live[r] = true
			}
		}
		for _, r := range l.passthroughRoutes() {
			live[r] = true
		}
	}
	for r, stop := range s.checks {
		if !live[r] {
			stop()
			delete(s.checks, r)
		}
	}
	for r := range live {
		if _, ok := s.checks[r]; ok || r.HealthCheck == nil {
			continue
		}
		if s.checks == nil {
			s.checks = map[*proxy.Route]context.CancelFunc{}
		}
		ctx, cancel := context.WithCancel(s.ctx)
		s.checks[r] = cancel
		var onHealth func(*proxy.Backend, bool)
		if p := s.pobs; p != nil {
			onHealth = func(b *proxy.Backend, up bool) { p.BackendUp(b.String(), up) }
		}
		r.StartObserved(ctx, onHealth)
	}
}
