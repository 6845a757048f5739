module github.com/edge-rt/edge/bench

go 1.26
