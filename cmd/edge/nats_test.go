package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNATSConfig(t *testing.T) {
	t.Parallel()
	fc, err := parseConfig("edge.yaml", []byte(minimal+`nats:
  urls: ["nats://127.0.0.1:4222", "tls://10.0.0.6:4222"]
  user: edge
  password: secret
  subjectPrefix: "app.tags."
  name: edge-1
  reconnectWait: 250ms
`))
	if err != nil {
		t.Fatal(err)
	}
	c := fc.nats.cfg
	if !slices.Equal(c.URLs, []string{"nats://127.0.0.1:4222", "tls://10.0.0.6:4222"}) || c.User != "edge" || c.Password != "secret" ||
		c.SubjectPrefix != "app.tags." || c.Name != "edge-1" || c.ReconnectWait != 250*time.Millisecond {
		t.Fatalf("decoded %+v", c)
	}
	if fc, err := parseConfig("edge.yaml", []byte(minimal)); err != nil || fc.nats != nil {
		t.Fatalf("no nats block: %v, %v", fc.nats, err)
	}
}

func TestNATSConfigErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, block, reason string }{
		{"not a mapping", "nats: 1\n", "expected a mapping"},
		{"unknown key", "nats: {urls: [\"nats://h:1\"], url: x}\n", "url"},
		{"no urls", "nats: {name: a}\n", "missing urls"},
		{"empty urls", "nats: {urls: []}\n", "empty list"},
		{"bad url", "nats: {urls: [\"http://h:1\"]}\n", "bad NATS URL"},
		{"no host", "nats: {urls: [\"nats://\"]}\n", "bad NATS URL"},
		{"two auths", "nats: {urls: [\"nats://h:1\"], user: a, token: b}\n", "exclude each other"},
		{"password alone", "nats: {urls: [\"nats://h:1\"], password: a}\n", "password without user"},
		{"missing creds", "nats: {urls: [\"nats://h:1\"], credsFile: /nonexistent/x.creds}\n", "credentials file"},
		{"bad prefix", "nats: {urls: [\"nats://h:1\"], subjectPrefix: \"a.*.\"}\n", "bad subject prefix"},
		{"prefix without dot", "nats: {urls: [\"nats://h:1\"], subjectPrefix: \"tags\"}\n", "bad subject prefix"},
		{"bad wait", "nats: {urls: [\"nats://h:1\"], reconnectWait: soon}\n", "reconnectWait"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig("edge.yaml", []byte(minimal+c.block))
			if err == nil || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("error %v, want one with %q", err, c.reason)
			}
		})
	}
}
