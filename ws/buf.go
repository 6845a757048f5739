package ws

import (
	"math/bits"
	"sync"
)

// Message buffers come from pools of power-of-two size classes shared by
// every Decoder, so an idle connection holds no buffer and a busy one
// borrows only while a message is open or its event is in use.
const (
	minBufShift = 12 // 4 KiB
	numBufClass = 11 // up to 4 MiB; larger buffers are left to the GC
)

var bufPools [numBufClass]sync.Pool

// bufClass returns the smallest class that holds n bytes, or -1 when n is
// beyond the largest class.
func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	c := bits.Len(uint(n-1)) - minBufShift
	if c >= numBufClass {
		return -1
	}
	return c
}

// getBuf returns an empty buffer with room for at least n bytes.
func getBuf(n int) *[]byte {
	c := bufClass(n)
	if c < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	if v := bufPools[c].Get(); v != nil {
		return v.(*[]byte)
	}
	b := make([]byte, 0, 1<<(minBufShift+c))
	return &b
}

// putBuf gives b back to its pool (nil is ignored). The caller must not use
// it afterwards.
func putBuf(b *[]byte) {
	if b == nil {
		return
	}
	c := bufClass(cap(*b))
	if c < 0 || cap(*b) != 1<<(minBufShift+c) {
		return
	}
	*b = (*b)[:0]
	bufPools[c].Put(b)
}

// growBuf makes room for n more bytes in b (which may be nil), doubling, but
// not far past limit: buffers grow with the bytes that arrive, never with a
// length a peer declared.
func growBuf(b *[]byte, n, limit int) *[]byte {
	if b != nil && cap(*b)-len(*b) >= n {
		return b
	}
	need := n
	if b != nil {
		need += len(*b)
		need = max(need, min(2*cap(*b), limit))
	}
	nb := getBuf(need)
	if b != nil {
		*nb = append(*nb, *b...)
		putBuf(b)
	}
	return nb
}
