package proxy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseBackend(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		network string
		sa      string // fmt of the Sockaddr's fields; "" for an error
	}{
		{"127.0.0.1:9001", "tcp", "&{Port:9001 Addr:[127 0 0 1]"},
		{"[::1]:9001", "tcp", "&{Port:9001 ZoneId:0 Addr:[0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1]"},
		{"[::ffff:10.0.0.1]:80", "tcp", "&{Port:80 Addr:[10 0 0 1]"},
		{"localhost:9001", "tcp", "&{Port:9001 Addr:[127 0 0 1]"},
		{"unix:/run/app.sock", "unix", "&{Name:/run/app.sock"},
		{"unix:@abstract", "unix", "&{Name:@abstract"},
		{"127.0.0.1", "", ""},
		{"127.0.0.1:", "", ""},
		{"127.0.0.1:0", "", ""},
		{"127.0.0.1:65536", "", ""},
		{"127.0.0.1:http", "", ""},
		{"127.0.0.1:+80", "", ""},
		{":80", "", ""},
		{"[::1]", "", ""},
		{"unix:", "", ""},
		{"unix:" + strings.Repeat("a", 108), "", ""},
		{"no-such-host.invalid:80", "", ""},
		{"http://127.0.0.1:80", "", ""},
		{"", "", ""},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			t.Parallel()
			b, err := ParseBackend(c.in)
			if c.sa == "" {
				if err == nil {
					t.Fatalf("no error: %+v", b.Sockaddr())
				}
				if !strings.HasPrefix(err.Error(), "proxy: backend ") {
					t.Fatalf("error %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != c.in || b.Network() != c.network {
				t.Fatalf("String %q, Network %q", b.String(), b.Network())
			}
			sa := b.Sockaddr()
			if got := fmt.Sprintf("%+v", sa); !strings.HasPrefix(got, c.sa) {
				t.Fatalf("Sockaddr %s, want %s...", got, c.sa)
			}
			if sa == b.Sockaddr() {
				t.Fatal("Sockaddr returns a shared value")
			}
			want := map[string]int{"tcp": unix.AF_INET, "unix": unix.AF_UNIX}[c.network]
			if _, ok := sa.(*unix.SockaddrInet6); ok {
				want = unix.AF_INET6
			}
			if b.Family() != want {
				t.Fatalf("Family %d, want %d", b.Family(), want)
			}
		})
	}
}

// TestPassiveBackoff drives Fail and Succeed with an injected clock.
func TestPassiveBackoff(t *testing.T) {
	t.Parallel()
	b, err := ParseBackend("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	now := int64(1e18)
	s := int64(time.Second)
	if !b.Up(now) {
		t.Fatal("new backend down")
	}
	// Each failure after the backoff doubles it: 1, 2, 4, 8, 16, 30, 30 s.
	for _, d := range []int64{1, 2, 4, 8, 16, 30, 30} {
		b.Fail(now)
		if b.Up(now) || b.Up(now+d*s-1) {
			t.Fatalf("up before %ds", d)
		}
		b.Fail(now + s/2) // a connect that was in flight: no longer backoff
		if !b.Up(now + d*s) {
			t.Fatalf("still down after %ds", d)
		}
		now += d * s
	}
	b.Succeed()
	b.Fail(now)
	if b.Up(now+s-1) || !b.Up(now+s) {
		t.Fatal("Succeed did not reset the backoff to 1s")
	}
	b.Succeed()
	if !b.Up(now) {
		t.Fatal("down after Succeed")
	}
}

func TestActive(t *testing.T) {
	t.Parallel()
	b, _ := ParseBackend("127.0.0.1:1")
	b.Acquire()
	b.Acquire()
	b.Release()
	if b.Active() != 1 {
		t.Fatalf("Active %d", b.Active())
	}
}

func newRoute(t testing.TB, bal Balance, n int) *Route {
	t.Helper()
	r := &Route{Balance: bal}
	for i := range n {
		r.To = append(r.To, fmt.Sprintf("127.0.0.1:%d", 9001+i))
	}
	if err := r.Init(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoundRobin(t *testing.T) {
	t.Parallel()
	r := newRoute(t, RoundRobin, 3)
	bs := r.Backends()
	var got []string
	for range 6 {
		got = append(got, r.Pick(0, nil).Addr)
	}
	want := []string{bs[0].Addr, bs[1].Addr, bs[2].Addr, bs[0].Addr, bs[1].Addr, bs[2].Addr}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	// A down backend is skipped, and so is exclude.
	bs[1].Fail(0)
	for range 6 {
		if b := r.Pick(1, bs[2]); b != bs[0] {
			t.Fatalf("picked %v with 1 down and 2 excluded", b)
		}
	}
	bs[0].Fail(0)
	if b := r.Pick(1, bs[2]); b != nil {
		t.Fatalf("picked %v with all down or excluded", b)
	}
	if b := r.Pick(1, nil); b != bs[2] {
		t.Fatalf("picked %v, want the only one up", b)
	}
}

func TestLeastConn(t *testing.T) {
	t.Parallel()
	r := newRoute(t, LeastConn, 4)
	bs := r.Backends()
	for i, n := range []int{3, 1, 2, 1} {
		for range n {
			bs[i].Acquire()
		}
	}
	seen := map[*Backend]int{}
	for range 20 {
		b := r.Pick(0, nil)
		if b != bs[1] && b != bs[3] {
			t.Fatalf("picked %v with %d active", b, b.Active())
		}
		seen[b]++
	}
	if seen[bs[1]] == 0 || seen[bs[3]] == 0 {
		t.Fatalf("ties not spread: %v", seen)
	}
	if b := r.Pick(0, bs[1]); b != bs[3] {
		t.Fatalf("picked %v excluding 1", b)
	}
	bs[3].Fail(0)
	if b := r.Pick(1, bs[1]); b != bs[2] {
		t.Fatalf("picked %v, want the least active up one", b)
	}
	for _, b := range bs {
		b.Fail(0)
	}
	if b := r.Pick(1, nil); b != nil {
		t.Fatalf("picked %v with all down", b)
	}
}

func TestRandom2(t *testing.T) {
	t.Parallel()
	r := newRoute(t, Random2, 5)
	bs := r.Backends()
	bs[0].Fail(0)
	bs[3].Fail(0)
	bs[4].Acquire() // 4 loses every draw against 1 and 2
	seen := map[*Backend]int{}
	for range 2000 {
		b := r.Pick(1, nil)
		switch b {
		case bs[0], bs[3], nil:
			t.Fatalf("picked %v, down", b)
		}
		seen[b]++
	}
	if seen[bs[1]] < 400 || seen[bs[2]] < 400 {
		t.Fatalf("draws: %v", seen)
	}
	// With three up, each pair holds 1 or 2, which have fewer active than 4.
	if seen[bs[4]] != 0 {
		t.Fatalf("picked the busier backend %d times", seen[bs[4]])
	}
	if b := r.Pick(1, bs[1]); b != bs[2] {
		t.Fatalf("picked %v excluding 1: want 2 (4 is busier)", b)
	}
	bs[2].Fail(0)
	if b := r.Pick(1, bs[1]); b != bs[4] {
		t.Fatalf("picked %v, want the only one left", b)
	}
	bs[4].Fail(0)
	if b := r.Pick(1, bs[1]); b != nil {
		t.Fatalf("picked %v, want nil", b)
	}
}

func TestRouteInit(t *testing.T) {
	t.Parallel()
	r := &Route{To: []string{"127.0.0.1:1"}, HealthCheck: &HealthCheck{Interval: time.Second}}
	if err := r.Init(); err != nil {
		t.Fatal(err)
	}
	if r.ConnectTimeout != DefaultConnectTimeout || r.ResponseTimeout != DefaultResponseTimeout ||
		r.IdleTimeout != DefaultIdleTimeout || r.MaxIdle != DefaultMaxIdle || r.HealthCheck.Timeout != time.Second {
		t.Fatalf("defaults: %+v %+v", r, r.HealthCheck)
	}
	r.To = append(r.To, "bad")
	if err := r.Init(); err != nil || len(r.Backends()) != 1 {
		t.Fatalf("second Init: %v, %d backends", err, len(r.Backends()))
	}
	neg := &Route{To: []string{"127.0.0.1:1"}, ResponseTimeout: -1, MaxIdle: -1}
	if err := neg.Init(); err != nil || neg.ResponseTimeout != -1 || neg.MaxIdle != -1 {
		t.Fatalf("negative: %v %+v", err, neg)
	}

	bad := []struct {
		r    Route
		want string
	}{
		{Route{}, "proxy: to: no backend"},
		{Route{To: []string{"127.0.0.1:1", "x"}}, `proxy: to[1] "x": `},
		{Route{To: []string{"127.0.0.1:1"}, Mode: 2}, "proxy: mode: "},
		{Route{To: []string{"127.0.0.1:1"}, Balance: 3}, "proxy: balance: "},
		{Route{To: []string{"127.0.0.1:1"}, ProxyProtocol: 3}, "proxy: proxyProtocol: "},
		{Route{To: []string{"127.0.0.1:1"}, ConnectTimeout: -1}, "proxy: connectTimeout: "},
		{Route{To: []string{"127.0.0.1:1"}, IdleTimeout: -1}, "proxy: idleTimeout: "},
		{Route{To: []string{"127.0.0.1:1"}, HealthCheck: &HealthCheck{Interval: -1}}, "proxy: healthCheck: interval: "},
		{Route{To: []string{"127.0.0.1:1"}, HealthCheck: &HealthCheck{Timeout: -1}}, "proxy: healthCheck: timeout: "},
		{Route{To: []string{"127.0.0.1:1"}, HealthCheck: &HealthCheck{Path: "healthz"}}, "proxy: healthCheck: path "},
		{Route{To: []string{"127.0.0.1:1"}, HealthCheck: &HealthCheck{Path: "/a b"}}, "proxy: healthCheck: path "},
	}
	for _, c := range bad {
		err := c.r.Init()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %s...", c.r, err, c.want)
		}
		if c.r.Backends() != nil || c.r.Pick(0, nil) != nil {
			t.Errorf("%+v: backends after a failed Init", c.r)
		}
	}
}

func TestEnums(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"request", "pin"} {
		if m, err := ParseMode(s); err != nil || m.String() != s {
			t.Errorf("mode %q: %v, %v", s, m, err)
		}
	}
	for _, s := range []string{"roundRobin", "leastConn", "random2"} {
		if b, err := ParseBalance(s); err != nil || b.String() != s {
			t.Errorf("balance %q: %v, %v", s, b, err)
		}
	}
	for _, s := range []string{"off", "v1", "v2"} {
		if p, err := ParseProxyProtocol(s); err != nil || p.String() != s {
			t.Errorf("proxyProtocol %q: %v, %v", s, p, err)
		}
	}
	if _, err := ParseMode("Pin"); err == nil {
		t.Error("mode Pin accepted")
	}
	if _, err := ParseBalance("rr"); err == nil {
		t.Error("balance rr accepted")
	}
	if _, err := ParseProxyProtocol("v3"); err == nil {
		t.Error("proxyProtocol v3 accepted")
	}
	if Mode(9).String() != "Mode(9)" || Balance(9).String() != "Balance(9)" || ProxyProtocol(9).String() != "ProxyProtocol(9)" {
		t.Error("String of an invalid value")
	}
}
