package stream

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/item"
)

// FuzzDecodeEvent feeds arbitrary bytes to the stream event decoder (the
// Lambda's envelope and each record's Keys and NewImage): it must never
// panic; a record it accepts must have an image that re-encodes to itself,
// carry its key attributes, and map to one object whatever the order of its
// key attributes.
func FuzzDecodeEvent(f *testing.F) {
	if b, err := os.ReadFile("../../testdata/stream/batch.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"Records":[{"eventName":"INSERT","eventSourceARN":"arn:aws:dynamodb:us-east-1:1:table/T/stream/x","dynamodb":{"SequenceNumber":"1","ApproximateCreationDateTime":1.5,"Keys":{"pk":{"S":"a"},"sk":{"N":"1"}},"NewImage":{"sk":{"N":"1"},"pk":{"S":"a"},"b":{"B":"AAE="}}}}]}`))
	f.Add([]byte(`{"Records":[{"eventName":"REMOVE","eventSourceARN":"arn:aws:dynamodb:us-east-1:1:table/T/stream/x","dynamodb":{"SequenceNumber":"2","Keys":{"pk":{"S":"a"}}}}]}`))
	f.Add([]byte(`{"Records":[{"eventName":"MODIFY","dynamodb":{"SequenceNumber":"3","Keys":{"pk":{"N":"1e3"}},"NewImage":null}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev Event
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		for i := range ev.Records {
			c, err := decode(i, &ev.Records[i], "")
			if err != nil {
				continue
			}
			k1, err := backup.New(nil, "b", "p", c.table).ObjectKey(c.key)
			if err != nil {
				continue // a key the layout cannot name is refused at write time
			}
			// The same key, its attributes listed in another order.
			re, _ := item.Marshal(c.key)
			key2, err := item.Unmarshal(re)
			if err != nil {
				t.Fatalf("key %s does not decode again: %v", re, err)
			}
			if k2, _ := backup.New(nil, "b", "p", c.table).ObjectKey(key2); k1 != k2 {
				t.Fatalf("one key, two objects: %s %s", k1, k2)
			}
			if c.image == nil {
				continue
			}
			b1, err := item.Marshal(c.image)
			if err != nil {
				t.Fatalf("accepted image does not encode: %v", err)
			}
			back, err := item.Unmarshal(b1)
			if err != nil {
				t.Fatalf("encoded image %s does not decode: %v", b1, err)
			}
			if b2, _ := item.Marshal(back); string(b1) != string(b2) {
				t.Fatalf("image not stable: %s != %s", b1, b2)
			}
			for name := range c.key {
				if _, ok := c.image[name]; !ok {
					t.Fatalf("accepted image lacks key attribute %q", name)
				}
			}
		}
	})
}
