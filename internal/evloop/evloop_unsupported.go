//go:build !linux

package evloop

// edge runs on Linux only: its event loop is epoll. Building for another
// system stops here, with the reason in the compiler's message.
var _ = edge_runs_on_linux_only_it_needs_epoll_splice_and_inotify
