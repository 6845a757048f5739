//go:build goexperiment.boringcrypto

// Command notenabled is built by TestNotEnabled with CGO_ENABLED=0, where
// GOEXPERIMENT=boringcrypto compiles but BoringCrypto is not linked in: it
// prints what Check and NewServer return.
package main

import (
	"crypto/tls"
	"fmt"

	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/boringcrypto"
)

func main() {
	fmt.Println("Check:", boringcrypto.Check())
	_, err := boringcrypto.New().NewServer(&tlsbackend.Config{
		GetCertificate: func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return nil, nil },
	})
	fmt.Println("NewServer:", err)
}
