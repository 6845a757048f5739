// Command handshake measures how many full TLS 1.3 handshakes per second a
// server completes: every connection is new, offers no session to resume,
// sends one HTTP/1.1 GET with "Connection: close", reads the whole response
// and the server's close.
//
// Typical usage:
//
//	go run ./handshake -addr 127.0.0.1:18444 -c 32 -d 10s
//	go run ./handshake -addr 127.0.0.1:18444 -check 3
//
// # Why a TLS client of its own
//
// A standard TLS client (crypto/tls, OpenSSL as in wrk or openssl s_time)
// spends more CPU on a full handshake than the server does: it generates an
// ephemeral key share and computes the shared secret (two X25519 scalar
// multiplications, like the server), parses the certificate and verifies
// the CertificateVerify signature (an ECDSA P-256 verification, about three
// times the server's signature). With one CPU for the client and one for
// the server, the client would be the bottleneck and both servers would
// look alike. This client does only what it must to complete the
// handshake: it offers one X25519 key share that it reuses on every
// connection (made once at start; -fresh-key makes one per connection),
// computes the shared secret (one scalar multiplication), runs the TLS 1.3
// key schedule, checks the server's Finished MAC (which proves that the
// server did the key exchange), and sends its own Finished. It does not
// parse the certificate nor verify the CertificateVerify signature. The
// server cannot tell the difference: it does a full handshake (key share,
// shared secret, signature) on every connection.
//
// The ClientHello offers TLS 1.3 only, the TLS_AES_128_GCM_SHA256 suite,
// the X25519 group only (so that servers preferring X25519MLKEM768 cannot
// pick it), signature algorithms ecdsa_secp256r1_sha256,
// rsa_pss_rsae_sha256, rsa_pkcs1_sha256, psk_key_exchange_modes psk_dhe_ke
// (as browsers do, so a server that issues session tickets does so and is
// counted), a 32-byte legacy session ID (middlebox compatibility mode, as
// browsers do: the client sends a ChangeCipherSpec before its Finished), the
// server name -sni, and no pre_shared_key: a handshake can never resume.
// A HelloRetryRequest is an error. Session tickets the server sends are
// counted and discarded.
//
// It prints one line of key=value pairs:
//
//	handshake ok=N errors=E elapsed_s=S hs_per_s=R p50_ms=.. p99_ms=.. group=X25519 suite=TLS_AES_128_GCM_SHA256 tickets=T ...
//
// with the client's own CPU time (getrusage) so that a load generator that
// is itself saturated shows up (client_cpu_pct near 100).
//
// With -check N it instead makes N sequential connections with crypto/tls
// (a standard client with a session cache, offering the groups of -curves)
// and prints, for each, the version, suite, group, whether it resumed and
// how many session tickets the server has sent so far: it shows what a
// standard client negotiates and that the server refuses resumption.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	addr        string
	sni         string
	host        string
	path        string
	body        string
	conns       int
	dur         time.Duration
	max         int
	sources     []netip.Addr
	freshKey    bool
	ioTimeout   time.Duration
	dialTimeout time.Duration
	timeout     time.Duration
	check       int
	curves      []tls.CurveID
	cpuProfile  string
}

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "handshake:", err)
		os.Exit(2)
	}
	time.AfterFunc(o.timeout+30*time.Second, func() {
		fmt.Fprintln(os.Stderr, "handshake: watchdog: run exceeded -timeout by 30s")
		os.Exit(3)
	})
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "handshake:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	if o.check > 0 {
		err = check(o)
	} else {
		err = load(o)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "handshake:", err)
		os.Exit(1)
	}
}

func parseFlags() (*options, error) {
	o := &options{}
	var sources, curves string
	flag.StringVar(&o.addr, "addr", "127.0.0.1:18444", "server `host:port` (a loopback IP literal)")
	flag.StringVar(&o.sni, "sni", "localhost", "server name (SNI) to send")
	flag.StringVar(&o.host, "host", "", "Host header (default: -sni)")
	flag.StringVar(&o.path, "path", "/", "request path")
	flag.StringVar(&o.body, "body", "Hello, World!", "expected response body (\"\": any)")
	flag.IntVar(&o.conns, "c", 32, "connections in flight at once")
	flag.DurationVar(&o.dur, "d", 10*time.Second, "start new connections for this long (those in flight then finish)")
	flag.IntVar(&o.max, "n", 0, "stop after this many handshakes (0: no limit)")
	flag.StringVar(&sources, "sources", "127.0.0.1-127.0.0.20", "source addresses: `list` of IPs or ranges A-B in 127.0.0.0/8, used round-robin")
	flag.BoolVar(&o.freshKey, "fresh-key", false, "generate a new X25519 key share for every connection")
	flag.DurationVar(&o.dialTimeout, "dial-timeout", 5*time.Second, "timeout of one dial")
	flag.DurationVar(&o.ioTimeout, "io-timeout", 10*time.Second, "timeout of one connection after its dial")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "timeout of the whole run")
	flag.IntVar(&o.check, "check", 0, "make this many sequential crypto/tls connections and print what they negotiated, instead of the load")
	flag.StringVar(&curves, "curves", "X25519", "with -check: groups the client offers, comma-separated (X25519, X25519MLKEM768, P256, ...), or \"default\"")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write the client's CPU profile to this `file`")
	flag.Parse()
	if flag.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	ap, err := netip.ParseAddrPort(o.addr)
	if err != nil {
		return nil, fmt.Errorf("-addr: %v", err)
	}
	if !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("-addr %s is not a loopback address", o.addr)
	}
	if o.sni == "" || len(o.sni) > 255 {
		return nil, errors.New("-sni must be a name of 1 to 255 bytes")
	}
	if o.host == "" {
		o.host = o.sni
	}
	if !strings.HasPrefix(o.path, "/") || strings.ContainsAny(o.path, " \r\n") {
		return nil, fmt.Errorf("-path %q must start with / and contain no spaces", o.path)
	}
	if o.conns <= 0 || o.conns > 10000 {
		return nil, errors.New("-c must be in 1..10000")
	}
	if o.dur <= 0 && o.max <= 0 && o.check <= 0 {
		return nil, errors.New("give -d or -n")
	}
	if o.sources, err = parseSources(sources, ap.Addr().Is4()); err != nil {
		return nil, fmt.Errorf("-sources: %v", err)
	}
	if curves != "default" {
		for name := range strings.SplitSeq(curves, ",") {
			id, ok := curveByName[strings.ToUpper(strings.TrimSpace(name))]
			if !ok {
				return nil, fmt.Errorf("-curves: unknown group %q", name)
			}
			o.curves = append(o.curves, id)
		}
	}
	return o, nil
}

var curveByName = map[string]tls.CurveID{
	"X25519": tls.X25519, "X25519MLKEM768": tls.X25519MLKEM768,
	"P256": tls.CurveP256, "P-256": tls.CurveP256, "P384": tls.CurveP384, "P-384": tls.CurveP384,
	"P521": tls.CurveP521, "P-521": tls.CurveP521,
}

// parseSources parses "127.0.0.1-127.0.0.20,127.0.1.1": IPs and inclusive
// ranges, at most 1024 addresses, all loopback (as bench/idle does).
func parseSources(s string, v4 bool) ([]netip.Addr, error) {
	var out []netip.Addr
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = netip.ParseAddr(hi); err != nil {
				return nil, err
			}
		}
		if b.Less(a) {
			return nil, fmt.Errorf("empty range %q", f)
		}
		for x := a; ; x = x.Next() {
			if !x.IsLoopback() || x.Is4() != v4 {
				return nil, fmt.Errorf("%s is not a loopback address of the family of -addr", x)
			}
			out = append(out, x)
			if len(out) > 1024 {
				return nil, errors.New("more than 1024 source addresses")
			}
			if x == b {
				break
			}
		}
	}
	return out, nil
}

// --- TLS 1.3 constants ------------------------------------------------------

const (
	recChangeCipherSpec = 20
	recAlert            = 21
	recHandshake        = 22
	recApplicationData  = 23

	hsServerHello         = 2
	hsNewSessionTicket    = 4
	hsEncryptedExtensions = 8
	hsCertificate         = 11
	hsCertificateRequest  = 13
	hsCertificateVerify   = 15
	hsFinished            = 20
	hsKeyUpdate           = 24

	suiteAES128GCMSHA256 = 0x1301
	groupX25519          = 0x001d
	version13            = 0x0304

	maxCiphertext = 16384 + 256
)

// helloRetryRandom is the ServerHello.random of a HelloRetryRequest.
var helloRetryRandom = []byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

var alertNames = map[byte]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
	42: "bad_certificate", 47: "illegal_parameter", 50: "decode_error", 51: "decrypt_error",
	70: "protocol_version", 71: "insufficient_security", 80: "internal_error", 109: "missing_extension",
	110: "unsupported_extension", 112: "unrecognized_name", 116: "certificate_required", 120: "no_application_protocol",
}

// --- key schedule (RFC 8446, Section 7.1), SHA-256 --------------------------

func expandLabel(secret []byte, label string, context []byte, length int) []byte {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full)+len(context))
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	out, err := hkdf.Expand(sha256.New, secret, string(info), length)
	if err != nil {
		panic(err)
	}
	return out
}

func extract(ikm, salt []byte) []byte {
	out, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		panic(err)
	}
	return out
}

var (
	zeros32       = make([]byte, 32)
	emptyHash     = func() []byte { h := sha256.Sum256(nil); return h[:] }()
	derivedEarly  = expandLabel(extract(zeros32, zeros32), "derived", emptyHash, 32)
	errNotTLS13   = errors.New("server did not negotiate TLS 1.3")
	errHRR        = errors.New("server sent a HelloRetryRequest (it wants another group than X25519)")
	errBadFinMAC  = errors.New("server Finished MAC does not verify")
	errShortRead  = errors.New("connection closed before the response was complete")
	errUnexpected = errors.New("unexpected handshake message")
)

// halfConn is one direction's record protection.
type halfConn struct {
	aead cipher.AEAD
	iv   [12]byte
	seq  uint64
}

func newHalfConn(secret []byte) *halfConn {
	block, err := aes.NewCipher(expandLabel(secret, "key", nil, 16))
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	h := &halfConn{aead: aead}
	copy(h.iv[:], expandLabel(secret, "iv", nil, 12))
	return h
}

func (h *halfConn) nonce() []byte {
	n := h.iv
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], h.seq)
	for i := range 8 {
		n[4+i] ^= s[i]
	}
	h.seq++
	return n[:]
}

// seal appends one protected record carrying data of inner type typ.
func (h *halfConn) seal(dst []byte, typ byte, data []byte) []byte {
	n := len(data) + 1 + h.aead.Overhead()
	hdr := []byte{recApplicationData, 3, 3, byte(n >> 8), byte(n)}
	dst = append(dst, hdr...)
	plain := append(slices.Clip(data), typ)
	return h.aead.Seal(dst, h.nonce(), plain, hdr)
}

// open decrypts a protected record in place and returns its inner type and content.
func (h *halfConn) open(hdr, payload []byte) (byte, []byte, error) {
	plain, err := h.aead.Open(payload[:0], h.nonce(), payload, hdr)
	if err != nil {
		return 0, nil, errors.New("record does not decrypt")
	}
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, errors.New("protected record without content type")
	}
	return plain[i], plain[:i], nil
}

// --- the client -------------------------------------------------------------

type client struct {
	o    *options
	key  *ecdh.PrivateKey // reused unless -fresh-key
	req  []byte
	dial net.Dialer
	nsrc atomic.Uint64
}

// stats of one worker, merged at the end.
type stats struct {
	ok, tickets, ccs int64
	lat              []time.Duration
	errs             map[string]int
	example          map[string]string
}

func (s *stats) fail(err error) {
	if s.errs == nil {
		s.errs, s.example = map[string]int{}, map[string]string{}
	}
	msg := err.Error()
	kind := msg
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		kind = msg[i+2:]
	}
	if s.errs[kind] == 0 {
		s.example[kind] = msg
	}
	s.errs[kind]++
}

// conn is one connection's state; its buffers are reused by the worker.
type conn struct {
	c      net.Conn
	br     *bufio.Reader
	hdr    [5]byte
	rec    []byte
	hs     []byte // handshake bytes received, not yet consumed
	out    []byte
	resp   []byte
	rnd    *mrand.ChaCha8
	ticket int64
	ccs    int64
}

// readRecord returns the next record's type and payload (valid until the next call).
func (cn *conn) readRecord() (byte, []byte, error) {
	if _, err := io.ReadFull(cn.br, cn.hdr[:]); err != nil {
		if err == io.EOF {
			return 0, nil, io.EOF
		}
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint16(cn.hdr[3:5]))
	if n > maxCiphertext {
		return 0, nil, fmt.Errorf("record of %d bytes", n)
	}
	if cap(cn.rec) < n {
		cn.rec = make([]byte, n, maxCiphertext)
	}
	cn.rec = cn.rec[:n]
	if _, err := io.ReadFull(cn.br, cn.rec); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return cn.hdr[0], cn.rec, nil
}

// nextMessage returns the next complete handshake message in cn.hs, if any.
func (cn *conn) nextMessage() ([]byte, bool) {
	if len(cn.hs) < 4 {
		return nil, false
	}
	n := 4 + (int(cn.hs[1])<<16 | int(cn.hs[2])<<8 | int(cn.hs[3]))
	if len(cn.hs) < n {
		return nil, false
	}
	m := cn.hs[:n:n]
	cn.hs = cn.hs[n:]
	return m, true
}

func alertError(p []byte) error {
	if len(p) != 2 {
		return errors.New("malformed alert")
	}
	name := alertNames[p[1]]
	if name == "" {
		name = strconv.Itoa(int(p[1]))
	}
	return fmt.Errorf("alert: %s", name)
}

func (cl *client) clientHello(cn *conn, pub []byte) []byte {
	var random, sid [32]byte
	cn.rnd.Read(random[:])
	cn.rnd.Read(sid[:])
	name := cl.o.sni
	var ext []byte
	// server_name
	ext = binary.BigEndian.AppendUint16(ext, 0)
	ext = binary.BigEndian.AppendUint16(ext, uint16(len(name)+5))
	ext = binary.BigEndian.AppendUint16(ext, uint16(len(name)+3))
	ext = append(ext, 0)
	ext = binary.BigEndian.AppendUint16(ext, uint16(len(name)))
	ext = append(ext, name...)
	// supported_groups: x25519
	ext = append(ext, 0, 10, 0, 4, 0, 2, 0, 0x1d)
	// signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
	ext = append(ext, 0, 13, 0, 8, 0, 6, 4, 3, 8, 4, 4, 1)
	// supported_versions: TLS 1.3
	ext = append(ext, 0, 43, 0, 3, 2, 3, 4)
	// psk_key_exchange_modes: psk_dhe_ke
	ext = append(ext, 0, 45, 0, 2, 1, 1)
	// key_share: x25519
	ext = append(ext, 0, 51, 0, 38, 0, 36, 0, 0x1d, 0, 32)
	ext = append(ext, pub...)

	body := make([]byte, 0, 128+len(ext))
	body = append(body, 3, 3)
	body = append(body, random[:]...)
	body = append(body, 32)
	body = append(body, sid[:]...)
	body = append(body, 0, 2, 0x13, 0x01) // TLS_AES_128_GCM_SHA256
	body = append(body, 1, 0)             // null compression
	body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
	body = append(body, ext...)
	msg := []byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	return append(msg, body...)
}

// parseServerHello returns the server's X25519 key share.
func parseServerHello(m []byte) ([]byte, error) {
	b := m[4:]
	if len(b) < 2+32+1 {
		return nil, errors.New("short ServerHello")
	}
	if bytes.Equal(b[2:34], helloRetryRandom) {
		return nil, errHRR
	}
	b = b[34:]
	sidLen := int(b[0])
	if len(b) < 1+sidLen+3+2 {
		return nil, errors.New("short ServerHello")
	}
	b = b[1+sidLen:]
	if suite := binary.BigEndian.Uint16(b); suite != suiteAES128GCMSHA256 {
		return nil, fmt.Errorf("server chose cipher suite %#04x", suite)
	}
	b = b[3:]
	extLen := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) != extLen {
		return nil, errors.New("ServerHello extensions length mismatch")
	}
	var share []byte
	v13 := false
	for len(b) >= 4 {
		typ, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+n {
			return nil, errors.New("malformed ServerHello extension")
		}
		d := b[4 : 4+n]
		switch typ {
		case 43:
			v13 = n == 2 && binary.BigEndian.Uint16(d) == version13
		case 51:
			if n != 36 || binary.BigEndian.Uint16(d) != groupX25519 || binary.BigEndian.Uint16(d[2:]) != 32 {
				return nil, errors.New("server key share is not X25519")
			}
			share = d[4:36]
		}
		b = b[4+n:]
	}
	if !v13 {
		return nil, errNotTLS13
	}
	if share == nil {
		return nil, errors.New("ServerHello without key share")
	}
	return share, nil
}

// once makes one connection: full handshake, one request, the response, the
// server's close.
func (cl *client) once(ctx context.Context, cn *conn) error {
	o := cl.o
	src := o.sources[cl.nsrc.Add(1)%uint64(len(o.sources))]
	d := cl.dial
	d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	c, err := d.DialContext(ctx, "tcp", o.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(o.ioTimeout)); err != nil {
		return err
	}
	cn.c = c
	cn.br.Reset(c)
	cn.hs = cn.hs[:0]
	cn.resp = cn.resp[:0]

	key := cl.key
	if o.freshKey {
		if key, err = ecdh.X25519().GenerateKey(rand.Reader); err != nil {
			return err
		}
	}
	th := sha256.New()
	ch := cl.clientHello(cn, key.PublicKey().Bytes())
	th.Write(ch)
	cn.out = append(cn.out[:0], recHandshake, 3, 1, byte(len(ch)>>8), byte(len(ch)))
	cn.out = append(cn.out, ch...)
	if _, err := c.Write(cn.out); err != nil {
		return err
	}

	// ServerHello, in the clear.
	var sh []byte
	for sh == nil {
		typ, p, err := cn.readRecord()
		if err != nil {
			return fmt.Errorf("reading ServerHello: %w", err)
		}
		switch typ {
		case recHandshake:
			cn.hs = append(cn.hs, p...)
			if m, ok := cn.nextMessage(); ok {
				if m[0] != hsServerHello {
					return errUnexpected
				}
				if len(cn.hs) != 0 {
					return errors.New("data after ServerHello in its record")
				}
				sh = slices.Clone(m)
			}
		case recAlert:
			return alertError(p)
		default:
			return fmt.Errorf("record type %d before ServerHello", typ)
		}
	}
	share, err := parseServerHello(sh)
	if err != nil {
		return err
	}
	th.Write(sh)
	peer, err := ecdh.X25519().NewPublicKey(share)
	if err != nil {
		return err
	}
	shared, err := key.ECDH(peer)
	if err != nil {
		return err
	}
	hsSecret := extract(shared, derivedEarly)
	h1 := th.Sum(nil)
	cHS := expandLabel(hsSecret, "c hs traffic", h1, 32)
	sHS := expandLabel(hsSecret, "s hs traffic", h1, 32)
	in := newHalfConn(sHS)

	// EncryptedExtensions, Certificate, CertificateVerify, Finished.
	done := false
	for !done {
		typ, p, err := cn.readRecord()
		if err != nil {
			return fmt.Errorf("reading the server's flight: %w", err)
		}
		switch typ {
		case recChangeCipherSpec:
			cn.ccs++
			continue
		case recAlert:
			return alertError(p)
		case recApplicationData:
		default:
			return fmt.Errorf("record type %d in the server's flight", typ)
		}
		inner, data, err := in.open(cn.hdr[:], p)
		if err != nil {
			return err
		}
		if inner == recAlert {
			return alertError(data)
		}
		if inner != recHandshake {
			return fmt.Errorf("inner type %d in the server's flight", inner)
		}
		cn.hs = append(cn.hs, data...)
		for !done {
			m, ok := cn.nextMessage()
			if !ok {
				break
			}
			switch m[0] {
			case hsEncryptedExtensions, hsCertificate, hsCertificateVerify:
				th.Write(m)
			case hsFinished:
				mac := hmac.New(sha256.New, expandLabel(sHS, "finished", nil, 32))
				mac.Write(th.Sum(nil))
				if !hmac.Equal(mac.Sum(nil), m[4:]) {
					return errBadFinMAC
				}
				th.Write(m)
				done = true
			case hsCertificateRequest:
				return errors.New("server asked for a client certificate")
			default:
				return fmt.Errorf("%w %d in the server's flight", errUnexpected, m[0])
			}
		}
	}
	if len(cn.hs) != 0 {
		return errors.New("handshake data after the server's Finished")
	}
	h2 := th.Sum(nil)
	master := extract(zeros32, expandLabel(hsSecret, "derived", emptyHash, 32))
	cAP := expandLabel(master, "c ap traffic", h2, 32)
	sAP := expandLabel(master, "s ap traffic", h2, 32)

	// ChangeCipherSpec (compatibility mode), Finished, then the request.
	mac := hmac.New(sha256.New, expandLabel(cHS, "finished", nil, 32))
	mac.Write(h2)
	fin := append([]byte{hsFinished, 0, 0, 32}, mac.Sum(nil)...)
	cn.out = append(cn.out[:0], recChangeCipherSpec, 3, 3, 0, 1, 1)
	cn.out = newHalfConn(cHS).seal(cn.out, recHandshake, fin)
	cn.out = newHalfConn(cAP).seal(cn.out, recApplicationData, cl.req)
	if _, err := c.Write(cn.out); err != nil {
		return err
	}

	// The response, then the server's close (close_notify and/or FIN).
	in = newHalfConn(sAP)
	for {
		typ, p, err := cn.readRecord()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the response: %w", err)
		}
		if typ == recAlert {
			return alertError(p)
		}
		if typ != recApplicationData {
			return fmt.Errorf("record type %d after the handshake", typ)
		}
		inner, data, err := in.open(cn.hdr[:], p)
		if err != nil {
			return err
		}
		switch inner {
		case recApplicationData:
			cn.resp = append(cn.resp, data...)
		case recHandshake:
			cn.hs = append(cn.hs, data...)
			for {
				m, ok := cn.nextMessage()
				if !ok {
					break
				}
				if m[0] != hsNewSessionTicket {
					return fmt.Errorf("%w %d after the handshake", errUnexpected, m[0])
				}
				cn.ticket++
			}
		case recAlert:
			if len(data) == 2 && data[1] == 0 {
				continue // close_notify: the FIN follows
			}
			return alertError(data)
		default:
			return fmt.Errorf("inner type %d after the handshake", inner)
		}
	}
	return cl.checkResponse(cn.resp)
}

func (cl *client) checkResponse(r []byte) error {
	if len(r) == 0 {
		return errShortRead
	}
	head, body, ok := bytes.Cut(r, []byte("\r\n\r\n"))
	if !ok {
		return errShortRead
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) {
		line, _, _ := bytes.Cut(head, []byte("\r\n"))
		return fmt.Errorf("response: %.60q", line)
	}
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(k), "content-length") {
			n, err := strconv.Atoi(strings.TrimSpace(string(v)))
			if err != nil || n != len(body) {
				return fmt.Errorf("body of %d bytes, Content-Length %q", len(body), v)
			}
		}
	}
	if cl.o.body != "" && string(body) != cl.o.body {
		return fmt.Errorf("body %.40q, want %q", body, cl.o.body)
	}
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func load(o *options) error {
	cl := &client{o: o, dial: net.Dialer{Timeout: o.dialTimeout, KeepAlive: -1}}
	cl.req = []byte("GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\nUser-Agent: edge-bench-handshake\r\nAccept: */*\r\nConnection: close\r\n\r\n")
	var err error
	if cl.key, err = ecdh.X25519().GenerateKey(rand.Reader); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		all     stats
		started atomic.Int64
		stop    atomic.Bool
	)
	cpu0 := cpuTime()
	t0 := time.Now()
	if o.dur > 0 {
		time.AfterFunc(o.dur, func() { stop.Store(true) })
	}
	for w := range o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var seed [32]byte
			rand.Read(seed[:])
			seed[0] ^= byte(w)
			cn := &conn{br: bufio.NewReaderSize(nil, 4096), rnd: mrand.NewChaCha8(seed)}
			st := stats{lat: make([]time.Duration, 0, 4096)}
			for !stop.Load() && ctx.Err() == nil {
				if o.max > 0 && started.Add(1) > int64(o.max) {
					break
				}
				t := time.Now()
				if err := cl.once(ctx, cn); err != nil {
					st.fail(err)
					continue
				}
				st.lat = append(st.lat, time.Since(t))
				st.ok++
			}
			st.tickets, st.ccs = cn.ticket, cn.ccs
			mu.Lock()
			all.ok += st.ok
			all.tickets += st.tickets
			all.ccs += st.ccs
			all.lat = append(all.lat, st.lat...)
			for k, n := range st.errs {
				all.fail(errors.New(st.example[k]))
				all.errs[k] += n - 1
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	cpu := cpuTime() - cpu0
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "handshake: warning: -timeout ended the run")
	}
	nerr := 0
	for k, n := range all.errs {
		nerr += n
		fmt.Fprintf(os.Stderr, "handshake: error x%d: %s\n", n, all.example[k])
	}
	slices.Sort(all.lat)
	pct := func(p float64) float64 {
		if len(all.lat) == 0 {
			return 0
		}
		i := int(p * float64(len(all.lat)-1))
		return float64(all.lat[i]) / 1e6
	}
	fmt.Printf("handshake ok=%d errors=%d elapsed_s=%.3f hs_per_s=%.1f p50_ms=%.3f p99_ms=%.3f group=X25519 suite=TLS_AES_128_GCM_SHA256 tickets=%d server_ccs=%d resumed=0 client_cpu_s=%.3f client_cpu_pct=%.1f client_us_per_hs=%.1f conns=%d fresh_key=%v\n",
		all.ok, nerr, elapsed.Seconds(), float64(all.ok)/elapsed.Seconds(), pct(0.50), pct(0.99),
		all.tickets, all.ccs, cpu.Seconds(), 100*cpu.Seconds()/elapsed.Seconds(),
		float64(cpu.Microseconds())/max(float64(all.ok), 1), o.conns, o.freshKey)
	if all.ok == 0 {
		return errors.New("no handshake completed")
	}
	return nil
}

// --- -check: a standard client -----------------------------------------------

// countingCache is a session cache that counts the sessions (tickets) stored.
type countingCache struct {
	tls.ClientSessionCache
	puts atomic.Int64
}

func (c *countingCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		c.puts.Add(1)
	}
	c.ClientSessionCache.Put(key, cs)
}

func check(o *options) error {
	cache := &countingCache{ClientSessionCache: tls.NewLRUClientSessionCache(16)}
	cfg := &tls.Config{
		InsecureSkipVerify: true, // a self-signed test certificate
		ServerName:         o.sni,
		MinVersion:         tls.VersionTLS13,
		CurvePreferences:   o.curves,
		ClientSessionCache: cache,
	}
	req := []byte("GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\nUser-Agent: edge-bench-handshake\r\nConnection: close\r\n\r\n")
	cl := &client{o: o}
	resumed := 0
	for i := 1; i <= o.check; i++ {
		d := &net.Dialer{Timeout: o.dialTimeout}
		raw, err := d.Dial("tcp", o.addr)
		if err != nil {
			return err
		}
		raw.SetDeadline(time.Now().Add(o.ioTimeout))
		tc := tls.Client(raw, cfg)
		if err := tc.Handshake(); err != nil {
			raw.Close()
			return fmt.Errorf("check %d: handshake: %w", i, err)
		}
		if _, err := tc.Write(req); err != nil {
			tc.Close()
			return err
		}
		resp, err := io.ReadAll(tc) // the server closes: Connection: close
		tc.Close()
		if err != nil && len(resp) == 0 {
			return fmt.Errorf("check %d: reading the response: %w", i, err)
		}
		if err := cl.checkResponse(resp); err != nil {
			return fmt.Errorf("check %d: %w", i, err)
		}
		st := tc.ConnectionState()
		if st.DidResume {
			resumed++
		}
		fmt.Printf("check conn=%d version=%s suite=%s group=%s resumed=%v tickets_so_far=%d\n", i,
			strings.ReplaceAll(tls.VersionName(st.Version), " ", ""), tls.CipherSuiteName(st.CipherSuite), st.CurveID, st.DidResume, cache.puts.Load())
	}
	fmt.Printf("check conns=%d resumed=%d tickets=%d\n", o.check, resumed, cache.puts.Load())
	return nil
}
