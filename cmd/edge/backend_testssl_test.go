package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testsslFinding is one entry of testssl.sh's --jsonfile output.
type testsslFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

// TestE2ETestssl scans the edge binary, built with this test's TLS backend,
// with testssl.sh (Debian package testssl.sh): protocols, cipher categories
// and vulnerabilities. It fails on SSLv2, SSLv3, TLS 1.0 or TLS 1.1
// offered, on NULL, anonymous, export, LOW, 3DES/IDEA or CBC suites
// offered, on any finding rated LOW or above, and on a scan that did not
// run every check.
func TestE2ETestssl(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a testssl.sh scan takes about two minutes (-short)")
	}
	bin, err := exec.LookPath("testssl")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("testssl not installed (apt-get install testssl.sh); in CI this test fails instead")
		}
		t.Fatalf("testssl is required in CI (apt-get install testssl.sh): %v", err)
	}
	f := newCertFixture(t)
	f.write(t, "a.test", "certs/a.test", "a.test")
	p := startEdge(t, f.dir, oneHostConfig, "") // tls_e2e_test.go
	out := filepath.Join(t.TempDir(), "testssl.json")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--quiet", "--color", "0", "--warnings", "off",
		"--protocols", "--std", "--vulnerable", "--jsonfile", out, p.addr)
	cmd.WaitDelay = 5 * time.Second
	text, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("testssl did not finish in 8 minutes:\n%s", text)
	}
	if err != nil {
		t.Fatalf("testssl: %v\n%s", err, text)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var findings []testsslFinding
	if err := json.Unmarshal(data, &findings); err != nil {
		t.Fatalf("testssl's JSON: %v\n%s", err, data)
	}
	got := map[string]testsslFinding{}
	var summary []string
	for _, fd := range findings {
		got[fd.ID] = fd
		summary = append(summary, fd.ID+": "+fd.Finding+" ("+fd.Severity+")")
		switch fd.Severity {
		case "LOW", "MEDIUM", "HIGH", "CRITICAL", "WARN", "FATAL":
			t.Errorf("%s backend: testssl reports %s: %s (%s)", tlsBackend().Name(), fd.ID, fd.Finding, fd.Severity)
		}
	}
	t.Logf("testssl.sh on the %s backend (%s):\n%s", tlsBackend().Name(), tlsLibrary(), strings.Join(summary, "\n"))
	want := map[string]string{
		"SSLv2": "not offered", "SSLv3": "not offered", "TLS1": "not offered", "TLS1_1": "not offered",
		"TLS1_2": "offered", "TLS1_3": "offered",
		"cipherlist_NULL": "not offered", "cipherlist_aNULL": "not offered", "cipherlist_EXPORT": "not offered",
		"cipherlist_LOW": "not offered", "cipherlist_3DES_IDEA": "not offered",
		"cipherlist_AVERAGE": "not offered", // CBC suites
		"cipherlist_STRONG":  "offered",     // AEAD suites
	}
	for id, w := range want {
		fd, ok := got[id]
		if !ok {
			t.Errorf("testssl reported nothing for %s", id)
		} else if !strings.HasPrefix(fd.Finding, w) {
			t.Errorf("%s: %q, want %q", id, fd.Finding, w)
		}
	}
	// Every vulnerability check ran (each rated OK or INFO above).
	for _, id := range []string{"heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego",
		"CRIME_TLS", "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST", "LUCKY13", "RC4"} {
		if _, ok := got[id]; !ok {
			t.Errorf("testssl did not report on %s", id)
		}
	}
}
