package ws

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"testing"
)

const (
	fin  = 0x80
	rsv1 = 0x40
	rsv2 = 0x20
	rsv3 = 0x10
)

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// frame builds one masked client frame: b0 holds FIN, RSV and the opcode.
func frame(b0 byte, payload []byte) []byte {
	return frameLen(b0, payload, -1)
}

// frameLen is frame with the length encoded in the given width: 7, 16 or 64
// bits (-1: the fewest bytes).
func frameLen(b0 byte, payload []byte, width int) []byte {
	n := len(payload)
	if width < 0 {
		switch {
		case n <= 125:
			width = 7
		case n <= 0xffff:
			width = 16
		default:
			width = 64
		}
	}
	b := []byte{b0}
	switch width {
	case 7:
		b = append(b, 0x80|byte(n))
	case 16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, testMask[:]...)
	for i, c := range payload {
		b = append(b, c^testMask[i%4])
	}
	return b
}

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// rec is an event copied out of the decoder's buffers.
type rec struct {
	Kind    Kind
	Op      Opcode
	Payload string
	Code    uint16
	Reason  string
}

func (r rec) String() string {
	p := r.Payload
	if len(p) > 40 {
		p = fmt.Sprintf("%q...(%d bytes)", p[:40], len(p))
	} else {
		p = fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("{%v %v %s %d %q}", r.Kind, r.Op, p, r.Code, r.Reason)
}

func record(ev Event) rec {
	return rec{ev.Kind, ev.Opcode, string(ev.Payload), ev.CloseCode, string(ev.CloseReason)}
}

// feed runs d the way the engine does: a caller buffer of at most bufCap
// bytes, filled step bytes at a time from data; consumed bytes are dropped
// and the rest moved to the front. It returns the events and the error.
func feed(t testing.TB, d *Decoder, data []byte, step, bufCap int) ([]rec, error) {
	t.Helper()
	buf := make([]byte, 0, bufCap)
	var evs []rec
	for {
		k := min(step, len(data), bufCap-len(buf))
		buf = append(buf, data[:k]...)
		data = data[k:]
		progressed := k > 0
		for {
			ev, n, err := d.Next(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf(
					"Next consumed %d of %d bytes",
					n, len(buf))
			}
			if err != nil {
				return evs, err
			}
			if ev.Kind != KindNone {
				evs = append(evs, record(ev)) // before buf moves
			}
			buf = buf[:copy(buf, buf[n:])]
			if n > 0 {
				progressed = true
			}
			if ev.Kind == KindNone {
				if n != 0 {
					continue
				}
				break
			}
		}
		if len(data) == 0 {
			return evs, nil
		}
		if !progressed {
			t.Fatalf(
				"decoder stalled with %d bytes buffered (cap %d)",
				len(buf), bufCap)
		}
	}
}

// clientDeflater compresses messages as a client does (RFC 7692 section
// 7.2.1): with context takeover unless reset is set.
type clientDeflater struct {
	buf   bytes.Buffer
	fw    *flate.Writer
	reset bool
}

func newClientDeflater(t testing.TB, level int, takeover bool) *clientDeflater {
	c := &clientDeflater{reset: !takeover}
	var err error
	c.fw, err = flate.NewWriter(&c.buf, level)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *clientDeflater) compress(p []byte) []byte {
	c.buf.Reset()
	if c.reset {
		c.fw.Reset(&c.buf)
	}
	c.fw.Write(p)
	c.fw.Flush()
	out := bytes.Clone(c.buf.Bytes())
	return bytes.TrimSuffix(out, deflateTail)
}
