package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/edge-rt/edge/http1"
)

// Character classes, indexed by byte. Read-only after package init.
var (
	tchar = http1.TokenChars()
	// vchar: the bytes of a field value or reason phrase: HTAB, SP,
	// VCHAR and obs-text.
	vchar = func() (t [256]bool) {
		t['\t'] = true
		for c := 0x20; c < 0x100; c++ {
			t[c] = c != 0x7f
		}
		return t
	}()
)

var (
	errHeadEnd   = errors.New("proxy: head does not end with an empty line")
	errHeadLine  = errors.New("proxy: head line does not end with CRLF")
	errFieldLine = errors.New("proxy: malformed header field line")
	errTrailing  = errors.New("proxy: bytes after the head")
)

// vcharSpan returns the length of the longest prefix of b made of vchar
// bytes. It tests 8 bytes at a time (the "has less than" and "has zero"
// tricks: a word is clean when no byte is below 0x20 or equal to 0x7f; a
// word with a tab is checked byte by byte).
func vcharSpan(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		y := x ^ 0x7f*ones
		if ((x-0x20*ones)&^x|(y-ones)&^y)&highs != 0 {
			break
		}
	}
	for i < len(b) && vchar[b[i]] {
		i++
	}
	return i
}

// lower returns c in lower case if it is an ASCII letter.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b equals s, ASCII case-insensitively; s must
// be in lower case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// equalFoldBytes reports whether a and b are equal, ASCII
// case-insensitively.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// trimOWS removes leading and trailing SP and HTAB.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// nextLine returns the line of h starting at i, without its CRLF, and the
// offset of the next line.
func nextLine(h []byte, i int) (line []byte, next int, err error) {
	j := bytes.IndexByte(h[i:], '\n')
	if j < 0 {
		return nil, 0, errHeadEnd
	}
	if j == 0 || h[i+j-1] != '\r' {
		return nil, 0, errHeadLine
	}
	return h[i : i+j-1], i + j + 1, nil
}

// nextField parses the header field line of h starting at i. It returns
// the field's name and value (trimmed), and the offset of the next line;
// name is nil at the empty line that ends the head.
func nextField(h []byte, i int) (name, value []byte, next int, err error) {
	line, next, err := nextLine(h, i)
	if err != nil {
		return nil, nil, 0, err
	}
	if len(line) == 0 {
		return nil, nil, next, nil
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return nil, nil, 0, errFieldLine
	}
	name = line[:colon]
	for _, c := range name {
		if !tchar[c] {
			return nil, nil, 0, errFieldLine
		}
	}
	value = trimOWS(line[colon+1:])
	if vcharSpan(value) != len(value) {
		return nil, nil, 0, errFieldLine
	}
	return name, value, next, nil
}

// fieldAt is nextField for a head that nextField has already checked: it
// validates nothing.
func fieldAt(h []byte, i int) (name, value []byte, next int) {
	j := bytes.IndexByte(h[i:], '\n')
	line := h[i : i+j-1]
	next = i + j + 1
	if len(line) == 0 {
		return nil, nil, next
	}
	colon := bytes.IndexByte(line, ':')
	return line[:colon], trimOWS(line[colon+1:]), next
}

// nextToken returns the next element of the comma-separated list l from
// offset i, trimmed and cut at its first ';' (parameters are dropped), and
// the offset to continue from. Empty elements are skipped; tok is nil when
// the list is exhausted.
func nextToken(l []byte, i int) (tok []byte, next int) {
	for i < len(l) {
		j := bytes.IndexByte(l[i:], ',')
		var el []byte
		if j < 0 {
			el, i = l[i:], len(l)
		} else {
			el, i = l[i:i+j], i+j+1
		}
		if k := bytes.IndexByte(el, ';'); k >= 0 {
			el = el[:k]
		}
		if el = trimOWS(el); len(el) > 0 {
			return el, i
		}
	}
	return nil, i
}

// hasToken reports whether the comma-separated list l holds tok (lower
// case), ASCII case-insensitively.
func hasToken(l []byte, tok string) bool {
	for t, i := nextToken(l, 0); t != nil; t, i = nextToken(l, i) {
		if equalFold(t, tok) {
			return true
		}
	}
	return false
}

// connNames records the values of the Connection fields of a head, as
// offsets into it, to tell which fields they name.
type connNames struct {
	n    int
	vals [maxConnFields][2]int32
	// odd: some option is not one of the usual ones (isUsualOption).
	odd bool
}

// maxConnFields is how many Connection fields a head may have.
const maxConnFields = 16

var errConnFields = errors.New("proxy: too many Connection header fields")

// add records value, a subslice of h starting at offset off.
func (c *connNames) add(h []byte, off, n int) error {
	if c.n == maxConnFields {
		return errConnFields
	}
	c.vals[c.n] = [2]int32{int32(off), int32(off + n)}
	c.n++
	if !c.odd {
		l := h[off : off+n]
		for t, i := nextToken(l, 0); t != nil; t, i = nextToken(l, i) {
			if !isUsualOption(t) {
				c.odd = true
				break
			}
		}
	}
	return nil
}

// isUsualOption reports whether t is close, keep-alive, te or upgrade.
func isUsualOption(t []byte) bool {
	switch len(t) {
	case 2:
		return equalFold(t, "te")
	case 5:
		return equalFold(t, "close")
	case 7:
		return equalFold(t, "upgrade")
	case 10:
		return equalFold(t, "keep-alive")
	}
	return false
}

// has reports whether some Connection field of h names name.
func (c *connNames) has(h, name []byte) bool {
	if !c.odd && !isUsualOption(name) {
		return false // fast path: the options cannot name this field
	}
	for k := range c.n {
		l := h[c.vals[k][0]:c.vals[k][1]]
		for t, i := nextToken(l, 0); t != nil; t, i = nextToken(l, i) {
			if equalFoldBytes(t, name) {
				return true
			}
		}
	}
	return false
}

// has reports whether some Connection field holds the token tok (lower case).
func (c *connNames) hasToken(h []byte, tok string) bool {
	for k := range c.n {
		if hasToken(h[c.vals[k][0]:c.vals[k][1]], tok) {
			return true
		}
	}
	return false
}

// offsetIn returns the offset of sub, a subslice of h, in h.
func offsetIn(h, sub []byte) int {
	return cap(h) - cap(sub)
}
