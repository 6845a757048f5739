package backplane

import "strings"

// DefaultSubjectPrefix is the subject prefix when Config.SubjectPrefix is
// empty: tag "room:lobby" is subject "edge.tag.room:lobby".
const DefaultSubjectPrefix = "edge.tag."

// EncodeTag encodes tag t as one NATS subject token. ASCII letters,
// digits, '-', '_' and ':' stand for themselves; every other byte
// (including '.', '*', '>', '%', spaces and non-ASCII bytes) is '%'
// followed by two upper-case hex digits. The empty tag is "%" alone. So
// any byte string maps to a distinct, valid token, and the common tags
// ("room:lobby", "user_42") read as they are.
func EncodeTag(t string) string {
	if t == "" {
		return "%"
	}
	plain := true
	for i := 0; i < len(t); i++ {
		if !plainByte(t[i]) {
			plain = false
			break
		}
	}
	if plain {
		return t
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(t) + 8)
	for i := 0; i < len(t); i++ {
		c := t[i]
		if plainByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// DecodeTag reverses EncodeTag. It reports false for a token EncodeTag
// never produces (a byte that should have been escaped, a lower-case or
// truncated escape, an escaped plain byte).
func DecodeTag(tok string) (string, bool) {
	if tok == "%" {
		return "", true
	}
	if tok == "" {
		return "", false
	}
	if strings.IndexByte(tok, '%') < 0 {
		for i := 0; i < len(tok); i++ {
			if !plainByte(tok[i]) {
				return "", false
			}
		}
		return tok, true
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case plainByte(c):
			b = append(b, c)
		case c == '%' && i+2 < len(tok):
			hi, ok1 := unhex(tok[i+1])
			lo, ok2 := unhex(tok[i+2])
			v := hi<<4 | lo
			if !ok1 || !ok2 || plainByte(v) {
				return "", false
			}
			b = append(b, v)
			i += 2
		default:
			return "", false
		}
	}
	return string(b), true
}

func plainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == ':'
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
