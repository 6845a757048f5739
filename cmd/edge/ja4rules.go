package main

// A TLS listener's JA4 allow/deny lists:
//
//	listeners:
//	  - listen: ":443"
//	    tls: true
//	    ja4:
//	      deny: [t13d1516h2_8daaf6152771_*]   # refused: a TLS close before any request
//	      allow: []                           # if not empty: only these are served
//
// Entries are JA4 fingerprints, where * stands for any run of characters
// and ? for one (path.Match), so that a part (JA4_a, or JA4_a and JA4_b)
// can be named. Deny wins over allow. A client whose ClientHello could not
// be read has no fingerprint: refused when there is an allow list. The
// lists turn fingerprinting on for the listener; they are read at start
// (a reload keeps them).

import (
	"path"
	"strings"
)

// ja4Rules are one listener's lists.
type ja4Rules struct {
	allow, deny []string
}

// listenerJA4 decodes a listener's ja4: mapping.
func (d *decoder) listenerJA4(f field, lc *listenerConfig) {
	fs, ok := d.mapping(f.val, f.path, "allow", "deny")
	if !ok {
		return
	}
	r := &ja4Rules{}
	for _, k := range fs {
		items, ok := d.sequence(k)
		if !ok {
			continue
		}
		for i, n := range items {
			p := index(k.path, i)
			s, ok := d.str(n, p)
			if !ok {
				continue
			}
			if !validJA4Pattern(s) {
				d.errorf(n, p, "bad JA4 pattern %q: want a fingerprint like t13d1516h2_8daaf6152771_e5627efa2ab1, * and ? allowed", s)
				continue
			}
			if k.name == "allow" {
				r.allow = append(r.allow, s)
			} else {
				r.deny = append(r.deny, s)
			}
		}
	}
	if !lc.tls {
		d.errorf(f.val, f.path, "ja4 is for tls listeners")
	}
	lc.ja4 = r
}

// validJA4Pattern reports whether s is a JA4 fingerprint or pattern: the
// characters of one (lower-case letters, digits, _) and * ?, a valid
// path.Match pattern, at most 64 bytes.
func validJA4Pattern(s string) bool {
	if s == "" || len(s) > 64 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789_*?") != "" {
		return false
	}
	_, err := path.Match(s, "")
	return err == nil
}

// allowFunc is the engine's TLSConfig.AllowJA4 for r (nil: no rules).
func (r *ja4Rules) allowFunc() func(string) bool {
	if r == nil || len(r.allow) == 0 && len(r.deny) == 0 {
		return nil
	}
	match := func(list []string, fp string) bool {
		for _, p := range list {
			if ok, _ := path.Match(p, fp); ok {
				return true
			}
		}
		return false
	}
	return func(fp string) bool {
		if fp != "" && match(r.deny, fp) {
			return false
		}
		if len(r.allow) > 0 {
			return fp != "" && match(r.allow, fp)
		}
		return true
	}
}
