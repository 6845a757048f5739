package edge

// CloseClient starts the closing handshake of WebSocket client id with
// code and reason (at most 123 bytes), from any goroutine, like
// Client.Close from its own callbacks. It returns ErrGone when the client
// has closed or is not a WebSocket client. The control API uses it to
// disconnect clients.
func (s *Server) CloseClient(id ClientID, code uint16, reason string) error {
	h := s.lookup(id)
	if h == nil || h.q == nil {
		return ErrGone
	}
	if err := h.w.loop.Submit(func() {
		c := h.c
		if c.closed || c.h != h || c.ws == nil {
			return
		}
		h.w.resetOut()
		c.wsSendClose(code, reason)
		c.finish()
	}); err != nil {
		return ErrGone
	}
	return nil
}
