package idmap

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
)

// Workers adding and removing ids at once lose nothing (run with -race).
func TestConcurrent(t *testing.T) {
	x := New[int]()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				id := sha256.Sum256(fmt.Appendf(nil, "%d-%d", w, i))
				m := x.Lock(id)
				m[id] = i
				if i%2 == 1 {
					delete(m, id)
				}
				x.Unlock(id)
			}
		})
	}
	wg.Wait()
	n := 0
	for _, v := range x.All() {
		if v%2 == 1 {
			t.Fatalf("value %d was deleted", v)
		}
		n++
	}
	if n != 8*500 {
		t.Fatalf("%d ids, want %d", n, 8*500)
	}
	id := sha256.Sum256([]byte("x"))
	x.Set(id, 7)
	if x.Get(id) != 7 {
		t.Fatal("Get after Set")
	}
}
