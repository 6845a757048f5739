package main

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-rt/edge/accesslog"
)

func TestOpsConfig(t *testing.T) {
	t.Parallel()
	const listeners = "listeners:\n  - listen: \":0\"\n    hosts:\n      - routes:\n          - path: /\n            respond: {status: 200}\n"
	for _, tc := range []struct {
		name, yaml, err string
		check           func(t *testing.T, fc *fileConfig)
	}{
		{"defaults", "admin: {}\n", "", func(t *testing.T, fc *fileConfig) {
			if fc.ops.admin == nil || fc.ops.admin.Listen != "127.0.0.1:9090" || fc.ops.accessLog != nil {
				t.Errorf("ops = %+v", fc.ops)
			}
		}},
		{"unix", "admin: {listen: \"unix:admin.sock\", token: t0k}\n", "", func(t *testing.T, fc *fileConfig) {
			if want := "unix:" + filepath.Join("dir", "admin.sock"); fc.ops.admin.Listen != want || fc.ops.admin.Token != "t0k" {
				t.Errorf("admin = %+v, want listen %s", fc.ops.admin, want)
			}
		}},
		{"public refused", "admin:\n  listen: \":9090\"\n", "edge.yaml:2:11: admin.listen: admin: listen \":9090\": admin: address is not loopback", nil},
		{"public allowed", "admin: {listen: \":9090\", allowPublic: true, token: x}\n", "", nil},
		{"empty token", "admin: {token: \"\"}\n", `edge.yaml:1:16: admin.token: empty token`, nil},
		{"unknown key", "admin: {lissen: x}\n", `edge.yaml:1:9: admin: unknown key "lissen"`, nil},
		{"access log", "accessLog: {path: logs/a.log, format: json, buffers: 16}\n", "", func(t *testing.T, fc *fileConfig) {
			al := fc.ops.accessLog
			if al.Path != filepath.Join("dir", "logs", "a.log") || al.Format != accesslog.JSON || al.Buffers != 16 {
				t.Errorf("accessLog = %+v", al)
			}
		}},
		{"access log stderr", "accessLog: {path: \"-\"}\n", "", nil},
		{"access log format", "accessLog: {format: xml}\n", `edge.yaml:1:21: accessLog.format: unknown format "xml"`, nil},
		{"log", "log: {format: json, level: warn}\n", "", func(t *testing.T, fc *fileConfig) {
			if fc.logFormat != "json" || fc.logLevel(slog.LevelInfo) != slog.LevelWarn || fc.cfg.Debug {
				t.Errorf("log: format %q level %v debug %v", fc.logFormat, fc.logLevel(slog.LevelInfo), fc.cfg.Debug)
			}
		}},
		{"log debug", "log: {level: debug}\n", "", func(t *testing.T, fc *fileConfig) {
			if !fc.cfg.Debug {
				t.Error("log.level debug does not turn on the engine's debug events")
			}
		}},
		{"log level", "log: {level: loud}\n", `edge.yaml:1:14: log.level: unknown log level "loud"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc, err := parseConfig(filepath.Join("dir", "edge.yaml"), []byte(tc.yaml+listeners))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, fc)
			}
		})
	}
}
