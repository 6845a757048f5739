package ws

import (
	"bytes"
	"compress/flate"
	"io"
	"strconv"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
)

// DeflateConfig configures permessage-deflate (RFC 7692). The zero value
// disables it.
type DeflateConfig struct {
	// Enabled lets NegotiateDeflate accept a client's offer.
	Enabled bool
	// Level is the compress/flate level of outgoing messages: 0 means
	// flate.BestSpeed; 1-9, flate.DefaultCompression (-1) and
	// flate.HuffmanOnly (-2) are used as given; other values mean
	// flate.BestSpeed.
	Level int
	// Threshold is the smallest payload AppendMessage compresses: 0 means
	// 64 bytes; a negative value tries every message.
	Threshold int
	// ClientNoContextTakeover, when true, makes the response always carry
	// client_no_context_takeover (RFC 7692 section 7.1.1.1 lets a server ask
	// for it), so the Decoder keeps no sliding window between messages. When
	// false it is sent only when the client offered it, and a Decoder keeps
	// up to 32 KiB of window per connection that receives compressed
	// messages.
	ClientNoContextTakeover bool
	// ClientMaxWindowBits, 8-15, asks a client that offered
	// client_max_window_bits to use a window of 2^ClientMaxWindowBits bytes,
	// which shrinks the window a Decoder keeps (never below 512 bytes: zlib
	// uses 9 when asked for 8). 0 (or any other value) asks nothing: 15.
	ClientMaxWindowBits int
}

// Deflate holds the parameters NegotiateDeflate settled for one connection.
// It is immutable, and its methods are safe for concurrent use. A nil
// *Deflate means the extension is not in use.
//
// Outgoing messages always use server_no_context_takeover: every message is
// compressed on its own, so one compressed frame from AppendMessage can be
// written to many receivers that negotiated permessage-deflate.
type Deflate struct {
	level     int
	threshold int
	// clientTakeover is true when the client may reuse its window across
	// messages (client_no_context_takeover was not agreed).
	clientTakeover bool
	// windowBits is the client's window (9-15) a Decoder keeps for
	// takeover.
	windowBits int
}

// ClientContextTakeover reports whether the client may compress a message
// with references to earlier ones, in which case a Decoder keeps a window of
// up to 32 KiB between messages.
func (d *Deflate) ClientContextTakeover() bool { return d != nil && d.clientTakeover }

// NegotiateDeflate picks the first permessage-deflate offer in a
// Sec-WebSocket-Extensions value (RFC 7692 section 5) that edge can honour,
// and returns its parameters with the whole response header line, e.g.
// "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n".
// It returns nil, "" when cfg is disabled or no offer fits.
//
// An offer is declined when its parameters are unknown, duplicated or
// invalid, or when it asks for server_max_window_bits below 15
// (compress/flate always uses a 32 KiB window). The response always carries
// server_no_context_takeover; client_no_context_takeover when the client
// offered it or cfg.ClientNoContextTakeover is set; server_max_window_bits=15
// when the client offered it; client_max_window_bits when the client offered
// it and cfg.ClientMaxWindowBits asks for a smaller window.
func NegotiateDeflate(extensions []byte, cfg DeflateConfig) (*Deflate, string) {
	if !cfg.Enabled || len(extensions) == 0 {
		return nil, ""
	}
	var (
		d       *Deflate
		resp    string
		index   = -1
		current httphead.Option
	)
	try := func() bool {
		if current.Name == nil {
			return false
		}
		d, resp = negotiateOffer(current, cfg)
		current = httphead.Option{}
		return d != nil
	}
	// Other extensions' parameters are ignored rather than skipped with
	// httphead.ControlSkip, which also skips the next option when called at
	// the comma that ends the current one.
	ok := httphead.ScanOptions(extensions, func(i int, name, attr, val []byte) httphead.Control {
		if i != index {
			if try() {
				return httphead.ControlBreak
			}
			index = i
			if equalFold(name, wsflate.ExtensionName) {
				current.Name = name
			}
		}
		if attr != nil && current.Name != nil {
			current.Parameters.Set(attr, val)
		}
		return httphead.ControlContinue
	})
	if d == nil && ok {
		try()
	}
	if d == nil || !ok {
		return nil, ""
	}
	return d, resp
}

// negotiateOffer answers one permessage-deflate offer.
func negotiateOffer(offer httphead.Option, cfg DeflateConfig) (*Deflate, string) {
	var p wsflate.Parameters
	if p.Parse(offer) != nil {
		return nil, ""
	}
	if p.ServerMaxWindowBits.Defined() && p.ServerMaxWindowBits != 15 {
		return nil, ""
	}
	d := &Deflate{
		level:          cfg.Level,
		threshold:      cfg.Threshold,
		clientTakeover: !(p.ClientNoContextTakeover || cfg.ClientNoContextTakeover),
		windowBits:     15,
	}
	if d.level == 0 || d.level < flate.HuffmanOnly || d.level > flate.BestCompression {
		d.level = flate.BestSpeed
	}
	switch {
	case d.threshold == 0:
		d.threshold = 64
	case d.threshold < 0:
		d.threshold = 0
	}
	resp := "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"
	if !d.clientTakeover {
		resp += "; client_no_context_takeover"
	}
	if p.ServerMaxWindowBits.Defined() {
		resp += "; server_max_window_bits=15"
	}
	// The offer's client_max_window_bits is 1 without a value, else 8-15.
	if offered := int(p.ClientMaxWindowBits); offered != 0 {
		if offered == 1 {
			offered = 15
		}
		if want := cfg.ClientMaxWindowBits; want >= 8 && want < offered {
			resp += "; client_max_window_bits=" + strconv.Itoa(want)
			d.windowBits = max(want, 9)
		}
	}
	return d, resp + "\r\n"
}

// Flate writers cost hundreds of KiB each, so they are shared through pools
// (one per level, -2 to 9).
var compressors [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool

// compressor is a pooled flate writer with the sink it appends to.
type compressor struct {
	fw  *flate.Writer
	out appendWriter
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// deflateTail ends every flushed deflate stream; RFC 7692 section 7.2.1
// removes it from the message and the receiver adds it back.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// AppendMessage appends message payload as one frame: compressed with RSV1
// when d is not nil, op is OpText or OpBinary, len(payload) reaches the
// threshold and compression makes it smaller; a plain frame (AppendFrame)
// otherwise. Each message is compressed on its own (no context takeover), so
// the bytes can be shared by every receiver that negotiated
// permessage-deflate, whatever its other parameters.
func (d *Deflate) AppendMessage(dst []byte, op Opcode, payload []byte) []byte {
	if d == nil || len(payload) < d.threshold || (op != OpText && op != OpBinary) {
		return AppendFrame(dst, op, payload)
	}
	const room = 10 // the largest unmasked header
	start := len(dst)
	dst = append(dst, make([]byte, room)...) // no allocation when dst has room

	pool := &compressors[d.level-flate.HuffmanOnly]
	c, _ := pool.Get().(*compressor)
	if c == nil {
		c = new(compressor)
		c.fw, _ = flate.NewWriter(&c.out, d.level) // the level is valid
	}
	c.out.b = dst
	c.fw.Reset(&c.out)
	c.fw.Write(payload)
	c.fw.Flush()
	dst = c.out.b
	c.out.b = nil
	pool.Put(c)

	body := dst[start+room:]
	if !bytes.HasSuffix(body, deflateTail) || len(body)-len(deflateTail) >= len(payload) {
		return AppendFrame(dst[:start], op, payload)
	}
	n := len(body) - len(deflateTail)
	var hb [room]byte
	h := AppendFrameHeader(hb[:0], op, true, true, n)
	copy(dst[start+len(h):], body[:n]) // copy moves overlapping bytes correctly
	copy(dst[start:], h)
	return dst[:start+len(h)+n]
}

// inflater is a pooled flate reader with the source it reads: a message and
// the tail RFC 7692 removed, followed by an empty final stored block so a
// whole message ends in io.EOF.
type inflater struct {
	fr  io.ReadCloser
	src tailReader
}

var inflaters sync.Pool

const inflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

type tailReader struct {
	p    []byte
	tail int // bytes of inflateTail read
}

func (r *tailReader) Read(b []byte) (int, error) {
	if len(r.p) > 0 {
		n := copy(b, r.p)
		r.p = r.p[n:]
		return n, nil
	}
	if r.tail == len(inflateTail) {
		return 0, io.EOF
	}
	n := copy(b, inflateTail[r.tail:])
	r.tail += n
	return n, nil
}

func (r *tailReader) ReadByte() (byte, error) {
	if len(r.p) > 0 {
		c := r.p[0]
		r.p = r.p[1:]
		return c, nil
	}
	if r.tail == len(inflateTail) {
		return 0, io.EOF
	}
	c := inflateTail[r.tail]
	r.tail++
	return c, nil
}

var (
	errInflate     = &CloseError{Code: CloseInvalidPayload, Reason: "invalid compressed data"}
	errInflateSize = &CloseError{Code: CloseTooBig, Reason: "decompressed message too big"}
)

// inflate decompresses one message p (without its RFC 7692 tail) into a
// pooled buffer, starting from dict, and fails once the output would pass
// limit bytes.
func inflate(p, dict []byte, limit int) (*[]byte, error) {
	f, _ := inflaters.Get().(*inflater)
	if f == nil {
		f = new(inflater)
		f.fr = flate.NewReader(&f.src)
	}
	f.src = tailReader{p: p}
	f.fr.(flate.Resetter).Reset(&f.src, dict)
	defer func() {
		f.src = tailReader{}
		inflaters.Put(f)
	}()

	out := getBuf(min(max(4*len(p), 512), limit+1))
	for {
		b := *out
		if len(b) == cap(b) {
			if len(b) > limit {
				putBuf(out)
				return nil, errInflateSize
			}
			out = growBuf(out, 1, limit+1)
			b = *out
		}
		end := min(cap(b), limit+1)
		n, err := f.fr.Read(b[len(b):end])
		*out = b[:len(b)+n]
		if len(*out) > limit {
			putBuf(out)
			return nil, errInflateSize
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			putBuf(out)
			return nil, errInflate
		}
	}
}
