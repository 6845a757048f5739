module github.com/edge-rt/edge/bench

go 1.26.0

require (
	github.com/edge-rt/edge v0.0.0
	github.com/gobwas/ws v1.5.0
	golang.org/x/sys v0.49.0
)

require (
	github.com/andybalholm/brotli v1.2.8 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/pires/go-proxyproto v0.15.0 // indirect
)

replace github.com/edge-rt/edge => ../
