//go:build openssl

package ossltest

/*
#include <malloc.h>
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
)

// CHeapInUse returns the bytes glibc's malloc has handed out and not got
// back, over all arenas (mallinfo2: uordblks + hblkhd).
func CHeapInUse() uint64 {
	m := C.mallinfo2()
	return uint64(m.uordblks) + uint64(m.hblkhd)
}

// Trim returns the C heap's free memory to the system (malloc_trim(0)).
func Trim() { C.malloc_trim(0) }

// Settle runs the garbage collector (twice, so that cleanups attached to
// freed objects run and their C memory is freed), returns Go's free
// memory to the system and trims the C heap.
func Settle() {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	Trim()
}

// RSS returns the process's resident set size in bytes, from
// /proc/self/statm.
func RSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("ossltest: %w", err)
	}
	var size, resident uint64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0, fmt.Errorf("ossltest: parse /proc/self/statm: %w", err)
	}
	return resident * uint64(os.Getpagesize()), nil
}
