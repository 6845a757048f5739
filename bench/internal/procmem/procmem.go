// Package procmem reads a process's memory from /proc and raises the
// open-files limit, for the bench load tools.
package procmem

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Mem is one reading of a process's memory, in bytes.
type Mem struct {
	RSS, PSS, Private int64
	Rollup            bool // PSS and Private are known
}

// Read sums the memory of the processes pids.
func Read(pids []int) (Mem, error) {
	m := Mem{Rollup: true}
	for _, pid := range pids {
		kb, err := procFields(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
		if err != nil {
			return m, err
		}
		m.RSS += kb["VmRSS:"] * 1024
		r, err := procFields(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:", "Private_Clean:", "Private_Dirty:")
		if err != nil {
			m.Rollup = false
			continue
		}
		m.PSS += r["Pss:"] * 1024
		m.Private += (r["Private_Clean:"] + r["Private_Dirty:"]) * 1024
	}
	return m, nil
}

// procFields reads "Name:   123 kB" lines of a /proc file.
func procFields(path string, names ...string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(names))
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, n := range names {
			if f[0] == n {
				v, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %v", path, n, err)
				}
				out[n] = v
			}
		}
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("%s: no %s line", path, n)
		}
	}
	return out, nil
}

func RaiseNofile(need int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return err
		}
	}
	if uint64(need) > rl.Cur {
		return fmt.Errorf("need %d open files, RLIMIT_NOFILE is %d", need, rl.Cur)
	}
	return nil
}
