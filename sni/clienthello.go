package sni

import (
	"errors"
	"fmt"
)

// Limits of the ClientHello reader.
const (
	// MaxHelloLen is the largest ClientHello handshake message accepted
	// (body, without its 4-byte handshake header): one full TLS record.
	MaxHelloLen = 1 << 14
	// MaxHelloRecords is the most TLS records a ClientHello may be split
	// over. Together with MaxHelloLen it bounds how many bytes the reader
	// ever asks for: see MaxHelloBytes.
	MaxHelloRecords = 64
	// MaxHelloBytes is the most bytes ParseClientHello can need before it
	// returns a result other than ErrNeedMore: a peek buffer of this size
	// always suffices.
	MaxHelloBytes = MaxHelloLen + 4 + MaxHelloRecords*recordHeaderLen
)

const (
	recordHeaderLen      = 5
	recordTypeHandshake  = 22
	handshakeClientHello = 1
	maxRecordLen         = 1 << 14
)

// Errors of the ClientHello reader. Test them with errors.Is; every error
// other than ErrNeedMore is final for the connection.
var (
	// ErrNeedMore means the bytes are a valid prefix of a ClientHello:
	// read more and call again with all bytes so far.
	ErrNeedMore = errors.New("sni: need more bytes")
	// ErrNotTLS means the first bytes are not a TLS record header at all
	// (plain HTTP on a TLS port, or garbage).
	ErrNotTLS = errors.New("sni: not a TLS record")
	// ErrNotHandshake means a record before the end of the ClientHello is
	// not a handshake record (an alert, change_cipher_spec, data, ...).
	ErrNotHandshake = errors.New("sni: not a handshake record")
	// ErrNotClientHello means the first handshake message is not a
	// ClientHello.
	ErrNotClientHello = errors.New("sni: first handshake message is not a ClientHello")
	// ErrTooLarge means the ClientHello exceeds MaxHelloLen or is split
	// over more than MaxHelloRecords records.
	ErrTooLarge = errors.New("sni: ClientHello too large")
	// ErrMalformed is wrapped by every *MalformedError.
	ErrMalformed = errors.New("sni: malformed ClientHello")
)

// MalformedError reports a ClientHello whose records are well framed but
// whose content breaks the TLS grammar. It wraps ErrMalformed.
type MalformedError struct {
	// Field names the part that is wrong, e.g. "cipher_suites" or
	// "extension 0x0010 (ALPN)".
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error implements error.
func (e *MalformedError) Error() string {
	return "sni: malformed ClientHello: " + e.Field + ": " + e.Reason
}

// Unwrap returns ErrMalformed.
func (e *MalformedError) Unwrap() error { return ErrMalformed }

func malformed(field, reason string) error { return &MalformedError{Field: field, Reason: reason} }

// TLS extension types the reader decodes.
const (
	ExtServerName          uint16 = 0x0000
	ExtSupportedGroups     uint16 = 0x000a
	ExtECPointFormats      uint16 = 0x000b
	ExtSignatureAlgorithms uint16 = 0x000d
	ExtALPN                uint16 = 0x0010
	ExtSupportedVersions   uint16 = 0x002b
	ExtKeyShare            uint16 = 0x0033
)

// IsGREASE reports whether v is one of the reserved GREASE values of RFC
// 8701 (0x0a0a, 0x1a1a, ..., 0xfafa), used by clients in cipher suites,
// extension types, groups, versions and signature algorithms.
func IsGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>8 == v&0xff
}

// ClientHello is the decoded first message of a TLS client. Every list
// keeps the client's order and its GREASE values as sent.
//
// A ClientHello may be reused: Parse overwrites it and reuses its slices,
// so a reader that keeps one per worker parses without allocating (except
// for a server name or ALPN protocol that differs from the previous one).
// Nothing in it aliases the input bytes.
type ClientHello struct {
	// Len is the number of input bytes the ClientHello took: all its TLS
	// records, headers included. Bytes after it (e.g. early data) are
	// not examined.
	Len int
	// Records is the number of TLS records it was split over (1 usually).
	Records int
	// RecordVersion is the version in the first record header (0x0301
	// from most clients).
	RecordVersion uint16
	// Version is the legacy_version field (0x0303 for TLS 1.2 and 1.3).
	Version uint16
	// SessionIDLen is the length of legacy_session_id (0-32).
	SessionIDLen int
	// CipherSuites lists the offered cipher suites.
	CipherSuites []uint16
	// CompressionMethods lists the offered compression methods.
	CompressionMethods []uint8
	// Extensions lists the extension types in the order sent.
	Extensions []uint16
	// ServerName is the host_name of the server_name extension, as sent
	// (not lower-cased), or "" when absent.
	ServerName string
	// ALPN lists the application_layer_protocol_negotiation protocols.
	ALPN []string
	// SupportedVersions lists the supported_versions extension's values.
	SupportedVersions []uint16
	// SignatureAlgorithms lists the signature_algorithms extension.
	SignatureAlgorithms []uint16
	// SupportedGroups lists the supported_groups extension.
	SupportedGroups []uint16
	// ECPointFormats lists the ec_point_formats extension.
	ECPointFormats []uint8
	// KeyShareGroups lists the groups of the key_share entries
	// (0x11ec is X25519MLKEM768, 0x001d X25519).
	KeyShareGroups []uint16
	// GREASE reports whether any GREASE value appeared in cipher suites,
	// extensions, groups, key shares, versions or signature algorithms.
	GREASE bool

	buf []byte // reassembly of a handshake message split over records
}

// HasExtension reports whether the client sent an extension of type t.
func (h *ClientHello) HasExtension(t uint16) bool {
	for _, e := range h.Extensions {
		if e == t {
			return true
		}
	}
	return false
}

// MaxVersion returns the highest non-GREASE version the client offers:
// the largest supported_versions value when that extension is present,
// else Version.
func (h *ClientHello) MaxVersion() uint16 {
	var max uint16
	found := false
	for _, v := range h.SupportedVersions {
		if IsGREASE(v) {
			continue
		}
		found = true
		if v > max {
			max = v
		}
	}
	if found {
		return max
	}
	return h.Version
}

// ParseClientHello decodes the ClientHello at the start of b, the raw bytes
// a TLS client sent first, which may be split over any number of reads and
// over several TLS records. It returns ErrNeedMore when b is a valid but
// incomplete prefix, ErrNotTLS when b does not start with a TLS handshake
// record, and otherwise a final error (ErrNotHandshake,
// ErrNotClientHello, ErrTooLarge, *MalformedError).
//
// The caller keeps b (e.g. to replay it to a passthrough backend); the
// result does not alias it. MaxHelloBytes bounds how much b can need.
func ParseClientHello(b []byte) (*ClientHello, error) {
	h := new(ClientHello)
	if err := h.Parse(b); err != nil {
		return nil, err
	}
	return h, nil
}

// Parse is ParseClientHello into h, reusing h's storage. On error h's
// contents are unspecified.
func (h *ClientHello) Parse(b []byte) error {
	msg, n, recs, err := h.handshakeMessage(b)
	if err != nil {
		return err
	}
	h.Len = n
	h.Records = recs
	h.RecordVersion = uint16(b[1])<<8 | uint16(b[2])
	return h.parseBody(msg)
}

// handshakeMessage finds the first handshake message's body in the records
// at the start of b, reassembling it into h.buf when it spans records.
func (h *ClientHello) handshakeMessage(b []byte) (msg []byte, n, recs int, err error) {
	var (
		need   = -1 // handshake body length, once known
		single []byte
		multi  bool
	)
	h.buf = h.buf[:0]
	off := 0
	for {
		if len(b)-off < 1 {
			return nil, 0, 0, ErrNeedMore
		}
		if b[off] != recordTypeHandshake {
			if off == 0 {
				return nil, 0, 0, ErrNotTLS
			}
			return nil, 0, 0, fmt.Errorf("%w: record type %d inside the ClientHello", ErrNotHandshake, b[off])
		}
		if len(b)-off >= 2 && b[off+1] != 3 {
			if off == 0 {
				return nil, 0, 0, ErrNotTLS
			}
			return nil, 0, 0, malformed("record header", fmt.Sprintf("version major %d", b[off+1]))
		}
		if len(b)-off >= 3 && b[off+2] > 4 {
			if off == 0 {
				return nil, 0, 0, ErrNotTLS
			}
			return nil, 0, 0, malformed("record header", fmt.Sprintf("version minor %d", b[off+2]))
		}
		if len(b)-off < recordHeaderLen {
			return nil, 0, 0, ErrNeedMore
		}
		rlen := int(b[off+3])<<8 | int(b[off+4])
		if rlen == 0 {
			return nil, 0, 0, malformed("record header", "empty handshake record")
		}
		if rlen > maxRecordLen {
			return nil, 0, 0, fmt.Errorf("%w: record of %d bytes", ErrTooLarge, rlen)
		}
		recs++
		if recs > MaxHelloRecords {
			return nil, 0, 0, fmt.Errorf("%w: more than %d records", ErrTooLarge, MaxHelloRecords)
		}
		body := b[off+recordHeaderLen:]
		complete := len(body) >= rlen
		if complete {
			body = body[:rlen]
		}
		// Append what we have of this record to the handshake bytes.
		var hs []byte
		if recs == 1 {
			hs = body
		} else {
			if !multi {
				h.buf = append(h.buf, single...)
				multi = true
			}
			h.buf = append(h.buf, body...)
			hs = h.buf
		}
		if recs == 1 {
			single = body
		}
		if need < 0 && len(hs) >= 1 && hs[0] != handshakeClientHello {
			return nil, 0, 0, fmt.Errorf("%w: handshake type %d", ErrNotClientHello, hs[0])
		}
		if need < 0 && len(hs) >= 4 {
			need = int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
			if need > MaxHelloLen {
				return nil, 0, 0, fmt.Errorf("%w: %d bytes", ErrTooLarge, need)
			}
		}
		if need >= 0 && len(hs) > 4+need {
			if complete {
				return nil, 0, 0, malformed("handshake", "bytes after the ClientHello in its last record")
			}
		}
		if !complete {
			return nil, 0, 0, ErrNeedMore
		}
		off += recordHeaderLen + rlen
		if need >= 0 && len(hs) == 4+need {
			if multi {
				h.buf = h.buf[:len(hs)] // keep the same backing array
			}
			return hs[4:], off, recs, nil
		}
		if !multi && recs == 1 {
			// Next records append; copy the first one now so single can
			// be dropped.
			h.buf = append(h.buf[:0], single...)
			multi = true
		}
	}
}

// reader is a bounds-checked cursor over a byte slice.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) u8() uint8 {
	if len(r.b) < 1 {
		r.ok = false
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if len(r.b) < 2 {
		r.ok = false
		r.b = nil
		return 0
	}
	v := uint16(r.b[0])<<8 | uint16(r.b[1])
	r.b = r.b[2:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if len(r.b) < n {
		r.ok = false
		r.b = nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// vec8 and vec16 read a vector with a 1- or 2-byte length prefix.
func (r *reader) vec8() []byte  { return r.bytes(int(r.u8())) }
func (r *reader) vec16() []byte { return r.bytes(int(r.u16())) }

func (h *ClientHello) reset() {
	h.SessionIDLen = 0
	h.CipherSuites = h.CipherSuites[:0]
	h.CompressionMethods = h.CompressionMethods[:0]
	h.Extensions = h.Extensions[:0]
	h.ALPN = h.ALPN[:0]
	h.SupportedVersions = h.SupportedVersions[:0]
	h.SignatureAlgorithms = h.SignatureAlgorithms[:0]
	h.SupportedGroups = h.SupportedGroups[:0]
	h.ECPointFormats = h.ECPointFormats[:0]
	h.KeyShareGroups = h.KeyShareGroups[:0]
	h.GREASE = false
}

func (h *ClientHello) parseBody(msg []byte) error {
	prevName := h.ServerName
	h.ServerName = ""
	h.reset()
	r := reader{b: msg, ok: true}
	h.Version = r.u16()
	r.bytes(32) // random
	sid := r.vec8()
	if !r.ok {
		return malformed("header", "truncated before the session id ends")
	}
	if len(sid) > 32 {
		return malformed("legacy_session_id", fmt.Sprintf("%d bytes", len(sid)))
	}
	h.SessionIDLen = len(sid)
	cs := r.vec16()
	if !r.ok || len(cs) == 0 || len(cs)%2 != 0 {
		return malformed("cipher_suites", "missing, empty or odd length")
	}
	for i := 0; i < len(cs); i += 2 {
		v := uint16(cs[i])<<8 | uint16(cs[i+1])
		h.GREASE = h.GREASE || IsGREASE(v)
		h.CipherSuites = append(h.CipherSuites, v)
	}
	cm := r.vec8()
	if !r.ok || len(cm) == 0 {
		return malformed("compression_methods", "missing or empty")
	}
	h.CompressionMethods = append(h.CompressionMethods, cm...)
	if len(r.b) == 0 {
		return nil // no extensions at all (SSL 3.0 style hello)
	}
	exts := r.vec16()
	if !r.ok {
		return malformed("extensions", "truncated")
	}
	if len(r.b) != 0 {
		return malformed("extensions", "bytes after the extensions")
	}
	var seen [1 << 16 / 64]uint64
	er := reader{b: exts, ok: true}
	for len(er.b) > 0 {
		typ := er.u16()
		data := er.vec16()
		if !er.ok {
			return malformed("extensions", "truncated extension")
		}
		if IsGREASE(typ) {
			h.GREASE = true
		} else {
			if seen[typ/64]&(1<<(typ%64)) != 0 {
				return malformed(extName(typ), "sent twice")
			}
			seen[typ/64] |= 1 << (typ % 64)
		}
		h.Extensions = append(h.Extensions, typ)
		if err := h.parseExtension(typ, data, prevName); err != nil {
			return err
		}
	}
	return nil
}

func extName(t uint16) string {
	name := ""
	switch t {
	case ExtServerName:
		name = " (server_name)"
	case ExtSupportedGroups:
		name = " (supported_groups)"
	case ExtECPointFormats:
		name = " (ec_point_formats)"
	case ExtSignatureAlgorithms:
		name = " (signature_algorithms)"
	case ExtALPN:
		name = " (ALPN)"
	case ExtSupportedVersions:
		name = " (supported_versions)"
	case ExtKeyShare:
		name = " (key_share)"
	}
	return fmt.Sprintf("extension 0x%04x%s", t, name)
}

// u16list appends a vector of uint16 values to dst, noting GREASE.
func (h *ClientHello) u16list(dst []uint16, v []byte, typ uint16) ([]uint16, error) {
	if len(v)%2 != 0 {
		return dst, malformed(extName(typ), "odd length list")
	}
	for i := 0; i < len(v); i += 2 {
		x := uint16(v[i])<<8 | uint16(v[i+1])
		h.GREASE = h.GREASE || IsGREASE(x)
		dst = append(dst, x)
	}
	return dst, nil
}

func (h *ClientHello) parseExtension(typ uint16, data []byte, prevName string) error {
	r := reader{b: data, ok: true}
	var err error
	switch typ {
	case ExtServerName:
		if len(data) == 0 {
			return nil // a server's empty echo; tolerated from clients too
		}
		list := r.vec16()
		if !r.ok || len(r.b) != 0 || len(list) == 0 {
			return malformed(extName(typ), "bad server_name_list length")
		}
		lr := reader{b: list, ok: true}
		for len(lr.b) > 0 {
			nt := lr.u8()
			name := lr.vec16()
			if !lr.ok {
				return malformed(extName(typ), "truncated name")
			}
			if nt != 0 {
				continue // unknown name types are ignored
			}
			if h.ServerName != "" {
				return malformed(extName(typ), "two host names")
			}
			if err := checkHostName(name); err != nil {
				return malformed(extName(typ), err.Error())
			}
			if string(name) == prevName {
				h.ServerName = prevName
			} else {
				h.ServerName = string(name)
			}
		}
	case ExtSupportedGroups:
		list := r.vec16()
		if !r.ok || len(r.b) != 0 {
			return malformed(extName(typ), "bad length")
		}
		h.SupportedGroups, err = h.u16list(h.SupportedGroups, list, typ)
	case ExtECPointFormats:
		list := r.vec8()
		if !r.ok || len(r.b) != 0 {
			return malformed(extName(typ), "bad length")
		}
		h.ECPointFormats = append(h.ECPointFormats, list...)
	case ExtSignatureAlgorithms:
		list := r.vec16()
		if !r.ok || len(r.b) != 0 {
			return malformed(extName(typ), "bad length")
		}
		h.SignatureAlgorithms, err = h.u16list(h.SignatureAlgorithms, list, typ)
	case ExtALPN:
		list := r.vec16()
		if !r.ok || len(r.b) != 0 || len(list) == 0 {
			return malformed(extName(typ), "bad protocol_name_list length")
		}
		lr := reader{b: list, ok: true}
		for len(lr.b) > 0 {
			p := lr.vec8()
			if !lr.ok || len(p) == 0 {
				return malformed(extName(typ), "empty or truncated protocol name")
			}
			h.ALPN = append(h.ALPN, h.alpnString(p))
		}
	case ExtSupportedVersions:
		list := r.vec8()
		if !r.ok || len(r.b) != 0 || len(list) == 0 {
			return malformed(extName(typ), "bad length")
		}
		h.SupportedVersions, err = h.u16list(h.SupportedVersions, list, typ)
	case ExtKeyShare:
		list := r.vec16()
		if !r.ok || len(r.b) != 0 {
			return malformed(extName(typ), "bad client_shares length")
		}
		lr := reader{b: list, ok: true}
		for len(lr.b) > 0 {
			g := lr.u16()
			lr.vec16()
			if !lr.ok {
				return malformed(extName(typ), "truncated key share entry")
			}
			h.GREASE = h.GREASE || IsGREASE(g)
			h.KeyShareGroups = append(h.KeyShareGroups, g)
		}
	}
	return err
}

// alpnString returns p as a string without allocating for common protocols
// or for the one the reused ClientHello held at the same index before.
func (h *ClientHello) alpnString(p []byte) string {
	switch string(p) {
	case "h2":
		return "h2"
	case "http/1.1":
		return "http/1.1"
	case "http/1.0":
		return "http/1.0"
	case "h3":
		return "h3"
	}
	if i := len(h.ALPN); i < cap(h.ALPN) {
		if old := h.ALPN[:i+1][i]; old == string(p) {
			return old
		}
	}
	return string(p)
}

// checkHostName accepts a DNS host name as sent in SNI: 1-255 bytes of
// printable ASCII other than space, not an IP literal check (RFC 6066
// forbids literals, but clients send them; routing simply will not match).
func checkHostName(name []byte) error {
	if len(name) == 0 || len(name) > 255 {
		return errors.New("host name length out of range")
	}
	for _, c := range name {
		if c <= ' ' || c >= 0x7f {
			return fmt.Errorf("byte 0x%02x in host name", c)
		}
	}
	return nil
}
