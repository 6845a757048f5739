package broadcast

// keySet is a set of keys kept in a dense slice, for cache-friendly
// iteration, with an index map for O(1) removal once it holds more than
// linearMax keys (smaller sets are scanned: most clients have a few tags and
// most tags a few clients, and a map per set would cost more than it saves).
// Removal swaps the last key into the hole; remove reports both positions
// so that a caller keeping parallel values can mirror the move.
type keySet[K comparable] struct {
	keys []K
	idx  map[K]int32 // nil while len(keys) <= linearMax (built with hysteresis)
}

const (
	linearMax = 8             // index map built above this many keys
	linearMin = linearMax / 2 // and dropped below this many
	shrinkCap = 64            // a slice with more capacity shrinks when 1/4 full
)

func (s *keySet[K]) len() int { return len(s.keys) }

// find returns k's position, or -1.
func (s *keySet[K]) find(k K) int {
	if s.idx != nil {
		if i, ok := s.idx[k]; ok {
			return int(i)
		}
		return -1
	}
	for i, x := range s.keys {
		if x == k {
			return i
		}
	}
	return -1
}

// add appends k, which must not be in the set.
func (s *keySet[K]) add(k K) {
	s.keys = append(s.keys, k)
	if s.idx != nil {
		s.idx[k] = int32(len(s.keys) - 1)
	} else if len(s.keys) > linearMax {
		s.reindex()
	}
}

// remove deletes k: the key that was last moved to position i. It returns
// i = -1 when k was not in the set. shrunk reports that the slice was
// reallocated smaller, so the caller must shrink its parallel values too.
func (s *keySet[K]) remove(k K) (i, last int, shrunk bool) {
	i = s.find(k)
	if i < 0 {
		return -1, -1, false
	}
	last = len(s.keys) - 1
	if i != last {
		s.keys[i] = s.keys[last]
		if s.idx != nil {
			s.idx[s.keys[i]] = int32(i)
		}
	}
	var zero K
	s.keys[last] = zero
	s.keys = s.keys[:last]
	if s.idx != nil {
		delete(s.idx, k)
	}
	if cap(s.keys) > shrinkCap && len(s.keys) < cap(s.keys)/4 {
		s.keys = append(make([]K, 0, 2*len(s.keys)), s.keys...)
		shrunk = true
		if s.idx != nil {
			s.reindex() // maps never shrink: rebuild it at the new size
		}
	}
	if s.idx != nil && len(s.keys) < linearMin {
		s.idx = nil
	}
	return i, last, shrunk
}

func (s *keySet[K]) reindex() {
	s.idx = make(map[K]int32, len(s.keys))
	for i, k := range s.keys {
		s.idx[k] = int32(i)
	}
}

// reset empties the set and releases its memory.
func (s *keySet[K]) reset() { *s = keySet[K]{} }

// members are the clients of one tag, with their Sinks alongside so that
// SendTag never touches the client shards.
type members struct {
	ids   keySet[ClientID]
	sinks []Sink // parallel to ids.keys
}

func (m *members) add(id ClientID, s Sink) {
	m.ids.add(id)
	m.sinks = append(m.sinks, s)
}

func (m *members) remove(id ClientID) bool {
	i, last, shrunk := m.ids.remove(id)
	if i < 0 {
		return false
	}
	m.sinks[i] = m.sinks[last]
	m.sinks[last] = nil
	m.sinks = m.sinks[:last]
	if shrunk {
		m.sinks = append(make([]Sink, 0, cap(m.ids.keys)), m.sinks...)
	}
	return true
}
