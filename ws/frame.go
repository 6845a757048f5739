package ws

import (
	"encoding/binary"
	"unicode/utf8"

	gws "github.com/gobwas/ws"
)

// Opcode is a frame opcode (RFC 6455 section 5.2).
type Opcode byte

// The opcodes RFC 6455 defines; the others are reserved.
const (
	OpContinuation = Opcode(gws.OpContinuation)
	OpText         = Opcode(gws.OpText)
	OpBinary       = Opcode(gws.OpBinary)
	OpClose        = Opcode(gws.OpClose)
	OpPing         = Opcode(gws.OpPing)
	OpPong         = Opcode(gws.OpPong)
)

// IsControl reports whether op is a control opcode (close, ping, pong or a
// reserved control opcode).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved"
}

// Close codes (RFC 6455 section 7.4.1) the decoder and servers use.
const (
	CloseNormal          uint16 = 1000
	CloseGoingAway       uint16 = 1001
	CloseProtocolError   uint16 = 1002
	CloseUnsupportedData uint16 = 1003
	CloseNoStatus        uint16 = 1005 // in events only: the close frame had no code
	CloseInvalidPayload  uint16 = 1007
	ClosePolicyViolation uint16 = 1008
	CloseTooBig          uint16 = 1009
	CloseInternalError   uint16 = 1011
)

// MaxControlPayload is the largest payload of a control frame.
const MaxControlPayload = gws.MaxControlFramePayloadSize

// MaxHeaderSize is the largest frame header: 2 bytes, an 8-byte extended
// length and a 4-byte mask key.
const MaxHeaderSize = gws.MaxHeaderSize

// IsValidCloseCode reports whether code may appear in a close frame on the
// wire (RFC 6455 section 7.4): 1000-1003 and 1007-1014 (the ones defined or
// registered with IANA), and 3000-4999 (libraries, frameworks and
// applications). 1004-1006 and 1015 are reserved, and 0-999 and 1016-2999
// are not in use.
func IsValidCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// AppendFrameHeader appends an unmasked frame header (server to client) to
// dst. length must not be negative. rsv1 marks the first frame of a
// compressed message (RFC 7692).
func AppendFrameHeader(dst []byte, op Opcode, fin, rsv1 bool, length int) []byte {
	b0 := byte(op) & 0x0f
	if fin {
		b0 |= 0x80
	}
	if rsv1 {
		b0 |= 0x40
	}
	switch {
	case length < 0:
		panic("ws: negative frame length")
	case length <= 125:
		return append(dst, b0, byte(length))
	case length <= 0xffff:
		return append(dst, b0, 126, byte(length>>8), byte(length))
	}
	dst = append(dst, b0, 127)
	return binary.BigEndian.AppendUint64(dst, uint64(length))
}

// AppendFrame appends one whole frame (FIN set, unmasked) carrying payload.
// Control frames must not carry more than MaxControlPayload bytes.
func AppendFrame(dst []byte, op Opcode, payload []byte) []byte {
	dst = AppendFrameHeader(dst, op, true, false, len(payload))
	return append(dst, payload...)
}

// AppendClose appends a close frame. Code 0 sends an empty payload (no
// status code); otherwise the payload is the code and reason, the reason cut
// (at a UTF-8 boundary) to the 123 bytes that fit in a control frame.
func AppendClose(dst []byte, code uint16, reason string) []byte {
	if code == 0 {
		return AppendFrame(dst, OpClose, nil)
	}
	if len(reason) > MaxControlPayload-2 {
		n := MaxControlPayload - 2
		for n > 0 && !utf8.RuneStart(reason[n]) {
			n--
		}
		reason = reason[:n]
	}
	dst = AppendFrameHeader(dst, OpClose, true, false, 2+len(reason))
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, reason...)
}
