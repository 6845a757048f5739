// Command edge is the edge web server: it serves the routes, static content,
// redirects and ACME challenges of a YAML config file.
//
// Usage:
//
//	edge [-config FILE] [-t] [-version] [-upgrade]
//
// Without -config, edge serves its embedded demo site over HTTPS on port
// 8009, with a self-signed certificate (http://localhost:8089 redirects
// there). With -t it checks the config (parsing it and loading what it
// names, without binding any address), prints the result and exits.
// SIGTERM, SIGINT or SIGQUIT drain it (stop accepting, let requests finish,
// WebSocket clients get close 1001 after shutdownGrace) and it exits 0 when
// empty or at shutdownTimeout; a second signal ends it at once. SIGHUP
// reloads the config file. With -upgrade it takes over the listening
// sockets of the edge running on the same addresses, which then drains
// (upgrade.go); without it, a second edge on an address is refused.
//
// See testdata/full.yaml for every config key.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3".
var version = "dev"

//go:embed default.yaml
var defaultConfig []byte

// defaultConfigName names the embedded default config in messages.
const defaultConfigName = "default.yaml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its arguments and outputs; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("edge", flag.ContinueOnError)
	fl.SetOutput(stderr)
	configFile := fl.String("config", "", "the config `file` (default: the embedded demo site, https://localhost:8009)")
	check := fl.Bool("t", false, "check the config and exit")
	showVersion := fl.Bool("version", false, "print the version and exit")
	upgrade := fl.Bool("upgrade", false, "take over the listening sockets of the edge running on the same addresses, then let it drain (upgrade.go)")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "usage: edge [-config file] [-t] [-version] [-upgrade]\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "edge: unexpected argument %q\n", fl.Arg(0))
		fl.Usage()
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "edge %s %s %s (%s)\n", versionString(), runtime.Version(), tlsBackend().Name(), tlsLibrary())
		return 0
	}
	if err := tlsBackendCheck(); err != nil { // backend_*.go: BoringCrypto missing from a FIPS build
		fmt.Fprintf(stderr, "edge: %v\n", err)
		return 1
	}

	name, data := defaultConfigName, defaultConfig
	display := defaultConfigName + " (embedded)"
	if *configFile != "" {
		var err error
		if data, err = os.ReadFile(*configFile); err != nil {
			fmt.Fprintf(stderr, "edge: %v\n", err)
			return 1
		}
		name, display = *configFile, *configFile
	}
	fc, err := parseConfig(name, data)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}

	if *check {
		// Loading content logs nothing useful here: only problems.
		logger := newLogger(fc, stderr, slog.LevelWarn)
		if _, err := fc.build(logger); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fc.closeTLS()
		fmt.Fprintf(stdout, "%s: configuration ok\n", display)
		return 0
	}

	logger := newLogger(fc, stderr, fc.logLevel(slog.LevelInfo))
	slog.SetDefault(logger)
	logger.Info("edge: starting", "version", versionString(), "go", runtime.Version(), "tls", tlsBackend().Name(), "tlsLibrary", tlsLibrary(), "config", display)
	// One edge per address; -upgrade takes the running one's sockets
	// (upgrade.go).
	keys, names := fc.upgradeKeys()
	tk := &takeover{}
	if *upgrade {
		if tk, err = take(keys, logger); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if len(tk.lns) == 0 {
			logger.Warn("edge: -upgrade: no edge runs on these addresses; starting afresh")
		} else {
			logger.Info("edge: upgrade: took the listening sockets", "from", tk.pid, "sockets", len(tk.lns))
		}
	}
	var freeKeys, freeNames []string
	for i, k := range keys {
		if tk.lns[k] == nil {
			freeKeys, freeNames = append(freeKeys, k), append(freeNames, names[i])
		}
	}
	locks, err := lock(freeKeys, freeNames, logger)
	if err != nil {
		tk.abandon()
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer locks.close()
	if fc.ops.admin != nil {
		fc.ops.admin.Inherited = tk.lns[keys[len(keys)-1]]
	}
	ops, err := fc.startOps(logger) // ops.go: metrics and access log observers
	if err != nil {
		tk.abandon()
		fmt.Fprintf(stderr, "edge: %v\n", err)
		return 1
	}
	defer ops.close()
	srv, listeners, err := fc.server(logger)
	if err != nil {
		tk.abandon()
		fmt.Fprintln(stderr, err)
		return 1
	}
	for i, l := range listeners {
		if ln := tk.lns[keys[i]]; ln != nil {
			if err := l.Inherit(ln); err != nil {
				tk.abandon()
				fmt.Fprintln(stderr, err)
				return 1
			}
		}
	}
	// SIGHUP reloads the routes (reload.go) instead of ending the process.
	rl := &reloader{path: *configFile, running: fc, listeners: listeners, log: logger, counted: ops.reloadCounter()}
	ops.reload = rl.handler() // POST /reload on the admin listener
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			rl.reload()
		}
	}()
	defer fc.closeTLS()
	// SIGTERM, SIGINT and SIGQUIT drain; so does a successor's "serving".
	base, drain := context.WithCancel(context.Background())
	defer drain()
	ctx, stop := signal.NotifyContext(base, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	defer stop()
	for _, st := range fc.stores {
		// Certificates reload when their files change.
		if err := st.Watch(ctx); err != nil {
			logger.Warn("edge: certificates will not reload", "err", err)
		}
	}
	// The built-in ACME client (acme.go) obtains and renews certificates
	// into certsPath, where the stores above pick them up, until shutdown.
	stopACME := fc.runACME(ctx)
	defer stopACME()
	// The NATS backplane (nats.go) shares tags with the other nodes.
	stopNATS, err := fc.runNATS(srv, logger)
	if err != nil {
		fmt.Fprintf(stderr, "edge: %v\n", err)
		return 1
	}
	defer stopNATS()
	if err := ops.serve(ctx, srv); err != nil { // ops.go: the admin listener
		tk.abandon()
		fmt.Fprintf(stderr, "edge: %v\n", err)
		return 1
	}
	if err := srv.Start(); err != nil {
		tk.abandon()
		fmt.Fprintln(stderr, oneLine(err))
		return 1
	}
	if tk.conns != nil {
		// Serving: the old edge may stop accepting and drain.
		if err := tk.serving(locks, keys, names); err != nil {
			logger.Error("edge: upgrade", "err", err)
		} else {
			logger.Info("edge: upgrade: serving; the old edge drains", "old", tk.pid)
		}
	}
	files := map[string]func() (*os.File, error){}
	for i, l := range listeners {
		files[keys[i]] = l.File
	}
	if ops.admin != nil {
		files[keys[len(keys)-1]] = ops.admin.File
	}
	locks.serve(files, func(pid int) {
		ops.closeAdmin() // scrapes go to the new process
		drain()
	})
	runDone := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			select {
			case <-runDone: // Run failed first; ctx ended as run returned
				return
			default:
			}
			logger.Info("edge: shutting down")
			stop() // a second signal ends the process at once
		case <-runDone: // Run failed on its own (a bind error, say)
		}
	}()
	err = srv.Run(ctx)
	close(runDone)
	if errors.Is(err, context.DeadlineExceeded) {
		// The drain reached shutdownTimeout: what was left was cut. Still
		// a clean exit: the process did what it was asked.
		logger.Warn("edge: drain deadline reached", "err", err)
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, oneLine(err))
		return 1
	}
	return 0
}

// oneLine is err's message, once: the library's errors already name the
// package.
func oneLine(err error) string {
	msg := err.Error()
	if !strings.HasPrefix(msg, "edge: ") {
		msg = "edge: " + msg
	}
	return msg
}

// newLogger returns the slog logger the config asks for, writing to w.
func newLogger(fc *fileConfig, w io.Writer, level slog.Level) *slog.Logger {
	if fc.cfg.Debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if fc.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// versionString is version, or the module version when built with
// "go install" and no -ldflags.
func versionString() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
