package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/http1"
)

// parseListen splits a listen value into network and address: "unix:/path"
// (relative to dir; "unix:@name" is an abstract socket) or host:port.
func parseListen(s, dir string) (network, address string, err error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		switch {
		case p == "":
			return "", "", fmt.Errorf("bad address %q: empty socket path", s)
		case p[0] != '@' && !filepath.IsAbs(p):
			p = filepath.Join(dir, p)
		}
		if len(p) > 107 { // sizeof(sockaddr_un.sun_path) - 1
			return "", "", fmt.Errorf("bad address %q: socket path longer than 107 bytes", s)
		}
		return "unix", p, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		hint := ""
		if _, err := strconv.Atoi(s); err == nil {
			hint = fmt.Sprintf(" (write \":%s\" for every address)", s)
		}
		return "", "", fmt.Errorf("bad address %q: want host:port, [ipv6]:port or unix:/path%s", s, hint)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || port[0] == '+' {
		return "", "", fmt.Errorf("bad address %q: port %q is not a number from 0 to 65535", s, port)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && !http1.ValidHostname(host) {
			return "", "", fmt.Errorf("bad address %q: bad host %q", s, host)
		}
	}
	return "tcp", s, nil
}

// addrKey is a listen address in a form where two listeners that cannot
// both have it compare equal, or "" for addresses that never conflict
// (port 0). With SO_REUSEPORT a second bind would succeed and split the
// connections, so duplicates are refused here.
func addrKey(network, address string) string {
	if network == "unix" {
		return "unix " + filepath.Clean(address)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return ""
	}
	p, _ := strconv.Atoi(port)
	if p == 0 {
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.IsUnspecified() {
			host = ""
		} else {
			host = a.String()
		}
	} else {
		host = strings.ToLower(host)
	}
	return "tcp " + net.JoinHostPort(host, strconv.Itoa(p))
}

// validHostPattern checks a route group's host: a name, "*." and a name, or
// an IP address, each with an optional port.
func validHostPattern(h string) bool {
	name := h
	if !strings.HasPrefix(h, "[") && strings.Count(h, ":") > 1 {
		return false // an IPv6 address needs brackets
	}
	if strings.HasPrefix(h, "[") {
		i := strings.IndexByte(h, ']')
		if i < 0 {
			return false
		}
		if _, err := netip.ParseAddr(h[1:i]); err != nil {
			return false
		}
		rest := h[i+1:]
		if rest == "" {
			return true
		}
		p, ok := strings.CutPrefix(rest, ":")
		return ok && validPort(p)
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if !validPort(h[i+1:]) {
			return false
		}
		name = h[:i]
	}
	name = strings.TrimPrefix(name, "*.")
	if _, err := netip.ParseAddr(name); err == nil && !strings.HasPrefix(h, "*.") {
		return true
	}
	return http1.ValidHostname(name)
}

func validPort(p string) bool {
	n, err := strconv.ParseUint(p, 10, 16)
	return err == nil && n > 0 && p[0] != '+'
}

// checkPath resolves p against the config's directory and checks that it
// is a directory (dir) or a regular file.
func (d *decoder) checkPath(f field, p string, dir bool) (string, bool) {
	if p == "" {
		d.errorf(f.val, f.path, "empty path")
		return "", false
	}
	full := p
	if !filepath.IsAbs(full) {
		full = filepath.Join(d.dir, full)
	}
	fi, err := os.Stat(full)
	switch {
	case err != nil:
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		d.errorf(f.val, f.path, "%s: %v", full, err)
		return "", false
	case dir && !fi.IsDir():
		d.errorf(f.val, f.path, "%s is not a directory", full)
		return "", false
	case !dir && !fi.Mode().IsRegular():
		d.errorf(f.val, f.path, "%s is not a regular file", full)
		return "", false
	}
	return full, true
}

// checkURLPath returns why p cannot be matched against a request path, or "".
func checkURLPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "must start with /"
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '?' || c == '#':
			return "the path of a request never holds ? or #"
		case c <= ' ' || c >= 0x7f:
			return "spaces, control and non-ASCII characters must be %-encoded"
		}
	}
	return ""
}

func checkPattern(p string) string {
	if msg := checkURLPath(p); msg != "" {
		return msg
	}
	return patternReason(edge.CompilePattern(p))
}

// patternReason is why CompilePattern or CompileRegexp refused an
// expression, without the package and the expression, or "".
func patternReason(_ edge.Matcher, err error) string {
	var pe *edge.PatternError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return pe.Reason
	}
	return err.Error()
}

// reservedHeaders are response headers edge writes itself.
var reservedHeaders = map[string]string{
	"content-length":    "edge sets it",
	"transfer-encoding": "edge sets it",
	"connection":        "edge sets it",
	"content-type":      "use type",
}

// checkOverlaps refuses listeners that cannot all bind, or that would share
// connections under SO_REUSEPORT: the same address twice (however written),
// the same Unix socket twice, and a wildcard address (":80", "0.0.0.0:80",
// "[::]:80") beside a specific one on the same port.
func (d *decoder) checkOverlaps(ls []*listenerConfig) {
	type seen struct {
		lc        *listenerConfig
		key, host string
		port      string
	}
	var prev []seen
	for _, lc := range ls {
		key := addrKey(lc.network, lc.address)
		if key == "" {
			continue
		}
		cur := seen{lc: lc, key: key}
		if lc.network == "tcp" {
			cur.host, cur.port, _ = net.SplitHostPort(strings.TrimPrefix(key, "tcp "))
		}
		for _, p := range prev {
			switch {
			case p.key == key:
				d.errors(d.errorAt(lc.at, "address %q already used by %s (line %d)", lc.address, strings.TrimSuffix(p.lc.at.path, ".listen"), p.lc.at.line))
			case cur.port != "" && cur.port == p.port && (cur.host == "" || p.host == ""):
				d.errors(d.errorAt(lc.at, "address %q overlaps %q of %s (line %d): a wildcard address takes the port on every address",
					lc.address, p.lc.address, strings.TrimSuffix(p.lc.at.path, ".listen"), p.lc.at.line))
			default:
				continue
			}
			break
		}
		prev = append(prev, cur)
	}
}
