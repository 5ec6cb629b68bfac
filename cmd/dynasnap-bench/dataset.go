package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
)

// Seeded tables live under this prefix; the marker lives outside it so that
// a snapshot of a table never lists it.
const (
	tablePrefix = "bench"
	markerKey   = "_bench/seeded.json"
	keyAttr     = "pk"
)

// Dataset is one seeded table. Every field is part of its identity: a marker
// that records different figures does not count, and the table is reseeded.
type Dataset struct {
	Bucket   string `json:"bucket"`
	Items    int    `json:"items"`    // live items once seeding is done
	Versions int    `json:"versions"` // puts per item, >= 1
	Deleted  int    `json:"deleted"`  // extra items: Versions puts, then a delete marker
}

// NewDataset names the bucket after the figures, so that datasets of
// different shapes never share a bucket and the same shape is found again.
func NewDataset(items, versions, deleted int) Dataset {
	name := fmt.Sprintf("dynasnap-bench-%s-v%d", short(items), versions)
	if deleted > 0 {
		name += "-d" + short(deleted)
	}
	return Dataset{Bucket: name, Items: items, Versions: versions, Deleted: deleted}
}

// short writes 100000 as 100k: bucket names stay readable.
func short(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "m"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// Keys is the number of distinct items written, live and deleted.
func (d Dataset) Keys() int { return d.Items + d.Deleted }

// Writes is the number of PUT and DELETE requests seeding makes.
func (d Dataset) Writes() int { return d.Keys()*d.Versions + d.Deleted }

// Location is the s3://bucket/prefix/table of a seeded table.
func (d Dataset) Location(table string) layout.Location {
	return layout.TableLocation(d.Bucket, tablePrefix, table)
}

// filler is repeated into every item so that bodies have a realistic size
// (about 400 bytes), not a few dozen bytes that only measure request overhead.
var filler = strings.Repeat("lorem ipsum dolor sit amet ", 8)

// Item is version v (1-based) of item i. Deterministic, so a reseed writes
// the same data and a run can be compared with another.
func Item(i, v int) item.Item {
	return item.Item{
		keyAttr:  &types.AttributeValueMemberS{Value: fmt.Sprintf("item-%09d", i)},
		"v":      &types.AttributeValueMemberN{Value: strconv.Itoa(v)},
		"name":   &types.AttributeValueMemberS{Value: fmt.Sprintf("Customer %d", i)},
		"score":  &types.AttributeValueMemberN{Value: strconv.Itoa((i*7919 + v*104729) % 1_000_003)},
		"tags":   &types.AttributeValueMemberSS{Value: []string{"bench", "v" + strconv.Itoa(v), "g" + strconv.Itoa(i%97)}},
		"active": &types.AttributeValueMemberBOOL{Value: i%3 != 0},
		"address": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"city": &types.AttributeValueMemberS{Value: fmt.Sprintf("City %d", i%1000)},
			"zip":  &types.AttributeValueMemberN{Value: strconv.Itoa(10000 + i%90000)},
		}},
		"notes": &types.AttributeValueMemberS{Value: filler},
	}
}

// encodeItem returns the object id and the body of version v of item i.
func encodeItem(i, v int) (id string, body []byte, err error) {
	it := Item(i, v)
	id, err = item.KeyID(it, keyAttr)
	if err != nil {
		return "", nil, fmt.Errorf("object id of item %d: %w", i, err)
	}
	body, err = item.Marshal(it)
	if err != nil {
		return "", nil, fmt.Errorf("encode item %d version %d: %w", i, v, err)
	}
	return id, body, nil
}
