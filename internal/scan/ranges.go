package scan

import "fmt"

// Range is a slice of the key space under a table's folder: keys k with
// After < k <= Through. Empty bounds are open. Ranges are cut at hex
// prefixes of the object id but bound by key comparison, not by prefix, so
// keys that are not hex ids (written by other tools) are still listed.
type Range struct {
	Index   int
	After   string
	Through string
}

// Ranges splits the keys under dir (a prefix ending in "/") into n ranges;
// n is rounded up to a power of 16 (1, 16, 256, 4096).
func Ranges(dir string, n int) []Range {
	digits, size := 0, 1
	for size < n && digits < 3 {
		digits++
		size *= 16
	}
	out := make([]Range, size)
	bound := func(i int) string { return fmt.Sprintf("%s%0*x", dir, digits, i) }
	for i := range out {
		out[i].Index = i
		if i > 0 {
			out[i].After = bound(i)
		}
		if i < size-1 {
			out[i].Through = bound(i + 1)
		}
	}
	return out
}

// Contains reports whether key falls in the range.
func (r Range) Contains(key string) bool {
	return (r.After == "" || key > r.After) && (r.Through == "" || key <= r.Through)
}
