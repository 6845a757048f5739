package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Packaging checks: docker/ and the systemd unit. No Docker engine runs
// here and hadolint is neither in Debian nor a Go module, so
// TestDockerfiles checks the Dockerfiles against the hadolint rules that
// apply to them (named below), and that each builds with docker/build.sh,
// the script test.sh runs for every backend: an image is built the way CI
// proves.

// dockerStep is one instruction of a Dockerfile, continuation lines
// joined.
type dockerStep struct {
	line int
	op   string // upper case
	args string
}

func parseDockerfile(t *testing.T, path string) []dockerStep {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []dockerStep
	var cur *dockerStep
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur == nil && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur == nil {
			op, args, _ := strings.Cut(line, " ")
			steps = append(steps, dockerStep{line: n, op: strings.ToUpper(op)})
			cur = &steps[len(steps)-1]
			line = args
		}
		cont := strings.HasSuffix(line, `\`)
		cur.args += " " + strings.TrimSpace(strings.TrimSuffix(line, `\`))
		if !cont {
			cur.args = strings.TrimSpace(cur.args)
			cur = nil
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return steps
}

func TestDockerfiles(t *testing.T) {
	t.Parallel()
	testSh, err := os.ReadFile("../../test.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"stdlib", "openssl", "boringcrypto"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("../../docker", "Dockerfile."+backend)
			steps := parseDockerfile(t, path)
			stages := map[string]bool{}
			var lastFrom, builds int
			var finalUser string
			for i, s := range steps {
				at := func(format string, args ...any) {
					t.Helper()
					t.Errorf("%s:%d: %s: "+format, append([]any{path, s.line, s.op}, args...)...)
				}
				switch s.op {
				case "FROM":
					lastFrom, finalUser = i, ""
					f := strings.Fields(s.args)
					image := f[0]
					// DL3006/DL3007: a tagged image, never latest.
					if !strings.Contains(image, ":") || strings.HasSuffix(image, ":latest") {
						at("image %q: name a tag other than latest", image)
					}
					if len(f) == 3 && strings.EqualFold(f[1], "AS") {
						stages[f[2]] = true
					}
				case "ADD": // DL3020
					at("use COPY")
				case "WORKDIR": // DL3000
					if !strings.HasPrefix(s.args, "/") {
						at("relative WORKDIR %q", s.args)
					}
				case "COPY":
					if from, ok := strings.CutPrefix(s.args, "--from="); ok { // DL3022
						if name, _, _ := strings.Cut(from, " "); !stages[name] {
							at("--from=%s is no earlier stage", name)
						}
					}
				case "USER":
					finalUser = s.args
				case "ENTRYPOINT", "CMD": // DL3025
					if !strings.HasPrefix(s.args, "[") {
						at("use the JSON (exec) form")
					}
				case "RUN":
					if strings.Contains(s.args, "apt-get install") {
						// DL3014, DL3015, DL3009.
						if !strings.Contains(s.args, " -y ") || !strings.Contains(s.args, "--no-install-recommends") {
							at("apt-get install needs -y and --no-install-recommends")
						}
						if !strings.Contains(s.args, "rm -rf /var/lib/apt/lists/*") {
							at("remove /var/lib/apt/lists in the same RUN")
						}
						if !strings.Contains(s.args, "apt-get update") {
							at("apt-get update in the same RUN as install")
						}
					}
					if strings.Contains(s.args, "|") && !strings.Contains(s.args, "||") { // DL4006
						at("a pipe without pipefail")
					}
					if strings.Contains(s.args, "go build") {
						at("build with docker/build.sh, the command CI runs")
					}
					if strings.Contains(s.args, "docker/build.sh") {
						builds++
						if !strings.HasPrefix(s.args, "./docker/build.sh "+backend+" ") {
							at("%q does not build backend %s", s.args, backend)
						}
					}
				}
			}
			if builds != 1 {
				t.Errorf("%s: %d docker/build.sh steps, want 1", path, builds)
			}
			// DL3002: the image does not run as root.
			if u := strings.Split(finalUser, ":")[0]; u == "" || u == "root" || u == "0" {
				t.Errorf("%s: the final stage (line %d) runs as root: add USER", path, steps[lastFrom].line)
			}
			if !strings.Contains(string(testSh), "docker/build.sh "+backend+" ") {
				t.Errorf("test.sh does not run docker/build.sh %s: CI does not prove the image's build", backend)
			}
		})
	}
	// build.sh itself: one case per backend, refusing others.
	b, err := os.ReadFile("../../docker/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nstdlib)", "\nopenssl)", "\nboringcrypto)", "CGO_ENABLED=0 go build", "-tags openssl", "GOEXPERIMENT=boringcrypto go build"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("docker/build.sh lacks %q", want)
		}
	}
	out, err := exec.Command("sh", "../../docker/build.sh", "nonsense", os.DevNull).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unknown backend") {
		t.Errorf("build.sh with an unknown backend: %v %s", err, out)
	}
}

// TestSystemdUnit checks docker/edge.service with systemd-analyze verify
// (ExecStart pointed at the binary the tests built: verify checks that it
// exists) and that it has what the README promises.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	unit, err := os.ReadFile("../../docker/edge.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ExecStart=/usr/local/bin/edge -config /etc/edge/edge.yaml\n",
		"ExecReload=/bin/kill -HUP $MAINPID\n",
		"KillSignal=SIGTERM\n",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE\n",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
		"LimitNOFILE=",
		"NoNewPrivileges=yes\n",
		"ProtectSystem=strict\n",
		"PrivateTmp=yes\n",
		"ProtectHome=yes\n",
		"DynamicUser=yes\n",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("edge.service lacks %q", strings.TrimSpace(want))
		}
	}
	analyze := needProg(t, "systemd-analyze")
	dir := t.TempDir()
	local := strings.Replace(string(unit), "ExecStart=/usr/local/bin/edge ", "ExecStart="+edgeBin+" ", 1)
	path := filepath.Join(dir, "edge.service")
	if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// verify exits 0 on some mistakes (an unknown key, a bad value) and
	// only prints them: any output fails.
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The exposure score, for the record (lower is better).
	if out, err := exec.Command(analyze, "security", "--offline=yes", path).CombinedOutput(); err == nil {
		if m := regexp.MustCompile(`Overall exposure level for \S+: (.*)`).FindSubmatch(out); m != nil {
			t.Logf("systemd-analyze security: %s", m[1])
		}
	}
}
