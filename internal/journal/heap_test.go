package journal

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// The merge's heap compares ids by their first 8 bytes and then whole:
// its order must be the strings' own, ids of any length and shared
// prefixes included.
func TestCursorHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := []string{"", "a", "ab", "abcdefg", "abcdefgh", "abcdefgh0", "abcdefgh1", "abcdefgi", "abcdefg\x00", "\x00", "\xff\xff", "zzzzzzzzzzzz"}
	for i := range 300 {
		ids = append(ids, fmt.Sprintf("%064x", rng.Uint64()%50), fmt.Sprintf("%08x%056x", i%3, rng.Uint64()))
	}
	for round := range 20 {
		rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		h := make(cursorHeap, 0, len(ids))
		for _, id := range ids {
			h = append(h, &cursor{cur: batch{{ID: id}}, head: idHead(id)})
		}
		h.init()
		var got []string
		for len(h) > 0 {
			got = append(got, h[0].rec().ID)
			h.popTop()
		}
		want := slices.Clone(ids)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: heap order differs from the ids' order", round)
		}
	}
}
