// Package admin is edge's admin HTTP server: /metrics and whatever other
// handlers callers mount (an API, POST /reload), on a loopback TCP address
// or a Unix socket, optionally behind a bearer token. It uses net/http: it
// is off the serving path.
//
// Typical usage:
//
//	a, err := admin.New(admin.Config{Listen: "127.0.0.1:9090", Token: tok})
//	a.Handle("/metrics", m.Handler())
//	if err := a.Start(); err != nil { ... }
//	defer a.Shutdown(ctx)
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultListen is the address used when Config.Listen is empty.
const DefaultListen = "127.0.0.1:9090"

// Config configures the admin server.
type Config struct {
	// Listen is a TCP host:port, or "unix:" and a socket path (created
	// with mode 0600, replacing a stale socket). Empty means DefaultListen.
	// A TCP address must be loopback (127.0.0.0/8, ::1 or localhost)
	// unless AllowPublic is set.
	Listen string
	// AllowPublic allows a TCP address that is not loopback (including
	// ":9090", every interface). Use a Token with it.
	AllowPublic bool
	// Token, if not empty, is required from every request as
	// "Authorization: Bearer <token>"; others get 401.
	Token string
	// Logger receives errors of the HTTP server. Nil discards them.
	Logger *slog.Logger
	// Inherited, if not nil, is a listening socket for Listen taken from
	// the process being replaced (see Server.File): Start serves it
	// instead of binding.
	Inherited net.Listener
}

// Server is the admin HTTP server. Handle may be called before or after
// Start; Start and Shutdown once each. Safe for concurrent use.
type Server struct {
	cfg     Config
	network string
	address string
	mux     *http.ServeMux
	srv     *http.Server

	mu     sync.Mutex
	ln     net.Listener
	done   chan struct{}
	err    error
	handed bool // File was called: Shutdown leaves the socket path
}

// ErrNotLoopback is returned (wrapped) by New for a TCP address that is not
// loopback when Config.AllowPublic is not set.
var ErrNotLoopback = errors.New("admin: address is not loopback")

// New checks cfg and makes a Server; it binds nothing.
func New(cfg Config) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	if path, ok := strings.CutPrefix(cfg.Listen, "unix:"); ok {
		if path == "" {
			return nil, errors.New("admin: empty unix socket path")
		}
		s.network, s.address = "unix", path
	} else {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("admin: listen %q: %w", cfg.Listen, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("admin: listen %q: bad port", cfg.Listen)
		}
		if !cfg.AllowPublic && !isLoopback(host) {
			return nil, fmt.Errorf("admin: listen %q: %w (set allowPublic to allow it)", cfg.Listen, ErrNotLoopback)
		}
		s.network, s.address = "tcp", cfg.Listen
	}
	var h http.Handler = s.mux
	if cfg.Token != "" {
		h = bearer(cfg.Token, h)
	}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// bearer wraps h to require the token. Both sides are hashed first so the
// comparison takes the same time whatever the token's length.
func bearer(token string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edge admin"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Handle mounts h on pattern (an http.ServeMux pattern: "/metrics",
// "POST /reload", "/api/").
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Start binds the address and serves in a goroutine until Shutdown.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("admin: already started")
	}
	ln, err := s.listen()
	if err != nil {
		return err
	}
	s.ln, s.done = ln, make(chan struct{})
	go s.serve(ln)
	return nil
}

func (s *Server) serve(ln net.Listener) {
	defer close(s.done)
	if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.cfg.Logger.Error("admin: serve", "addr", s.cfg.Listen, "err", err)
		s.err = err
	}
}

func (s *Server) listen() (net.Listener, error) {
	if s.cfg.Inherited != nil {
		return s.cfg.Inherited, nil
	}
	if s.network == "tcp" {
		ln, err := net.Listen("tcp", s.address)
		if err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
		return ln, nil
	}
	path := s.address
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("admin: %s exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("admin: %s: another process is listening", path)
		}
		os.Remove(path) // stale, from a process that ended
	}
	// Bind under a temporary name, restrict it, then rename it into place:
	// the socket is never reachable at its real path with a wider mode.
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.%d.tmp", filepath.Base(path), os.Getpid()))
	os.Remove(tmp)
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // we remove the real path in Shutdown
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("admin: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("admin: %w", err)
	}
	return ln, nil
}

// Addr is the bound address (a TCP address or the socket path), nil before
// Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	if s.network == "unix" {
		return &net.UnixAddr{Net: "unix", Name: s.address}
	}
	return s.ln.Addr()
}

// File returns a duplicate of the listening socket (after Start) for a
// process taking over (Config.Inherited there). From then on Shutdown
// leaves a Unix socket's path in place. The caller closes the file.
func (s *Server) File() (*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil, errors.New("admin: not started")
	}
	f, ok := s.ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("admin: %T has no file", s.ln)
	}
	file, err := f.File()
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	s.handed = true
	return file, nil
}

// Shutdown stops accepting, lets requests in flight finish until ctx ends
// (then closes them), and removes the Unix socket. It returns ctx's error
// if requests were cut, or the error that stopped serving.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	ln, done, handed := s.ln, s.done, s.handed
	s.mu.Unlock()
	if ln == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-done
	if s.network == "unix" && !handed {
		os.Remove(s.address)
	}
	if err != nil {
		return fmt.Errorf("admin: shutdown: %w", err)
	}
	return s.err
}
