package edge

// CloseClient starts the closing handshake of WebSocket client id with
// code and reason (at most 123 bytes), from any goroutine, like
// Client.Close: queued messages go out first. It returns ErrGone when the
// client has closed or is not a WebSocket client. The control API uses it
// to disconnect clients.
func (s *Server) CloseClient(id ClientID, code uint16, reason string) error {
	h := s.lookup(id)
	if h == nil || h.q.Load() == nil {
		return ErrGone
	}
	h.requestClose(code, reason)
	return nil
}
