package tabledef_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

var expiryNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fiveYears is the age past which DynamoDB no longer deletes an item.
const fiveYears = 5 * 365.25 * 86400

func TestExpiryItem(t *testing.T) {
	now := expiryNow.Unix()
	n := func(v any) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
	tests := []struct {
		name string
		v    types.AttributeValue // nil: no attribute
		want bool
		// rawErr: no valid DynamoDB JSON holds it, so Raw refuses the line.
		rawErr bool
	}{
		{"a second ago", n(now - 1), true, false},
		{"an hour ago", n(now - 3600), true, false},
		// DynamoDB deletes what is strictly before now.
		{"exactly now", n(now), false, false},
		{"a second ahead", n(now + 1), false, false},
		{"half a second ago", n(fmt.Sprintf("%d.5", now-1)), true, false},
		{"exponent form", n(fmt.Sprintf("%de0", now-1)), true, false},
		{"scientific", n("1.7e9"), true, false}, // 2023-11-14
		{"just within five years", n(now - int64(fiveYears) + 1), true, false},
		{"exactly five years ago", n(now - int64(fiveYears)), false, false},
		{"six years ago", n(now - 6*365*86400), false, false},
		{"zero", n(0), false, false},
		{"negative", n(-1), false, false},
		// Milliseconds by mistake read as a far future time: kept.
		{"milliseconds", n((now - 1) * 1000), false, false},
		{"38 digits", n(strings.Repeat("9", 38)), false, false},
		{"beyond float64", n("1e400"), false, false},
		{"below -float64", n("-1e400"), false, false},
		{"tiny", n("1e-400"), false, false}, // 0: over five years back
		{"not a number", n("soon"), false, true},
		{"empty number", n(""), false, true},
		{"string type", &types.AttributeValueMemberS{Value: fmt.Sprint(now - 1)}, false, false},
		{"number set", &types.AttributeValueMemberNS{Value: []string{fmt.Sprint(now - 1)}}, false, false},
		{"list of number", &types.AttributeValueMemberL{Value: []types.AttributeValue{n(now - 1)}}, false, false},
		{"null", &types.AttributeValueMemberNULL{Value: true}, false, false},
		{"bool", &types.AttributeValueMemberBOOL{Value: true}, false, false},
		{"missing", nil, false, false},
	}
	e := tabledef.NewExpiry("expiresAt", expiryNow)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := item.Item{"pk": &types.AttributeValueMemberS{Value: "a"}}
			if tt.v != nil {
				it["expiresAt"] = tt.v
			}
			if got := e.Item(it); got != tt.want {
				t.Errorf("Item = %v, want %v", got, tt.want)
			}
			// Raw decides alike on the stored JSON.
			raw, err := item.Marshal(it)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Raw(raw)
			if (err != nil) != tt.rawErr || got != tt.want {
				t.Errorf("Raw(%s) = %v, %v; want %v, error %v", raw, got, err, tt.want, tt.rawErr)
			}
		})
	}
}

// Now counts in whole seconds, as the TTL attribute does.
func TestExpiryNowSubsecond(t *testing.T) {
	now := expiryNow.Unix()
	e := tabledef.NewExpiry("ttl", expiryNow.Add(999*time.Millisecond))
	for v, want := range map[int64]bool{now - 1: true, now: false} {
		if got := e.Item(item.Item{"ttl": &types.AttributeValueMemberN{Value: fmt.Sprint(v)}}); got != want {
			t.Errorf("ttl %d at now+0.999s: %v, want %v", v, got, want)
		}
	}
}

// No TTL recorded: no check, and a nil check expires nothing.
func TestExpiryNone(t *testing.T) {
	e := tabledef.NewExpiry("", expiryNow)
	if e != nil {
		t.Fatalf("NewExpiry(\"\") = %+v, want nil", e)
	}
	past := item.Item{"": &types.AttributeValueMemberN{Value: "1"}}
	if e.Item(past) {
		t.Error("nil Expiry expired an item")
	}
	if gone, err := e.Raw([]byte(`not even JSON`)); gone || err != nil {
		t.Errorf("nil Expiry Raw: %v, %v", gone, err)
	}
}

// Raw decodes only items that name the attribute; the ones it decodes it
// judges as Item does, wherever the attribute sits in the line and however
// the JSON is spaced.
func TestExpiryRaw(t *testing.T) {
	past := fmt.Sprint(expiryNow.Unix() - 60)
	tests := []struct {
		name, attr, raw string
		want            bool
		wantErr         string
	}{
		{"compact", "expiresAt", `{"expiresAt":{"N":"` + past + `"},"pk":{"S":"a"}}`, true, ""},
		{"spaced after colon", "expiresAt", `{"pk": {"S": "a"}, "expiresAt": {"N": "` + past + `"}}`, true, ""},
		{"spaced before colon", "expiresAt", `{"pk" : {"S" : "a"} , "expiresAt" : {"N" : "` + past + `"}}`, true, ""},
		{"newline before colon", "expiresAt", "{\"expiresAt\"\n:{\"N\":\"" + past + "\"}}", true, ""},
		{"only nested", "expiresAt", `{"pk":{"S":"a"},"m":{"M":{"expiresAt":{"N":"` + past + `"}}}}`, false, ""},
		{"a longer name", "expiresAt", `{"expiresAtUTC":{"N":"` + past + `"}}`, false, ""},
		{"the name as a value", "expiresAt", `{"pk":{"S":"expiresAt"}}`, false, ""},
		{"string type", "expiresAt", `{"expiresAt":{"S":"` + past + `"}}`, false, ""},
		{"name with a colon", "ttl:at", `{"ttl:at":{"N":"` + past + `"}}`, true, ""},
		{"prefix of a name with a colon", "ttl", `{"ttl:at":{"N":"` + past + `"}}`, false, ""},
		{"name with a quote", `t"l`, `{"t\"l":{"N":"` + past + `"}}`, true, ""},
		{"unicode name", "ablauf_ü", `{"ablauf_ü":{"N":"` + past + `"}}`, true, ""},
		// Without the name nothing is decoded, so a broken line passes
		// here and fails where it is written.
		{"broken, no name", "expiresAt", `{"pk":`, false, ""},
		{"broken, with name", "expiresAt", `{"expiresAt":{"N":`, false, "item at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tabledef.NewExpiry(tt.attr, expiryNow).Raw([]byte(tt.raw))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Raw = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
