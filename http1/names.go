package http1

import "strings"

// ValidToken reports whether s is an RFC 9110 token (section 5.6.2): one
// or more of the letters, digits and !#$%&'*+-.^_`|~. Methods, header field
// names and transfer codings are tokens.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if ctype[s[i]]&cTchar == 0 {
			return false
		}
	}
	return true
}

// ValidHeaderName reports whether s can be a header field name: a token.
func ValidHeaderName(s string) bool { return ValidToken(s) }

// ValidHeaderValue reports whether s can be written as a header field value
// without splitting or ending the header line: it holds no CR, LF or NUL.
func ValidHeaderValue(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00")
}

// TokenChars returns a table, indexed by byte, of the bytes ValidToken
// accepts, for callers that scan byte by byte. Each call returns a copy.
func TokenChars() (t [256]bool) {
	for c := range t {
		t[c] = ctype[c]&cTchar != 0
	}
	return t
}

// ValidHostname reports whether s is a DNS host name: at most 253 bytes of
// dot-separated labels, each 1 to 63 letters (either case), digits, '-' or
// '_', neither starting nor ending with '-'. It takes no trailing dot, no
// port and no wildcard.
func ValidHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// StripPort returns host (a Host header value or a host pattern) without
// its ":port", if it has one. A bracketed IPv6 literal keeps its brackets:
// "[::1]:8443" gives "[::1]"; "example.com:80" gives "example.com".
func StripPort(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[:i+1]
		}
		return host
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		return host[:i]
	}
	return host
}
