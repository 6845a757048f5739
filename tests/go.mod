module github.com/edge-rt/edge/tests

go 1.26.0

replace github.com/edge-rt/edge => ../

require (
	github.com/edge-rt/edge v0.0.0-00010101000000-000000000000
	github.com/refraction-networking/utls v1.8.2
)

require (
	github.com/andybalholm/brotli v1.2.8 // indirect
	github.com/klauspost/compress v1.17.4 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
