package clienthello

import (
	"crypto/sha256"
	"fmt"
)

func sha12(s string) string {
	return fmt.Sprintf("%x", sha256.Sum256([]byte(s)))[:12]
}
