package ws

import "unicode/utf8"

// utf8State validates a text message fragment by fragment: it carries the
// bytes of a sequence cut by a fragment (or chunk) boundary, and rejects a
// byte as soon as no valid text can contain it (fail fast, as Autobahn's
// section 6.4 expects), not at the end of the message.
type utf8State struct {
	buf [4]byte
	n   int
}

// seqLen is the length of the sequence a lead byte starts; 1 for bytes that
// cannot lead one (utf8.Valid then rejects them).
func seqLen(b byte) int {
	switch {
	case b < 0xc2:
		return 1
	case b < 0xe0:
		return 2
	case b < 0xf0:
		return 3
	case b < 0xf5:
		return 4
	}
	return 1
}

// validPrefix reports whether p, shorter than the sequence its first byte
// starts, can still become a valid sequence (the byte ranges of RFC 3629
// section 4, which exclude overlong forms, surrogates and values above
// U+10FFFF).
func validPrefix(p []byte) bool {
	if len(p) >= seqLen(p[0]) {
		return false
	}
	if len(p) >= 2 {
		lo, hi := byte(0x80), byte(0xbf)
		switch p[0] {
		case 0xe0:
			lo = 0xa0
		case 0xed:
			hi = 0x9f
		case 0xf0:
			lo = 0x90
		case 0xf4:
			hi = 0x8f
		}
		if p[1] < lo || p[1] > hi {
			return false
		}
	}
	return len(p) < 3 || p[2]&0xc0 == 0x80
}

// valid reports whether p continues valid text.
func (s *utf8State) valid(p []byte) bool {
	if s.n > 0 {
		need := seqLen(s.buf[0])
		k := copy(s.buf[s.n:need], p)
		s.n += k
		p = p[k:]
		if s.n < need {
			return validPrefix(s.buf[:s.n])
		}
		if !utf8.Valid(s.buf[:need]) {
			return false
		}
		s.n = 0
	}
	// An incomplete sequence at the end is checked as a prefix and kept.
	i := len(p)
	for j := len(p) - 1; j >= 0 && j >= len(p)-3; j-- {
		if b := p[j]; b&0xc0 != 0x80 {
			if len(p)-j < seqLen(b) {
				i = j
			}
			break
		}
	}
	if !utf8.Valid(p[:i]) {
		return false
	}
	if i < len(p) {
		if !validPrefix(p[i:]) {
			return false
		}
		s.n = copy(s.buf[:], p[i:])
	}
	return true
}

// complete reports whether no sequence is left open (at the end of a
// message).
func (s *utf8State) complete() bool { return s.n == 0 }

func (s *utf8State) reset() { s.n = 0 }
