module github.com/edge-rt/edge/tests

go 1.26.0

replace github.com/edge-rt/edge => ../
