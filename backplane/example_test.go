package backplane_test

import (
	"fmt"
	"log"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/backplane"
)

// Attach a server's Hub to NATS: from then on SendTag reaches the tag's
// clients on every node, and backends publish to Subject(tag).
func ExampleNew() {
	srv := edge.New(&edge.Config{})
	bp, err := backplane.New(srv.Hub(), backplane.Config{
		URLs:  []string{"nats://127.0.0.1:4222"},
		Token: "s3cret",
		Name:  "edge-1",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer bp.Close()
	fmt.Println(bp.Subject("room:lobby"))
}

func ExampleEncodeTag() {
	fmt.Println(backplane.DefaultSubjectPrefix + backplane.EncodeTag("room:lobby"))
	fmt.Println(backplane.DefaultSubjectPrefix + backplane.EncodeTag("user.42 *"))
	tag, ok := backplane.DecodeTag("user%2E42%20%2A")
	fmt.Printf("%q %v\n", tag, ok)
	// Output:
	// edge.tag.room:lobby
	// edge.tag.user%2E42%20%2A
	// "user.42 *" true
}
