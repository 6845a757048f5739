package main

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-rt/edge"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// configDir returns a directory holding what test configs name: public/
// (a static directory), about.html and www/ (an ACME webroot).
func configDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"public/index.html":                     "<!doctype html><title>public</title><h1>public index</h1>\n" + strings.Repeat("<p>padding so that it compresses</p>\n", 20),
		"public/css/site.css":                   "body { color: #123; }\n" + strings.Repeat("p { margin: 0; }\n", 30),
		"public/small.txt":                      "small\n",
		"about.html":                            "<!doctype html><title>About</title><h1>About</h1>\n",
		"www/.well-known/acme-challenge/tok123": "tok123.thumbprint\n",
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// withRoute is a config with one listener and one host whose routes are
// lines (indented as the first route's keys: its first key is at 5:13).
func withRoute(lines ...string) string {
	var b strings.Builder
	b.WriteString("listeners:\n  - listen: \"127.0.0.1:8089\"\n    hosts:\n      - routes:\n")
	for i, l := range lines {
		if i == 0 {
			b.WriteString("          - " + l + "\n")
		} else {
			b.WriteString("            " + l + "\n")
		}
	}
	return b.String()
}

const minimal = "listeners:\n  - listen: \"127.0.0.1:8089\"\n    hosts:\n      - fallback: {}\n"

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	name := filepath.Join(dir, "edge.yaml")
	tests := []struct {
		name   string
		yaml   string
		pos    string // "line:col"
		reason string // a substring of the message after the position
	}{
		// Files.
		{"empty", "", "", "empty configuration"},
		{"comments only", "# nothing\n", "", "empty configuration"},
		{"syntax", "workers: 1\n  bad: [\n", "2:3", "yaml:"},
		{"tab", "workers: 1\nlisteners:\n\t- listen: x\n", "3:1", "yaml:"},
		{"two documents", minimal + "---\nworkers: 1\n", "5:1", "more than one YAML document"},
		{"not a mapping", "- a\n- b\n", "1:1", "expected a mapping, got a list"},
		{"no listeners", "workers: 1\n", "1:1", "no listeners"},
		{"empty listeners", "listeners: []\n", "1:12", "listeners: no listeners"},
		{"listeners null", "listeners:\n", "1:1", "listeners: missing value"},

		// Keys.
		{"unknown top key", "workres: 2\n" + minimal, "1:1", `unknown key "workres" (did you mean "workers"?)`},
		{"duplicate key", "workers: 1\nworkers: 2\n" + minimal, "2:1", `duplicate key "workers" (first at line 1)`},
		{"merge key", "<<: {workers: 1}\n" + minimal, "1:1", "merge keys"},
		{"unknown route key", withRoute("path: /", "statik: ./public"), "6:13", `listeners[0].hosts[0].routes[0]: unknown key "statik" (did you mean "static"?)`},
		{"unknown listener key", "listeners:\n  - listen: \":1\"\n    hots: []\n", "3:5", `listeners[0]: unknown key "hots"`},
		{"duplicate route key", withRoute("path: /", "path: /x", "respond: {}"), "6:13", `routes[0]: duplicate key "path" (first at line 5)`},

		// Types and values of settings.
		{"workers type", "workers: two\n" + minimal, "1:10", `workers: expected an integer, got "two"`},
		{"workers float", "workers: 1.5\n" + minimal, "1:10", "workers: expected an integer, got number 1.5"},
		{"workers negative", "workers: -1\n" + minimal, "1:10", "workers: -1 out of range"},
		{"bad duration", "connectionTimeout: 12 parsecs\n" + minimal, "1:20", `connectionTimeout: bad duration "12 parsecs"`},
		{"duration list", "readTimeout: [1]\n" + minimal, "1:14", "readTimeout: expected a duration, got a list"},
		{"negative read timeout", "readTimeout: -1\n" + minimal, "1:14", "readTimeout: duration \"-1\" must not be negative"},
		{"negative write timeout", "writeTimeout: -2s\n" + minimal, "1:15", "must not be negative"},
		{"negative shutdown timeout", "shutdownTimeout: -1\n" + minimal, "1:18", "must not be negative"},
		{"bad size", "maxBodySize: 3 furlongs\n" + minimal, "1:14", `maxBodySize: bad size "3 furlongs"`},
		{"negative size", "maxBodySize: -1\n" + minimal, "1:14", `bad size "-1"`},
		{"huge request line", "maxRequestLine: 8GiB\n" + minimal, "1:17", "is more than"},
		{"bool", "post: yes\n" + minimal, "1:7", `post: expected true or false, got "yes"`},
		{"bool int", "tcpNodelay: 1\n" + minimal, "1:13", "tcpNodelay: expected true or false, got integer 1"},
		{"limitOpenFiles", "limitOpenFiles: -2\n" + minimal, "1:17", "-2 out of range -1"},
		{"headers not a list", "headers: User-Agent\n" + minimal, "1:10", "headers: expected a list"},
		{"header name", "headers: [User Agent]\n" + minimal, "1:11", `headers[0]: bad header name "User Agent"`},
		{"header duplicate", "headers: [X-A, x-a]\n" + minimal, "1:16", `headers[1]: duplicate header "x-a"`},
		{"too many headers", "headers: [" + strings.Repeat("X-H1, ", 0) + manyHeaders(25) + "]\n" + minimal, "1:10", "25 headers, at most 24"},
		{"errorCloseMode", "errorCloseMode: sometimes\n" + minimal, "1:17", `unknown mode "sometimes"`},
		{"logFormat", "logFormat: xml\n" + minimal, "1:12", `unknown log format "xml"`},
		{"serverName", "serverName: \"a\\r\\nX: y\"\n" + minimal, "1:13", "bad server name"},

		// Listeners.
		{"listen missing", "listeners:\n  - hosts: [{fallback: {}}]\n", "2:5", "listeners[0]: missing listen address"},
		{"listen port only", "listeners:\n  - listen: \"8089\"\n    hosts: [{fallback: {}}]\n", "2:13", `listeners[0].listen: bad address "8089"`},
		{"listen bad port", "listeners:\n  - listen: \":http\"\n    hosts: [{fallback: {}}]\n", "2:13", `port "http" is not a number`},
		{"listen big port", "listeners:\n  - listen: \":70000\"\n    hosts: [{fallback: {}}]\n", "2:13", "not a number from 0 to 65535"},
		{"listen bad host", "listeners:\n  - listen: \"a b:80\"\n    hosts: [{fallback: {}}]\n", "2:13", `bad host "a b"`},
		{"listen empty unix", "listeners:\n  - listen: \"unix:\"\n    hosts: [{fallback: {}}]\n", "2:13", "empty socket path"},
		{"listen long unix", "listeners:\n  - listen: \"unix:/" + strings.Repeat("s", 120) + "\"\n    hosts: [{fallback: {}}]\n", "2:13", "longer than 107 bytes"},
		{"same address", "listeners:\n  - listen: \":8089\"\n    hosts: [{fallback: {}}]\n  - listen: \"0.0.0.0:8089\"\n    hosts: [{fallback: {}}]\n",
			"4:13", `listeners[1].listen: address "0.0.0.0:8089" already used by listeners[0] (line 2)`},
		{"same address v6", "listeners:\n  - listen: \"[::]:80\"\n    hosts: [{fallback: {}}]\n  - listen: \":80\"\n    hosts: [{fallback: {}}]\n", "4:13", "already used"},
		{"same unix socket", "listeners:\n  - listen: \"unix:a.sock\"\n    hosts: [{fallback: {}}]\n  - listen: \"unix:./a.sock\"\n    hosts: [{fallback: {}}]\n", "4:13", "already used"},
		// Regression: ":9500" and "127.0.0.1:9500" were both accepted and bound.
		{"wildcard then specific", "listeners:\n  - listen: \":9500\"\n    hosts: [{fallback: {}}]\n  - listen: \"127.0.0.1:9500\"\n    hosts: [{fallback: {}}]\n",
			"4:13", `listeners[1].listen: address "127.0.0.1:9500" overlaps ":9500" of listeners[0] (line 2)`},
		{"specific then wildcard", "listeners:\n  - listen: \"[::1]:9500\"\n    hosts: [{fallback: {}}]\n  - listen: \"0.0.0.0:9500\"\n    hosts: [{fallback: {}}]\n", "4:13", `overlaps "[::1]:9500"`},
		{"wildcard and name", "listeners:\n  - listen: \"localhost:9500\"\n    hosts: [{fallback: {}}]\n  - listen: \"[::]:9500\"\n    hosts: [{fallback: {}}]\n", "4:13", "overlaps"},
		{"third listener", "listeners:\n  - listen: \"127.0.0.1:1\"\n    hosts: [{fallback: {}}]\n  - listen: \"127.0.0.2:1\"\n    hosts: [{fallback: {}}]\n  - listen: \":1\"\n    hosts: [{fallback: {}}]\n", "6:13", `overlaps "127.0.0.1:1"`},
		{"hosts missing", "listeners:\n  - listen: \":1\"\n", "2:5", "missing hosts"},
		{"hosts empty", "listeners:\n  - listen: \":1\"\n    hosts: []\n", "3:12", "listeners[0].hosts: no hosts"},

		// Hosts.
		{"bad host", "listeners:\n  - listen: \":1\"\n    hosts:\n      - host: \"a b\"\n        fallback: {}\n", "4:15", `listeners[0].hosts[0].host: bad host "a b"`},
		{"bad host port", "listeners:\n  - listen: \":1\"\n    hosts:\n      - host: \"a.com:x\"\n        fallback: {}\n", "4:15", "bad host"},
		{"bare ipv6 host", "listeners:\n  - listen: \":1\"\n    hosts:\n      - host: \"::1\"\n        fallback: {}\n", "4:15", "bad host"},
		{"duplicate host", "listeners:\n  - listen: \":1\"\n    hosts:\n      - host: A.com\n        fallback: {}\n      - host: a.com\n        fallback: {}\n",
			"6:15", `hosts[1]: duplicate host "a.com" (first at line 4)`},
		{"host after any", "listeners:\n  - listen: \":1\"\n    hosts:\n      - fallback: {}\n      - host: a.com\n        fallback: {}\n",
			"5:15", "hosts[1]: unreachable: the host at line 4 matches every host"},
		{"empty host", "listeners:\n  - listen: \":1\"\n    hosts:\n      - host: a.com\n", "4:9", "hosts[0]: no routes and no fallback"},
		{"empty routes", "listeners:\n  - listen: \":1\"\n    hosts:\n      - routes: []\n", "4:17", "routes: no routes and no fallback"},
		{"routes not a list", "listeners:\n  - listen: \":1\"\n    hosts:\n      - routes: {path: /}\n", "4:17", "routes: expected a list, got a mapping"},

		// Matchers.
		{"no matcher", withRoute("respond: {}"), "5:13", "routes[0]: no matcher: want one of path, paths, prefix, regexp, pattern"},
		{"two matchers", withRoute("path: /a", "prefix: /b", "respond: {}"), "6:13", "routes[0]: both path and prefix: a route has exactly one matcher"},
		{"relative path", withRoute("path: a", "respond: {}"), "5:19", `routes[0].path: bad path "a": must start with /`},
		{"path with query", withRoute("path: /a?b", "respond: {}"), "5:19", "never holds ? or #"},
		{"path with space", withRoute("path: \"/a b\"", "respond: {}"), "5:19", "must be %-encoded"},
		{"paths empty", withRoute("paths: []", "respond: {}"), "5:20", "routes[0].paths: no paths"},
		{"paths item", withRoute("paths: [/a, b]", "respond: {}"), "5:25", `routes[0].paths[1]: bad path "b"`},
		{"paths scalar", withRoute("paths: /a", "respond: {}"), "5:20", "paths: expected a list"},
		{"prefix relative", withRoute("prefix: x/", "respond: {}"), "5:21", "must start with /"},
		{"regexp", withRoute("regexp: \"(foo\"", "respond: {}"), "5:21", `routes[0].regexp: bad regexp "(foo": error parsing regexp: missing closing )`},
		{"pattern unnamed", withRoute("pattern: \"/a/:\"", "respond: {}"), "5:22", "a parameter needs a name"},
		{"pattern twice", withRoute("pattern: /:a/:a", "respond: {}"), "5:22", `parameter "a" appears twice`},
		{"pattern too many", withRoute("pattern: /:a/:b/:c/:d/:e/:f/:g/:h/:i", "respond: {}"), "5:22", "9 parameters, at most 8"},

		// Methods.
		{"unknown method", withRoute("path: /", "methods: [GET, FETCH]", "respond: {}"), "6:28", `methods[1]: unknown method "FETCH"`},
		{"lower-case method", withRoute("path: /", "methods: [get]", "respond: {}"), "6:23", `unknown method "get" (methods are case-sensitive: "GET")`},
		{"duplicate method", withRoute("path: /", "methods: [GET, GET]", "respond: {}"), "6:28", `duplicate method "GET"`},
		{"empty methods", withRoute("path: /", "methods: []", "respond: {}"), "6:22", "methods: empty list"},
		{"star not alone", withRoute("path: /", "methods: [GET, \"*\"]", "respond: {}"), "6:28", "must be alone"},
		{"static POST", withRoute("prefix: /", "methods: [POST]", "static: ./public"), "6:22", "static routes serve only GET and HEAD"},
		{"file any", withRoute("path: /", "methods: [\"*\"]", "file: ./about.html"), "6:22", "file routes serve only GET and HEAD"},

		// Actions.
		{"no action", withRoute("path: /"), "5:13", "routes[0]: no action: want one of respond, redirect, static, file, acme, stream"},
		{"two actions", withRoute("path: /", "respond: {}", "file: ./about.html"), "7:13", "routes[0]: both respond and file: a route has exactly one action"},
		{"status high", withRoute("path: /", "respond: {status: 600}"), "6:31", "routes[0].respond.status: status 600 out of range 200 to 599"},
		{"status low", withRoute("path: /", "respond: {status: 99}"), "6:31", "status 99 out of range"},
		{"status 1xx", withRoute("path: /", "respond: {status: 101}"), "6:31", "status 101 out of range"},
		{"status string", withRoute("path: /", "respond: {status: ok}"), "6:31", `expected an integer, got "ok"`},
		{"body with 204", withRoute("path: /", "respond: {status: 204, body: x}"), "6:42", "a 204 response has no body"},
		{"respond unknown key", withRoute("path: /", "respond: {satus: 200}"), "6:23", `routes[0].respond: unknown key "satus" (did you mean "status"?)`},
		{"respond scalar", withRoute("path: /", "respond: hello"), "6:22", "routes[0].respond: expected a mapping, got \"hello\""},
		{"unknown type ext", withRoute("path: /", "respond: {type: nosuchext, body: x}"), "6:29", `unknown type "nosuchext"`},
		{"header name", withRoute("path: /", "respond: {headers: {\"X A\": b}}"), "6:33", `bad header name "X A"`},
		{"header reserved", withRoute("path: /", "respond: {headers: {Content-Length: \"5\"}}"), "6:33", "header Content-Length: edge sets it"},
		{"header content type", withRoute("path: /", "respond: {headers: {content-type: x/y}}"), "6:33", "header content-type: use type"},
		{"header duplicate", withRoute("path: /", "respond: {headers: {X-A: b, x-a: c}}"), "6:41", `respond.headers: duplicate header "x-a"`},
		{"header value", withRoute("path: /", "respond: {headers: {X-A: \"b\\nc\"}}"), "6:38", "bad header value"},
		{"headers list", withRoute("path: /", "respond: {headers: [a]}"), "6:32", "expected a mapping of header names to values"},
		{"redirect status", withRoute("path: /", "redirect: {to: /x, status: 200}"), "6:40", "routes[0].redirect.status: redirect status 200: want 301, 302, 303, 307 or 308"},
		{"redirect status 300", withRoute("path: /", "redirect: {to: /x, status: 300}"), "6:40", "redirect status 300"},
		{"redirect no to", withRoute("path: /", "redirect: {status: 301}"), "6:23", "routes[0].redirect: missing to"},
		{"redirect empty to", withRoute("path: /", "redirect: {to: \"\"}"), "6:28", "empty target"},
		{"redirect placeholder", withRoute("path: /", "redirect: {to: \"https://{hots}{url}\"}"), "6:28", "unknown placeholder {hots}"},
		{"redirect space", withRoute("path: /", "redirect: {to: \"/a b\"}"), "6:28", "bad target"},
		{"static missing", withRoute("prefix: /", "static: ./nonexistent"), "6:21", filepath.Join(dir, "nonexistent") + ": no such file or directory"},
		{"static file", withRoute("prefix: /", "static: ./about.html"), "6:21", "about.html is not a directory"},
		{"static empty", withRoute("prefix: /", "static: \"\""), "6:21", "empty path"},
		{"static embed sub", withRoute("prefix: /", "static: \"embed:/x\""), "6:21", `bad static source "embed:/x"`},
		{"static embed dev", withRoute("prefix: /", "static: \"embed:\"", "dev: true"), "6:21", "the embedded site cannot be served in dev mode"},
		{"dev without static", withRoute("path: /", "respond: {}", "dev: true"), "7:13", "dev applies only to static routes"},
		{"dev type", withRoute("prefix: /", "static: ./public", "dev: sure"), "7:18", "dev: expected true or false"},
		{"file missing", withRoute("path: /", "file: ./missing.html"), "6:19", "missing.html: no such file or directory"},
		{"file is dir", withRoute("path: /", "file: ./public"), "6:19", "public is not a regular file"},
		{"acme missing", withRoute("acme: ./nowww"), "5:19", "nowww: no such file or directory"},
		{"acme with matcher", withRoute("acme: ./www", "prefix: /"), "6:13", "routes[0]: prefix: an acme route takes no other key"},
		{"acme with methods", withRoute("acme: ./www", "methods: [GET]"), "6:13", "methods: an acme route takes no other key"},

		// Streams.
		{"stream no mode", withRoute("path: /ws", "stream: {compression: true}"), "6:21", "routes[0].stream: missing mode: want echo, chat or hooks"},
		{"stream bad mode", withRoute("path: /ws", "stream: {mode: relay}"), "6:28", `routes[0].stream.mode: unknown mode "relay": want echo, chat or hooks`},
		{"stream unknown key", withRoute("path: /ws", "stream: {mode: echo, pages: ./about.html}"), "6:34", `routes[0].stream: unknown key "pages" (did you mean "page"?)`},
		{"stream scalar", withRoute("path: /ws", "stream: echo"), "6:21", `routes[0].stream: expected a mapping, got "echo"`},
		{"stream prefix", withRoute("prefix: /ws", "stream: {mode: echo}"), "5:13", "routes[0]: prefix: a stream route matches one exact path: use path:"},
		{"stream paths", withRoute("paths: [/a, /b]", "stream: {mode: echo}"), "5:13", "paths: a stream route matches one exact path"},
		{"stream methods", withRoute("path: /ws", "methods: [GET]", "stream: {mode: echo}"), "6:13", "routes[0]: methods: a stream route takes GET"},
		{"stream dev", withRoute("path: /ws", "stream: {mode: echo}", "dev: true"), "7:13", "dev applies only to static routes"},
		{"stream and respond", withRoute("path: /ws", "stream: {mode: echo}", "respond: {}"), "7:13", "both stream and respond"},
		{"stream protocols scalar", withRoute("path: /ws", "stream: {mode: echo, protocols: chat}"), "6:45", "routes[0].stream.protocols: expected a list"},
		{"stream protocols empty", withRoute("path: /ws", "stream: {mode: echo, protocols: []}"), "6:45", "protocols: empty list"},
		{"stream protocol token", withRoute("path: /ws", "stream: {mode: echo, protocols: [\"a b\"]}"), "6:46", `routes[0].stream.protocols[0]: bad protocol "a b"`},
		{"stream protocol duplicate", withRoute("path: /ws", "stream: {mode: echo, protocols: [a, b, a]}"), "6:52", `protocols[2]: duplicate protocol "a"`},
		{"stream maxMessage", withRoute("path: /ws", "stream: {mode: echo, maxMessage: lots}"), "6:46", `routes[0].stream.maxMessage: bad size "lots"`},
		{"stream maxMessage huge", withRoute("path: /ws", "stream: {mode: echo, maxMessage: 4GiB}"), "6:46", "is more than 2147483647 bytes"},
		{"stream queueBytes", withRoute("path: /ws", "stream: {mode: echo, queueBytes: -1}"), "6:46", `routes[0].stream.queueBytes: bad size "-1"`},
		{"stream compression", withRoute("path: /ws", "stream: {mode: echo, compression: yes}"), "6:47", `stream.compression: expected true or false, got "yes"`},
		{"stream page missing", withRoute("path: /ws", "stream: {mode: echo, page: ./nope.html}"), "6:40", "routes[0].stream.page: " + filepath.Join(dir, "nope.html") + ": no such file or directory"},
		{"stream page dir", withRoute("path: /ws", "stream: {mode: echo, page: ./public}"), "6:40", "public is not a regular file"},
		{"stream page embed missing", withRoute("path: /ws", "stream: {mode: echo, page: \"embed:nope.html\"}"), "6:40", `the embedded site has no file "nope.html"`},
		{"stream page embed root", withRoute("path: /ws", "stream: {mode: echo, page: \"embed:\"}"), "6:40", `bad page "embed:"`},
		{"stream page embed escape", withRoute("path: /ws", "stream: {mode: echo, page: \"embed:../web.go\"}"), "6:40", `bad page "embed:../web.go"`},
		{"stream page embed absolute", withRoute("path: /ws", "stream: {mode: echo, page: \"embed:/chat.html\"}"), "6:40", `bad page`},
		{"stream mode and key errors", withRoute("path: /ws", "stream: {mode: 1, maxMessage: x}"), "6:28", `unknown mode "1"`},
		{"pingInterval negative", "pingInterval: -1\n" + minimal, "1:15", `pingInterval: duration "-1" must not be negative`},
		{"pingInterval bad", "pingInterval: often\n" + minimal, "1:15", `pingInterval: bad duration "often"`},
		{"fallback status", "listeners:\n  - listen: \":1\"\n    hosts:\n      - fallback: {status: 1000}\n", "4:28", "hosts[0].fallback.status: status 1000 out of range"},
		{"alias", "x: &r {path: /}\n" + minimal, "1:1", `unknown key "x"`},

		// TLS.
		{"tls unknown key", "tls:\n  minVersoin: \"1.2\"\n" + minimal, "2:3", `tls: unknown key "minVersoin" (did you mean "minVersion"?)`},
		{"tls not a mapping", "tls: [\"1.2\"]\n" + minimal, "1:6", "tls: expected a mapping, got a list"},
		{"tls minVersion 1.1", "tls: {minVersion: \"1.1\"}\n" + minimal, "1:19", `tls.minVersion: unknown TLS version "1.1": want "1.2" or "1.3"`},
		{"tls maxVersion 1.0", "tls: {maxVersion: \"1.0\"}\n" + minimal, "1:19", `tls.maxVersion: unknown TLS version "1.0"`},
		{"tls min above max", "tls:\n  minVersion: \"1.3\"\n  maxVersion: \"1.2\"\n" + minimal, "2:3", "tls: minVersion is above maxVersion"},
		{"tls sessionTickets", "tls: {sessionTickets: 1}\n" + minimal, "1:23", "tls.sessionTickets: expected true or false, got integer 1"},
		{"tls ticketKeyRotation", "tls: {ticketKeyRotation: soon}\n" + minimal, "1:26", `tls.ticketKeyRotation: bad duration "soon"`},
		{"tls handshakeTimeout", "tls: {handshakeTimeout: -1}\n" + minimal, "1:25", `tls.handshakeTimeout: duration "-1" must not be negative`},
		{"tls empty alpn", "tls: {alpn: [\"\"]}\n" + minimal, "1:14", `tls.alpn[0]: bad ALPN protocol ""`},
		{"sslRoutesHost", "sslRoutesHost: bogus\n" + minimal, "1:16", `sslRoutesHost: unknown policy "bogus": want sniAndHost`},
		{"privKeyFile dir", "privKeyFile: a/b\n" + minimal, "1:14", "privKeyFile: want a file name, without a directory"},
		{"fullChainFile empty", "fullChainFile: \"\"\n" + minimal, "1:16", "fullChainFile: want a file name, without a directory"},
		{"certsPath empty", "certsPath: \"\"\n" + minimal, "1:12", "certsPath: empty path"},
		{"listener tls", "listeners:\n  - listen: \":1\"\n    tls: yes\n    hosts: [{fallback: {}}]\n", "3:10", `listeners[0].tls: expected true or false, got "yes"`},
		{"defaultHost without tls", "listeners:\n  - listen: \":1\"\n    defaultHost: a.com\n    hosts: [{fallback: {}}]\n", "3:18", "listeners[0].defaultHost: defaultHost is for tls listeners"},
		{"defaultHost tls false", "listeners:\n  - listen: \":1\"\n    tls: false\n    defaultHost: a.com\n    hosts: [{fallback: {}}]\n", "4:18", "defaultHost is for tls listeners"},
		{"defaultHost wildcard", "listeners:\n  - listen: \":1\"\n    tls: true\n    defaultHost: \"*.a.com\"\n    hosts: [{fallback: {}}]\n", "4:18", `listeners[0].defaultHost: bad host name "*.a.com"`},
		{"certificates privKey only", tlsHost("certificates: {privKey: ./k.pem}"), "6:23", "listeners[0].hosts[0].certificates: want path, or both privKey and fullChain"},
		{"certificates fullChain only", tlsHost("certificates: {fullChain: ./c.pem}"), "6:23", "want path, or both privKey and fullChain"},
		{"certificates unknown key", tlsHost("certificates: {path: ./c, fullchain: x.pem}"), "6:35", `listeners[0].hosts[0].certificates: unknown key "fullchain" (did you mean "fullChain"?)`},
		{"certificates scalar", tlsHost("certificates: ./c"), "6:23", "certificates: expected a mapping"},
		// A certificates: entry that edge would silently ignore is a
		// mistake, like defaultHost on a plain listener: refuse it.
		{"certificates without tls", "listeners:\n  - listen: \":1\"\n    hosts:\n      - host: a.com\n        certificates: {path: ./c}\n        fallback: {}\n",
			"5:23", "tls listener"},
		{"certificates for any host", "listeners:\n  - listen: \":1\"\n    tls: true\n    hosts:\n      - certificates: {path: ./c}\n        fallback: {}\n",
			"5:23", "host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc, err := parseConfig(name, []byte(tt.yaml))
			if err == nil {
				t.Fatalf("parseConfig succeeded: %+v", fc)
			}
			first := strings.SplitN(err.Error(), "\n", 2)[0]
			prefix := name + ":"
			if tt.pos != "" {
				prefix += tt.pos + ":"
			}
			prefix += " "
			if !strings.HasPrefix(first, prefix) {
				t.Errorf("first error %q\nwant prefix %q", first, prefix)
			}
			if !strings.Contains(first, tt.reason) {
				t.Errorf("first error %q\nwant it to contain %q", first, tt.reason)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *ConfigError", err)
			}
		})
	}
}

func manyHeaders(n int) string {
	var hs []string
	for i := range n {
		hs = append(hs, "X-H"+string(rune('a'+i)))
	}
	return strings.Join(hs, ", ")
}

// TestParseConfigManyErrors checks that independent errors are all reported,
// in file order.
func TestParseConfigManyErrors(t *testing.T) {
	t.Parallel()
	src := "post: yes\nworkers: x\n" + withRoute("path: a", "respond: {status: 1}")
	_, err := parseConfig("edge.yaml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"edge.yaml:1:7: post:",
		"edge.yaml:2:10: workers:",
		"edge.yaml:7:19: listeners[0].hosts[0].routes[0].path:",
		"edge.yaml:8:31: listeners[0].hosts[0].routes[0].respond.status:",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestParseConfigSettings(t *testing.T) {
	t.Parallel()
	src := `workers: 3
clientMax: 100
connectionTimeout: -1
readTimeout: 5
writeTimeout: 1m30s
pendingTimeout: "-1"
shutdownTimeout: 250ms
pingInterval: 45s
maxRequestLine: 4KiB
maxHeaderBytes: 32 KB
maxHeaders: 50
maxBodySize: 2MiB
post: true
headers: [User-Agent, X-Request-Id]
tcpNodelay: false
soKeepalive: true
reusePort: false
limitOpenFiles: 4096
headerServer: true
serverName: edge-test
headerDate: true
headerContentType: false
errorCloseMode: immediately
debug: true
logFormat: json
` + minimal
	fc, err := parseConfig("edge.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := fc.cfg
	checks := []struct {
		name      string
		got, want any
	}{
		{"Workers", c.Workers, 3},
		{"ClientMax", c.ClientMax, 100},
		{"IdleTimeout", c.IdleTimeout, -time.Second},
		{"ReadTimeout", c.ReadTimeout, 5 * time.Second},
		{"WriteTimeout", c.WriteTimeout, 90 * time.Second},
		{"PendingTimeout", c.PendingTimeout, -time.Second},
		{"ShutdownTimeout", c.ShutdownTimeout, 250 * time.Millisecond},
		{"PingInterval", c.PingInterval, 45 * time.Second},
		{"MaxRequestLine", c.MaxRequestLine, 4096},
		{"MaxHeaderBytes", c.MaxHeaderBytes, 32000},
		{"MaxHeaders", c.MaxHeaders, 50},
		{"MaxBodySize", c.MaxBodySize, int64(2 << 20)},
		{"AllowPost", c.AllowPost, true},
		{"Headers", strings.Join(c.Headers, ","), "User-Agent,X-Request-Id"},
		{"DisableNoDelay", c.DisableNoDelay, true},
		{"SOKeepAlive", c.SOKeepAlive, true},
		{"ReusePort", c.ReusePort, false},
		{"LimitOpenFiles", c.LimitOpenFiles, 4096},
		{"HeaderServer", c.HeaderServer, true},
		{"ServerName", c.ServerName, "edge-test"},
		{"HeaderDate", c.HeaderDate, true},
		{"NoContentType", c.NoContentType, true},
		{"ErrorClose", c.ErrorClose, edge.CloseImmediately},
		{"Debug", c.Debug, true},
		{"logFormat", fc.logFormat, "json"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}

	// The binary's defaults.
	fc, err = parseConfig("edge.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if fc.cfg.ReusePort || fc.cfg.LimitOpenFiles != -1 || fc.logFormat != "text" || fc.cfg.DisableNoDelay || fc.cfg.NoContentType {
		t.Errorf("defaults: %+v, logFormat %q", fc.cfg, fc.logFormat)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"15", 15 * time.Second, true},
		{"-1", -time.Second, true},
		{"120s", 120 * time.Second, true},
		{"2m", 2 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"250ms", 250 * time.Millisecond, true},
		{"-1s", -time.Second, true},
		{"12 parsecs", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
		{"99999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1024", 1024, true},
		{"1_000", 1000, true},
		{"10B", 10, true},
		{"1KiB", 1024, true},
		{"1 MiB", 1 << 20, true},
		{"2GiB", 2 << 30, true},
		{"1KB", 1000, true},
		{"1mb", 1e6, true},
		{"3GB", 3e9, true},
		{"16K", 16 << 10, true},
		{"1M", 1 << 20, true},
		{"-1", 0, false},
		{"+1", 0, false},
		{"MiB", 0, false},
		{"1.5MiB", 0, false},
		{"3 furlongs", 0, false},
		{"99999999999GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseListen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in            string
		network, addr string
		key           string
	}{
		{":8089", "tcp", ":8089", "tcp :8089"},
		{"0.0.0.0:8089", "tcp", "0.0.0.0:8089", "tcp :8089"},
		{"[::]:8089", "tcp", "[::]:8089", "tcp :8089"},
		{"127.0.0.1:80", "tcp", "127.0.0.1:80", "tcp 127.0.0.1:80"},
		{"[::ffff:127.0.0.1]:80", "tcp", "[::ffff:127.0.0.1]:80", "tcp 127.0.0.1:80"},
		{"[::1]:80", "tcp", "[::1]:80", "tcp [::1]:80"},
		{"LocalHost:80", "tcp", "LocalHost:80", "tcp localhost:80"},
		{"127.0.0.1:0", "tcp", "127.0.0.1:0", ""},
		{"unix:/run/edge.sock", "unix", "/run/edge.sock", "unix /run/edge.sock"},
		{"unix:edge.sock", "unix", "/etc/edge/edge.sock", "unix /etc/edge/edge.sock"},
		{"unix:@edge", "unix", "@edge", "unix @edge"},
	}
	for _, tt := range tests {
		network, addr, err := parseListen(tt.in, "/etc/edge")
		if err != nil || network != tt.network || addr != tt.addr {
			t.Errorf("parseListen(%q) = %q, %q, %v; want %q, %q", tt.in, network, addr, err, tt.network, tt.addr)
			continue
		}
		if k := addrKey(network, addr); k != tt.key {
			t.Errorf("addrKey(%q, %q) = %q, want %q", network, addr, k, tt.key)
		}
	}
	for _, bad := range []string{"8089", ":", "host", ":-1", ":+80", ":65536", "a b:1", "unix:", "[::1:80"} {
		if n, a, err := parseListen(bad, "/"); err == nil {
			t.Errorf("parseListen(%q) = %q, %q; want an error", bad, n, a)
		}
	}
}

func TestValidHostPattern(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"example.com", "EXAMPLE.com", "a-b.example.com", "localhost", "*.example.com",
		"example.com:8443", "*.example.com:443", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:8080", "_dmarc.x"} {
		if !validHostPattern(h) {
			t.Errorf("validHostPattern(%q) = false", h)
		}
	}
	for _, h := range []string{"a b", "a..b", "-a.com", "a.com:", "a.com:0", "a.com:x", "*", "*.", "a.*.com", "::1",
		"[::1", "[x]", "[::1]:", "[::1]x", "a/b", "a.com:99999"} {
		if validHostPattern(h) {
			t.Errorf("validHostPattern(%q) = true", h)
		}
	}
}

func TestFullConfig(t *testing.T) {
	t.Parallel()
	name := filepath.Join("testdata", "full.yaml")
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := parseConfig(name, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.listeners) != 3 {
		t.Fatalf("%d listeners, want 3", len(fc.listeners))
	}
	if l := fc.listeners[0]; !l.tls || l.defaultHost != "example.com" || fc.tls.hostPolicy != edge.HostMatchesSNI ||
		fc.tls.backend.MinVersion != tls.VersionTLS12 || fc.tls.backend.TicketKeyRotation != 12*time.Hour {
		t.Errorf("tls settings: %+v %+v", l, fc.tls)
	}
	abs, _ := filepath.Abs("testdata")
	if l := fc.listeners[2]; l.network != "unix" || l.address != filepath.Join("testdata", "edge.sock") && l.address != filepath.Join(abs, "edge.sock") {
		t.Errorf("unix listener: %s %s", l.network, l.address)
	}
	routes := fc.listeners[1].hosts[0].routes
	if n := len(routes); n != 10 {
		t.Errorf("%d routes in the first host, want 10", n)
	}
	if fc.cfg.PingInterval != 30*time.Second {
		t.Errorf("pingInterval %v", fc.cfg.PingInterval)
	}
	for _, rc := range routes {
		if rc.action == "stream" && rc.paths[0] == "/echo" {
			sc := rc.stream
			if sc.mode != modeEcho || strings.Join(sc.protocols, ",") != "echo.v2,echo.v1" || sc.maxMessage != 1<<20 || sc.queueBytes != 1<<20 || sc.compression {
				t.Errorf("echo stream: %+v", sc)
			}
		}
	}
	if _, err := fc.build(discard); err != nil {
		t.Fatal(err)
	}
	fc.closeTLS()
}

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	fc, err := parseConfig(defaultConfigName, defaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.listeners) != 2 || fc.listeners[0].address != ":8009" || !fc.listeners[0].tls ||
		fc.listeners[1].address != ":8089" || fc.listeners[1].tls {
		t.Errorf("listeners: want TLS on :8009 and plain HTTP on :8089")
	}
	if !fc.cfg.HeaderServer || !fc.cfg.HeaderDate {
		t.Errorf("headerServer %v, headerDate %v; want both", fc.cfg.HeaderServer, fc.cfg.HeaderDate)
	}
	// The demo chat on the HTTPS listener, with its page from the site.
	var chat *streamConfig
	for _, rc := range fc.listeners[0].hosts[0].routes {
		if rc.action == "stream" && rc.kind == matchPath && rc.paths[0] == "/chat" {
			chat = rc.stream
		}
	}
	if chat == nil || chat.mode != modeChat || !chat.compression || chat.page != "embed:chat.html" {
		t.Errorf("default config: chat stream %+v, want /chat in chat mode, compressed, with embed:chat.html", chat)
	}
	if _, err := fc.build(discard); err != nil {
		t.Fatal(err)
	}
	fc.closeTLS()
}

// TestBuildErrors covers what only loading finds.
func TestBuildErrors(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	name := filepath.Join(dir, "edge.yaml")

	// A file no request path can name.
	if err := os.WriteFile(filepath.Join(dir, "public", "bad\x01name"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	fc, err := parseConfig(name, []byte(withRoute("prefix: /", "static: public")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fc.build(discard)
	if err == nil || !strings.HasPrefix(err.Error(), name+":6:21: listeners[0].hosts[0].routes[0].static: static: load bad") {
		t.Errorf("build error %v", err)
	}

	if os.Getuid() == 0 {
		t.Skip("root reads unreadable files")
	}
	secret := filepath.Join(dir, "secret.html")
	if err := os.WriteFile(secret, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	fc, err = parseConfig(name, []byte(withRoute("path: /", "file: ./secret.html")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fc.build(discard)
	if err == nil || !strings.HasPrefix(err.Error(), name+":6:19: listeners[0].hosts[0].routes[0].file: ") || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("build error %v", err)
	}
}

// tlsHost is a config with one TLS listener and one host, a.com, whose
// first key is line (at 6:9; its value at 6:23 for certificates:).
func tlsHost(line string) string {
	return "listeners:\n  - listen: \":1\"\n    tls: true\n    hosts:\n      - host: a.com\n        " + line + "\n        fallback: {}\n"
}

func TestValidRoom(t *testing.T) {
	t.Parallel()
	for _, r := range []string{"a", "lobby", "Room_1-b", strings.Repeat("x", 64)} {
		if !validRoom(r) {
			t.Errorf("validRoom(%q) = false", r)
		}
	}
	for _, r := range []string{"", "a b", "a/b", "été", "a.b", "a\x00", strings.Repeat("x", 65)} {
		if validRoom(r) {
			t.Errorf("validRoom(%q) = true", r)
		}
	}
}
