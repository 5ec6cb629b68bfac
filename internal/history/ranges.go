package history

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxRanges is the most key ranges a run may split a table into: four hex
// digits of the object id.
const MaxRanges = 1 << 16

// A Range is a slice of the key space: the object ids id with
// Lo <= id < Hi, compared as strings, where Lo and Hi are hex prefixes of
// the same length ("" is open). Range i of n starts at the hex number
// floor(i * 16^d / n), d being the fewest hex digits with 16^d >= n, so
// every count from 1 to MaxRanges is exact and the ranges are contiguous
// in key order. Keys that are not hex ids fall into the range their sort
// position puts them in (docs/DESIGN.md §4).
type Range struct {
	Index  int
	Lo, Hi string
}

// Digits is the length of the range bounds of n ranges: the depth to which
// the lister may split prefixes.
func Digits(n int) int {
	d, size := 0, 1
	for size < n {
		d++
		size *= 16
	}
	return d
}

// Ranges returns the n ranges of the key space, n in 1..MaxRanges.
func Ranges(n int) ([]Range, error) {
	if n < 1 || n > MaxRanges {
		return nil, fmt.Errorf("%d key ranges: want 1 to %d", n, MaxRanges)
	}
	out := make([]Range, n)
	for i := range out {
		out[i] = Range{Index: i, Lo: rangeBound(n, i), Hi: rangeBound(n, i+1)}
	}
	return out, nil
}

// rangeBound is where range i of n starts ("" for the first, and for the
// end): a walk needs only its block's two bounds, not all 65,536 ranges.
func rangeBound(n, i int) string {
	if i <= 0 || i >= n {
		return ""
	}
	d := Digits(n)
	return fmt.Sprintf("%0*x", d, i*(1<<(4*d))/n)
}

// ShardRanges is the contiguous block of ranges shard i of shards runs:
// ranges [i*n/shards, (i+1)*n/shards). A block is one key interval, so a
// shard's listing is one ordered walk and its files are contiguous.
func ShardRanges(n, shard, shards int) (lo, hi int) {
	if shards <= 1 {
		return 0, n
	}
	return shard * n / shards, (shard + 1) * n / shards
}

// Contains reports whether the object id falls in the range.
func (r Range) Contains(id string) bool {
	return (r.Lo == "" || id >= r.Lo) && (r.Hi == "" || id < r.Hi)
}

// segment is a piece of an interval that one listing covers: every key
// under a hex prefix (full), or the keys under a prefix that sort between
// its hex children (a gap: non-hex ids, written by other tools).
type segment struct {
	prefix   string // relative to the table folder
	gap      bool
	from, to string // gap bounds, relative; to "" is open
}

// upper is the least string greater than every string that starts with
// p; "" (open) for the root.
func upper(p string) string {
	if p == "" {
		return ""
	}
	return p[:len(p)-1] + string(p[len(p)-1]+1)
}

// cover returns, in key order, the segments that list exactly the ids in
// [lo, hi) ("" open), splitting prefixes only where a bound cuts them.
func cover(lo, hi string) []segment {
	var out []segment
	var walk func(q string)
	walk = func(q string) {
		qu := upper(q)
		below := hi != "" && q >= hi              // every id under q is >= hi
		above := lo != "" && qu != "" && qu <= lo // every id under q is < lo
		if below || above {
			return
		}
		if (lo == "" || q >= lo) && (hi == "" || (qu != "" && qu <= hi)) {
			out = append(out, segment{prefix: q})
			return
		}
		// A bound cuts q: its children, and its gaps that lie inside.
		inside := func(from string) bool { return (lo == "" || from >= lo) && (hi == "" || from < hi) }
		g := gaps(q)
		if inside(g[0].from) {
			out = append(out, g[0])
		}
		for _, c := range "0123456789" {
			walk(q + string(c))
		}
		if inside(g[1].from) {
			out = append(out, g[1])
		}
		for _, c := range "abcdef" {
			walk(q + string(c))
		}
		if inside(g[2].from) {
			out = append(out, g[2])
		}
	}
	walk("")
	return out
}

// gaps are the three stretches of q's keys that no hex child holds: q
// itself and what sorts before "0", between "9" and "a", and after "f".
func gaps(q string) [3]segment {
	return [3]segment{
		{prefix: q, gap: true, from: q, to: q + "0"},
		{prefix: q, gap: true, from: q + ":", to: q + "a"},
		{prefix: q, gap: true, from: q + "g", to: upper(q)},
	}
}

// childOf names the segment of q that holds the relative id: a hex child
// ("0".."f") or one of q's gaps (0, 1, 2).
func childOf(q, id string) (child string, gap int) {
	rest := strings.TrimPrefix(id, q)
	if rest == "" || rest[0] < '0' {
		return "", 0
	}
	switch c := rest[0]; {
	case c <= '9':
		return string(c), -1
	case c < 'a':
		return "", 1
	case c <= 'f':
		return string(c), -1
	}
	return "", 2
}

// ParseRanges reads --ranges: a count, or "auto".
func ParseRanges(s string) (int, error) {
	if s == "" || s == "auto" {
		return AutoRanges, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxRanges {
		return 0, fmt.Errorf("%q: want auto or a count from 1 to %d", s, MaxRanges)
	}
	return n, nil
}

// AutoRanges is what --ranges auto means: the finest split. The lister
// splits a prefix only when it holds more than one page, so the count a
// table is listed in follows its size: a 2,000-item table takes a few
// dozen listings, a 100M-item one up to 65,536 prefixes, --list-concurrency
// at a time.
const AutoRanges = MaxRanges
