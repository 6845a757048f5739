package edge

import (
	"fmt"
	"time"
)

func debugDump(s *Server) string {
	out := ""
	for i, w := range s.workers {
		ch := make(chan string, 1)
		w.loop.Submit(func() {
			str := fmt.Sprintf("worker %d: nconns=%d dirty=%d wsIdle=%d writing=%d reading=%d;", i, w.nconns, len(w.dirty), w.wsIdle.n, w.writing.n, w.reading.n)
			for _, l := range []*connList{&w.wsIdle, &w.writing, &w.reading} {
				for c := l.head; c != nil; c = c.next {
					ql := -1
					if c.h != nil {
						if q := c.h.q.Load(); q != nil {
							ql = q.Len()
						}
					}
					str += fmt.Sprintf(" [conn fd=%d ws=%v qblocked=%v pend=%d events=%x qlen=%d closeAfter=%v]", c.fd, c.ws != nil, c.qblocked, len(c.pend), c.events, ql, c.closeAfter)
				}
			}
			ch <- str
		})
		select {
		case s := <-ch:
			out += s + "\n"
		case <-time.After(2 * time.Second):
			out += fmt.Sprintf("worker %d: loop BLOCKED\n", i)
		}
	}
	return out
}
