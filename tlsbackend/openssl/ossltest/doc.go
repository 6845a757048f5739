// Package ossltest helps tests of code built on the OpenSSL backend
// (build tag openssl) check that the C side returns its memory: the C
// heap in use as glibc counts it, malloc_trim, and the process's resident
// set. Without the tag the package is empty.
package ossltest
