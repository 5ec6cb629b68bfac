package tabledef

import (
	"bytes"
	"math/big"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
)

// Expiry tells items whose TTL time has passed: DynamoDB would delete them
// again soon after a restore wrote them (docs/DESIGN.md §7). The TTL
// attribute must be a Number of seconds since the epoch; as DynamoDB does,
// a value that is not a number, or more than five years in the past, never
// expires.
type Expiry struct {
	Attr string
	Now  time.Time
	quot []byte
}

// NewExpiry returns the expiry check for the TTL attribute attr at now, or
// nil when attr is empty (no TTL recorded).
func NewExpiry(attr string, now time.Time) *Expiry {
	if attr == "" {
		return nil
	}
	// The quoted name alone: JSON may put spaces before the colon.
	return &Expiry{Attr: attr, Now: now, quot: item.AppendString(nil, attr)}
}

// Item reports whether it has expired.
func (e *Expiry) Item(it item.Item) bool {
	if e == nil {
		return false
	}
	n, ok := it[e.Attr].(*types.AttributeValueMemberN)
	if !ok {
		return false
	}
	v, ok := new(big.Float).SetString(n.Value)
	if !ok {
		return false
	}
	secs, _ := v.Float64()
	now := float64(e.Now.Unix())
	return secs < now && secs > now-5*365.25*86400
}

// Raw reports whether an item given as DynamoDB JSON has expired, decoding
// it only when the attribute's name appears in it.
func (e *Expiry) Raw(raw []byte) (bool, error) {
	if e == nil || !bytes.Contains(raw, e.quot) {
		return false, nil
	}
	it, err := item.Unmarshal(raw)
	if err != nil {
		return false, err
	}
	return e.Item(it), nil
}
