package ja4_test

import (
	"fmt"
	"os"

	"github.com/edge-rt/edge/ja4"
	"github.com/edge-rt/edge/sni"
)

func ExampleFingerprint() {
	raw, _ := os.ReadFile("testdata/hellos/chrome_133.bin") // bytes a client sent first
	h, err := sni.ParseClientHello(raw)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ja4.Fingerprint(h, ja4.TCP))
	// Output: t13d1516h2_8daaf6152771_d8a2da3f94cd
}
