module github.com/edge-rt/edge

go 1.26.0

require (
	github.com/andybalholm/brotli v1.2.8
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sys v0.49.0
)
