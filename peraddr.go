package edge

import (
	"net/netip"
	"sync"
)

// addrCounts counts open connections per client address, for
// Config.MaxConnsPerAddr (nginx's limit_conn, HAProxy's maxconn per src).
// Sharded so that workers accepting at once rarely share a lock.
type addrCounts struct {
	limit  int32
	shards [32]addrShard
}

type addrShard struct {
	mu sync.Mutex
	n  map[netip.Addr]int32
	_  [40]byte // keep shards on separate cache lines
}

func (a *addrCounts) shard(ip netip.Addr) *addrShard {
	b := ip.As16()
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return &a.shards[h%uint32(len(a.shards))]
}

// acquire counts one more connection from ip; false (nothing counted) when
// ip is at the limit.
func (a *addrCounts) acquire(ip netip.Addr) bool {
	s := a.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = make(map[netip.Addr]int32)
	}
	if s.n[ip] >= a.limit {
		return false
	}
	s.n[ip]++
	return true
}

// release counts one connection from ip less.
func (a *addrCounts) release(ip netip.Addr) {
	s := a.shard(ip)
	s.mu.Lock()
	if s.n[ip] <= 1 {
		delete(s.n, ip)
	} else {
		s.n[ip]--
	}
	s.mu.Unlock()
}
