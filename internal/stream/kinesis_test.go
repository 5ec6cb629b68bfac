package stream

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
)

func TestKinesisTime(t *testing.T) {
	for _, c := range []struct {
		n, precision string
		want         int64
		bad          bool
	}{
		{"1720046486486729", "MICROSECOND", 1720046486486729, false},
		{"1720046486486", "MILLISECOND", 1720046486486000, false},
		{"1720046486486729", "", 1720046486486729, false}, // by size: microseconds
		{"1720046486486", "", 1720046486486000, false},    // milliseconds
		{"1720046486.5", "", 1720046486500000, false},     // seconds, as DynamoDB Streams
		{"1720046486486", "NANOSECOND", 0, true},
		{"", "MICROSECOND", 0, true},
		{"-1", "MICROSECOND", 0, true},
	} {
		got, err := KinesisTime(json.Number(c.n), c.precision)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("KinesisTime(%s, %q) = %d, %v; want %d (error %v)", c.n, c.precision, got, err, c.want, c.bad)
		}
	}
}

// A change's number orders by time, and is one number however often the
// change is delivered; two changes of one time differ.
func TestKinesisSeq(t *testing.T) {
	k := item.Item{"pk": &types.AttributeValueMemberS{Value: "a"}}
	img := func(v string) item.Item {
		return item.Item{"pk": &types.AttributeValueMemberS{Value: "a"}, "v": &types.AttributeValueMemberS{Value: v}}
	}
	a1, _ := KinesisSeq(1720046486486729, "MODIFY", false, k, img("x"))
	a2, _ := KinesisSeq(1720046486486729, "MODIFY", false, k, img("x"))
	b, _ := KinesisSeq(1720046486486729, "MODIFY", false, k, img("y"))
	later, _ := KinesisSeq(1720046486486730, "REMOVE", false, k, nil)
	if a1 != a2 || a1 == b || len(a1) != 27 {
		t.Fatalf("%s %s %s", a1, a2, b)
	}
	if compareSeq(a1, later) >= 0 || compareSeq(b, later) >= 0 {
		t.Fatalf("a later change sorts before: %s %s %s", a1, b, later)
	}
	ttl, _ := KinesisSeq(1720046486486730, "REMOVE", true, k, nil)
	if ttl == later {
		t.Fatal("a TTL delete and a caller's delete of one time have one number")
	}
}
