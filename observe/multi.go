package observe

import "time"

// Multi returns an Observer that tells each of obs every event, in order.
// Nil entries are skipped; with none left it returns nil (the engine then
// calls nothing), with one it returns that one.
func Multi(obs ...Observer) Observer {
	var list multi
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return list
}

type multi []Observer

func (m multi) ConnOpened(c Conn) {
	for _, o := range m {
		o.ConnOpened(c)
	}
}

func (m multi) ConnRefused(listener string, reason RefuseReason) {
	for _, o := range m {
		o.ConnRefused(listener, reason)
	}
}

func (m multi) ConnClosed(c Conn, reason string) {
	for _, o := range m {
		o.ConnClosed(c, reason)
	}
}

func (m multi) Handshake(h Handshake) {
	for _, o := range m {
		o.Handshake(h)
	}
}

func (m multi) Request(r *Request) {
	for _, o := range m {
		o.Request(r)
	}
}

func (m multi) WSMessage(listener string, dir Direction, size int) {
	for _, o := range m {
		o.WSMessage(listener, dir, size)
	}
}

func (m multi) QueueDrop(listener string, slowClose bool) {
	for _, o := range m {
		o.QueueDrop(listener, slowClose)
	}
}

func (m multi) BackendUp(backend string, up bool) {
	for _, o := range m {
		if p, ok := o.(ProxyObserver); ok {
			p.BackendUp(backend, up)
		}
	}
}

func (m multi) BackendConnectError(backend string) {
	for _, o := range m {
		if p, ok := o.(ProxyObserver); ok {
			p.BackendConnectError(backend)
		}
	}
}

func (m multi) UpstreamLatency(backend string, d time.Duration) {
	for _, o := range m {
		if p, ok := o.(ProxyObserver); ok {
			p.UpstreamLatency(backend, d)
		}
	}
}
