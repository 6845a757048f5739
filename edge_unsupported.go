//go:build !linux

package edge

// edge runs on Linux only: epoll event loops, splice(2) and inotify.
// Building for another system stops here, with the reason in the
// compiler's message.
var _ = edge_runs_on_linux_only_it_needs_epoll_splice_and_inotify
