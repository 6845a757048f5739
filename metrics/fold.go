package metrics

import (
	"sync"
	"sync/atomic"
)

// Other is the label value every value outside a label's allow-set folds
// into, so that values clients choose (SNI, Host) cannot grow the number of
// series.
const Other = "_other"

// folder maps a raw value onto a bounded set of label values: the
// allow-set's when there is one, else the first max values seen. Lookups
// take no lock and allocate nothing; only learning a new value locks.
type folder struct {
	allow   map[string]string // immutable; nil: learn
	learn   bool
	max     int
	lower   bool // compare ASCII case-insensitively (server names)
	mu      sync.Mutex
	learned atomic.Pointer[map[string]string]
	full    atomic.Bool
}

// newAllow folds everything outside values into Other.
func newAllow(values []string, lower bool) *folder {
	f := &folder{allow: make(map[string]string, len(values)), lower: lower}
	for _, v := range values {
		if lower {
			v = toLower(v)
		}
		f.allow[v] = v
	}
	return f
}

// newFolder uses values as the allow-set when not nil, else learns up to
// max values.
func newFolder(values []string, max int) *folder {
	if values != nil {
		return newAllow(values, false)
	}
	return &folder{learn: true, max: max}
}

func (f *folder) fold(s string) string {
	if !f.learn {
		if v, ok := f.allow[s]; ok {
			return v
		}
		if f.lower && hasUpper(s) && len(s) <= 255 {
			var buf [255]byte
			b := buf[:len(s)]
			for i := 0; i < len(s); i++ {
				c := s[i]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				b[i] = c
			}
			if v, ok := f.allow[string(b)]; ok { // no allocation: map index by string(bytes)
				return v
			}
		}
		return Other
	}
	if m := f.learned.Load(); m != nil {
		if v, ok := (*m)[s]; ok {
			return v
		}
	}
	if f.full.Load() {
		return Other
	}
	return f.slow(s)
}

func (f *folder) slow(s string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.learned.Load()
	var m map[string]string
	if old != nil {
		if v, ok := (*old)[s]; ok {
			return v
		}
		if len(*old) >= f.max {
			f.full.Store(true)
			return Other
		}
		m = make(map[string]string, len(*old)+1)
		for k, v := range *old {
			m[k] = v
		}
	} else {
		m = make(map[string]string, 1)
	}
	v := string([]byte(s)) // own copy: the caller's may be borrowed
	m[v] = v
	f.learned.Store(&m)
	return v
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func toLower(s string) string {
	if !hasUpper(s) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// cache maps bounded keys to pre-resolved metric children: reads take no
// lock (a copy-on-write map behind an atomic pointer), and a miss copies
// the map once per new key. Keys must already be folded.
type cache[K comparable, V any] struct {
	p  atomic.Pointer[map[K]V]
	mu sync.Mutex
}

func (c *cache[K, V]) load(k K) (V, bool) {
	if m := c.p.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// store adds v under k unless k is there already, and returns the value
// kept.
func (c *cache[K, V]) store(k K, v V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.p.Load()
	m := make(map[K]V)
	if old != nil {
		if have, ok := (*old)[k]; ok {
			return have
		}
		for k2, v2 := range *old {
			m[k2] = v2
		}
	}
	m[k] = v
	c.p.Store(&m)
	return v
}
