package ws

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf8"

	gws "github.com/gobwas/ws"
)

// Kind says what an Event carries.
type Kind uint8

// Event kinds.
const (
	KindNone    Kind = iota // no complete event yet: append more input
	KindMessage             // a whole text or binary message
	KindPing
	KindPong
	KindClose
)

func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindMessage:
		return "message"
	case KindPing:
		return "ping"
	case KindPong:
		return "pong"
	case KindClose:
		return "close"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one decoded message or control frame.
type Event struct {
	Kind Kind
	// Opcode is OpText or OpBinary for KindMessage, and the frame's opcode
	// for control frames.
	Opcode Opcode
	// Payload is the unmasked (and decompressed) payload: the message, or
	// the control frame's payload (for KindClose, code and reason as sent).
	// It aliases the input given to Next or a buffer the Decoder borrowed
	// from a pool, and is only valid until the next call to Next or Reset:
	// copy it to keep it.
	Payload []byte
	// CloseCode and CloseReason are set for KindClose; CloseCode is
	// CloseNoStatus (1005) when the frame had no payload. CloseReason aliases
	// like Payload.
	CloseCode   uint16
	CloseReason []byte
}

// CloseError is a protocol violation by the client. The server should send
// a close frame with Code (AppendClose(dst, e.Code, e.Reason)) and close the
// connection. Next returns it as a *CloseError.
type CloseError struct {
	Code   uint16 // 1002 protocol error, 1007 invalid data, 1009 too big
	Reason string // short, fits a close frame
}

func (e *CloseError) Error() string {
	return "ws: close " + strconv.Itoa(int(e.Code)) + ": " + e.Reason
}

// CloseStatus returns the code of the *CloseError in err's chain, or 0 when
// there is none.
func CloseStatus(err error) uint16 {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func protocolError(reason string) *CloseError {
	return &CloseError{Code: CloseProtocolError, Reason: reason}
}

var (
	errUnmasked         = protocolError("unmasked client frame")
	errReservedOpcode   = protocolError("reserved opcode")
	errReservedBits     = protocolError("reserved bits set")
	errFragmentedCtl    = protocolError("fragmented control frame")
	errControlTooLong   = protocolError("control frame longer than 125 bytes")
	errNoMessage        = protocolError("continuation frame without a message")
	errMessageOpen      = protocolError("new message before the last one ended")
	errLength           = protocolError("invalid payload length")
	errClosePayload     = protocolError("close payload of one byte")
	errCloseCode        = protocolError("invalid close code")
	errTooBig           = &CloseError{Code: CloseTooBig, Reason: "message too big"}
	errTextUTF8         = &CloseError{Code: CloseInvalidPayload, Reason: "invalid UTF-8 in text message"}
	errCloseReasonUTF8  = &CloseError{Code: CloseInvalidPayload, Reason: "invalid UTF-8 in close reason"}
	errCompressedTooBig = &CloseError{Code: CloseTooBig, Reason: "compressed message too big"}
)

// DefaultMaxMessage is the message size limit of a Decoder whose MaxMessage
// is zero.
const DefaultMaxMessage = 1 << 20

// MinBuffer is the input Next may need buffered to make progress: data
// frames up to this size (header included) and control frames are decoded
// only when whole, larger data frames are consumed as their bytes arrive. A
// caller whose read buffer holds MinBuffer bytes never stalls.
const MinBuffer = 4096

// Decoder decodes the frames a client sends (RFC 6455 section 5, and RFC
// 7692 when Deflate is set) into events. It holds the state of one
// connection between calls: a fragmented message being assembled, a data
// frame whose payload is still arriving, and the compression window. It never
// reads, blocks or starts goroutines; the caller feeds it input.
//
// A Decoder is not safe for concurrent use. Its zero value is ready; set the
// fields before the first call to Next. Calling Reset when the connection
// closes gives the buffers it borrowed back to the shared pools at once
// (otherwise the garbage collector takes them).
type Decoder struct {
	// MaxMessage limits a message's payload, all fragments counted and after
	// decompression: a bigger one fails with 1009. Zero or negative means
	// DefaultMaxMessage.
	MaxMessage int64
	// Deflate enables RSV1 (compressed) messages with the parameters
	// NegotiateDeflate returned; nil refuses them with 1002.
	Deflate *Deflate

	err error // sticky

	// The message being assembled (open is false between messages).
	open       bool
	op         Opcode
	compressed bool
	size       int64   // payload bytes of the message so far (as sent)
	msg        *[]byte // its payload, when not decoded straight from the input
	text       utf8State

	// The data frame whose payload is being consumed (inFrame).
	inFrame   bool
	fin       bool
	remaining int64
	mask      [4]byte
	maskPos   int

	out    *[]byte // decompressed payload lent to the last event
	window []byte  // the client's LZ77 window, for context takeover
}

// Reset drops the Decoder's state (an open message, the compression window,
// a sticky error) and gives its buffers back, so it can serve another
// connection. MaxMessage and Deflate are kept.
func (d *Decoder) Reset() {
	putBuf(d.msg)
	putBuf(d.out)
	*d = Decoder{MaxMessage: d.MaxMessage, Deflate: d.Deflate}
}

func (d *Decoder) limit() int64 {
	if d.MaxMessage <= 0 {
		return DefaultMaxMessage
	}
	return d.MaxMessage
}

// compressedLimit bounds a compressed message as sent: incompressible data
// grows a little when deflated (5 bytes per 64 KiB stored block).
func compressedLimit(limit int64) int64 {
	return limit + limit>>10 + 1024
}

// Next decodes the next event from in, the bytes the client sent that
// earlier calls did not consume. It returns the event (KindNone when in
// holds no whole event yet) and how many bytes of in it consumed; the caller
// drops those, keeps in[n:] and calls Next again with more bytes appended. n
// may be positive with KindNone: data frames (and the part of a large data
// frame's payload that has arrived) move into the Decoder's message buffer,
// so a message larger than the caller's buffer never has to fit in it (see
// MinBuffer). Call Next again after an event: in[n:] may hold more.
//
// Next unmasks payloads in place in in. The event's slices are valid until
// the next call to Next or Reset.
//
// A protocol violation returns a *CloseError (1002, 1007 or 1009) and every
// later call returns it again. The rules: client frames must be masked
// (1002); RSV bits must be zero, except RSV1 on the first frame of a message
// when Deflate is set (1002); reserved opcodes are refused (1002); control
// frames must not be fragmented nor longer than 125 bytes, so their length
// always takes the 7-bit form (1002), and may come between the fragments of
// a message; continuation frames need an open message and data frames must
// not start one while another is open (1002); a 64-bit length must not have
// its top bit set (1002); a message must not pass MaxMessage, checked from
// each frame header before its payload arrives and again after
// decompression (1009); text messages must be valid UTF-8, checked as
// fragments arrive (1007); a close payload must not be one byte long (1002),
// its code must be valid (IsValidCloseCode, else 1002) and its reason UTF-8
// (1007); compressed data must inflate (1007). Lengths not encoded in the
// fewest bytes are accepted (RFC 6455 asks senders for the minimal form but
// gives receivers no rule; gobwas accepts them too).
func (d *Decoder) Next(in []byte) (ev Event, n int, err error) {
	if d.err != nil {
		return Event{}, 0, d.err
	}
	if !d.open && d.msg != nil {
		putBuf(d.msg)
		d.msg = nil
	}
	if d.out != nil {
		putBuf(d.out)
		d.out = nil
	}
	for {
		if d.inFrame {
			// The payload of a data frame, as much as has arrived.
			k := int(min(int64(len(in)-n), d.remaining))
			chunk := in[n : n+k]
			gws.Cipher(chunk, d.mask, d.maskPos)
			d.maskPos = (d.maskPos + k) & 3
			if d.op == OpText && !d.compressed && !d.text.valid(chunk) {
				return d.fail(errTextUTF8)
			}
			if k > 0 {
				d.msg = growBuf(d.msg, k, int(d.size))
				*d.msg = append(*d.msg, chunk...)
			}
			n += k
			d.remaining -= int64(k)
			if d.remaining > 0 {
				return Event{}, n, nil
			}
			d.inFrame = false
			if !d.fin {
				continue
			}
			var p []byte
			if d.msg != nil {
				p = *d.msg
			}
			ev, err = d.finish(p, false)
			if err != nil {
				return d.fail(err)
			}
			return ev, n, nil
		}

		p := in[n:]
		if len(p) < 2 {
			return Event{}, n, nil
		}
		fin := p[0]&0x80 != 0
		rsv := p[0] & 0x70
		op := Opcode(p[0] & 0x0f)
		if p[1]&0x80 == 0 {
			return d.fail(errUnmasked)
		}
		switch op {
		case OpContinuation, OpText, OpBinary:
			switch {
			case rsv&0x30 != 0:
				return d.fail(errReservedBits)
			case rsv != 0 && (d.Deflate == nil || op == OpContinuation):
				return d.fail(errReservedBits)
			case op == OpContinuation && !d.open:
				return d.fail(errNoMessage)
			case op != OpContinuation && d.open:
				return d.fail(errMessageOpen)
			}
		case OpClose, OpPing, OpPong:
			switch {
			case rsv != 0:
				return d.fail(errReservedBits)
			case !fin:
				return d.fail(errFragmentedCtl)
			case p[1]&0x7f > MaxControlPayload:
				return d.fail(errControlTooLong)
			}
		default:
			return d.fail(errReservedOpcode)
		}

		hl := 2 + 4
		length := int64(p[1] & 0x7f)
		switch length {
		case 126:
			hl += 2
			if len(p) < hl {
				return Event{}, n, nil
			}
			length = int64(binary.BigEndian.Uint16(p[2:]))
		case 127:
			hl += 8
			if len(p) < hl {
				return Event{}, n, nil
			}
			u := binary.BigEndian.Uint64(p[2:])
			if u>>63 != 0 {
				return d.fail(errLength)
			}
			length = int64(u)
		}
		if len(p) < hl {
			return Event{}, n, nil
		}
		mask := [4]byte(p[hl-4 : hl])
		have := int64(len(p) - hl)

		if op.IsControl() {
			if have < length {
				return Event{}, n, nil
			}
			payload := p[hl : hl+int(length)]
			gws.Cipher(payload, mask, 0)
			n += hl + int(length)
			ev, err = control(op, payload)
			if err != nil {
				return d.fail(err)
			}
			return ev, n, nil
		}

		// A data frame: its size is checked before any payload arrives.
		size, compressed := d.size, d.compressed
		if op != OpContinuation {
			size, compressed = 0, rsv != 0
		}
		// (length > limit-size: the sum could overflow.)
		if compressed {
			if length > compressedLimit(d.limit())-size {
				return d.fail(errCompressedTooBig)
			}
		} else if length > d.limit()-size {
			return d.fail(errTooBig)
		}
		if have < length && int64(hl)+length <= MinBuffer {
			return Event{}, n, nil
		}
		if op != OpContinuation {
			d.open, d.op, d.compressed = true, op, compressed
			d.text.reset()
		}
		d.size = size + length

		if fin && op != OpContinuation && have >= length {
			// A whole message in one frame: decoded in place.
			payload := p[hl : hl+int(length)]
			gws.Cipher(payload, mask, 0)
			n += hl + int(length)
			ev, err = d.finish(payload, true)
			if err != nil {
				return d.fail(err)
			}
			return ev, n, nil
		}
		d.inFrame, d.fin, d.remaining, d.mask, d.maskPos = true, fin, length, mask, 0
		n += hl
	}
}

// fail makes err sticky. Each Decoder gets its own copy, so a caller may
// keep or change the error it got.
func (d *Decoder) fail(err error) (Event, int, error) {
	if ce, ok := err.(*CloseError); ok {
		c := *ce
		err = &c
	}
	d.err = err
	return Event{}, 0, err
}

// finish ends the open message, whose payload (as sent) is p: a whole frame
// decoded in place (not yet UTF-8 checked), or chunks checked as they came.
func (d *Decoder) finish(p []byte, inPlace bool) (Event, error) {
	d.open = false
	if d.compressed {
		var dict []byte
		if d.Deflate.clientTakeover {
			dict = d.window
		}
		out, err := inflate(p, dict, int(d.limit()))
		if err != nil {
			return Event{}, err
		}
		d.out = out
		p = *out
		if d.Deflate.clientTakeover {
			d.slide(p)
		}
		if d.op == OpText && !utf8.Valid(p) {
			return Event{}, errTextUTF8
		}
	} else if d.op == OpText {
		if inPlace && !utf8.Valid(p) || !inPlace && !d.text.complete() {
			return Event{}, errTextUTF8
		}
	}
	return Event{Kind: KindMessage, Opcode: d.op, Payload: p}, nil
}

// slide appends a decompressed message to the client's LZ77 window.
func (d *Decoder) slide(p []byte) {
	size := 1 << d.Deflate.windowBits
	if d.window == nil {
		d.window = make([]byte, 0, size)
	}
	if len(p) >= size {
		d.window = append(d.window[:0], p[len(p)-size:]...)
		return
	}
	if keep := size - len(p); len(d.window) > keep {
		d.window = d.window[:copy(d.window, d.window[len(d.window)-keep:])]
	}
	d.window = append(d.window, p...)
}

// control decodes a whole control frame with its unmasked payload.
func control(op Opcode, payload []byte) (Event, error) {
	switch op {
	case OpPing:
		return Event{Kind: KindPing, Opcode: op, Payload: payload}, nil
	case OpPong:
		return Event{Kind: KindPong, Opcode: op, Payload: payload}, nil
	}
	ev := Event{Kind: KindClose, Opcode: op, Payload: payload, CloseCode: CloseNoStatus}
	switch len(payload) {
	case 0:
		return ev, nil
	case 1:
		return Event{}, errClosePayload
	}
	ev.CloseCode = binary.BigEndian.Uint16(payload)
	ev.CloseReason = payload[2:]
	if !IsValidCloseCode(ev.CloseCode) {
		return Event{}, errCloseCode
	}
	if !utf8.Valid(ev.CloseReason) {
		return Event{}, errCloseReasonUTF8
	}
	return ev, nil
}
