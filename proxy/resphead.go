package proxy

// AppendResponseHead appends to dst the response head head (the bytes a
// Framer consumed up to HeadLen: a status line and header fields, each
// ending in CRLF, then an empty line that ends head), rewritten for the
// client. The status line is sent as HTTP/1.1 with the code and reason
// kept. The hop-by-hop fields are removed: Connection, the fields it names
// (but never Content-Length or Transfer-Encoding, nor Upgrade in a 101),
// Keep-Alive and Proxy-Connection; so is Content-Length when
// Transfer-Encoding is present (RFC 9112 section 6.3). "Connection: close"
// is added when closeClient, except to a 1xx head; a 101 keeps its Upgrade
// field and gets "Connection: upgrade". On error, dst is returned
// unchanged. AppendResponseHead allocates nothing when dst has room enough.
func AppendResponseHead(dst, head []byte, closeClient bool) ([]byte, error) {
	line, i, err := nextLine(head, 0)
	if err != nil {
		return dst, err
	}
	code, ok := parseStatusLine(line)
	if !ok {
		return dst, errStatusLine
	}
	fields := i

	var conn connNames
	var te bool
	for {
		name, value, next, err := nextField(head, i)
		if err != nil {
			return dst, err
		}
		if name == nil {
			if next != len(head) {
				return dst, errTrailing
			}
			break
		}
		switch {
		case equalFold(name, "connection"):
			if err := conn.add(head, offsetIn(head, value), len(value)); err != nil {
				return dst, err
			}
		case equalFold(name, "transfer-encoding"):
			te = true
		}
		i = next
	}

	dst = append(dst, "HTTP/1.1"...)
	dst = append(dst, line[8:]...)
	dst = append(dst, "\r\n"...)
	for i = fields; ; {
		name, _, next := fieldAt(head, i)
		if name == nil {
			break
		}
		if keepResponseField(head, name, &conn, code, te) {
			dst = append(dst, head[i:next]...)
		}
		i = next
	}
	switch {
	case code == 101:
		dst = append(dst, "Connection: upgrade\r\n"...)
	case closeClient && code >= 200:
		dst = append(dst, "Connection: close\r\n"...)
	}
	return append(dst, "\r\n"...), nil
}

// keepResponseField reports whether the field named name is forwarded as
// it is.
func keepResponseField(head, name []byte, conn *connNames, code int, te bool) bool {
	switch len(name) {
	case 7:
		if code == 101 && equalFold(name, "upgrade") {
			return true
		}
	case 10:
		if equalFold(name, "connection") || equalFold(name, "keep-alive") {
			return false
		}
	case 14:
		if equalFold(name, "content-length") {
			return !te
		}
	case 16:
		if equalFold(name, "proxy-connection") {
			return false
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return true
		}
	}
	return !conn.has(head, name)
}

// parseStatusLine checks "HTTP/1.x NNN[ reason]" and returns the code.
func parseStatusLine(line []byte) (code int, ok bool) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
		len(line) > 12 && line[12] != ' ' || line[9] == '0' {
		return 0, false
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	for _, c := range line[12:] {
		if !vchar[c] {
			return 0, false
		}
	}
	return code, true
}
