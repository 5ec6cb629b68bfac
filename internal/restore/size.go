package restore

import "github.com/dynasnap/dynasnap/internal/item"

// WCU estimates the write capacity units a put of it consumes: one per KB
// of item size, rounded up, as DynamoDB counts it.
func WCU(it item.Item) int64 {
	return (Size(it) + 1023) / 1024
}

// Size is item.Size, DynamoDB's measure of an item.
func Size(it item.Item) int64 { return item.Size(it) }
