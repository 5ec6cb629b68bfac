// Package idmap is the index audit and verify build while their scans and
// readers run at once: a map from a key's id (the SHA-256 of its canonical
// key, docs/DESIGN.md §2.1) cut into shards, each behind a lock of its
// own, so many workers add and match keys without queueing on one mutex.
package idmap

import (
	"iter"
	"sync"
)

const shards = 64

// Map maps key ids to V.
type Map[V any] struct {
	mu [shards]sync.Mutex
	m  [shards]map[[32]byte]V
}

// New returns an empty Map.
func New[V any]() *Map[V] {
	x := &Map[V]{}
	for i := range x.m {
		x.m[i] = map[[32]byte]V{}
	}
	return x
}

// shard spreads ids evenly: they are SHA-256 digests.
func shard(id [32]byte) int { return int(id[0]) % shards }

// Lock locks id's shard and returns it, to read and change id's entry
// there; Unlock(id) releases it.
func (x *Map[V]) Lock(id [32]byte) map[[32]byte]V {
	i := shard(id)
	x.mu[i].Lock()
	return x.m[i]
}

// Unlock releases the shard Lock(id) locked.
func (x *Map[V]) Unlock(id [32]byte) { x.mu[shard(id)].Unlock() }

// Get returns id's value without a lock: for a pass after the workers.
func (x *Map[V]) Get(id [32]byte) V { return x.m[shard(id)][id] }

// Set sets id's value without a lock: for a pass after the workers.
func (x *Map[V]) Set(id [32]byte, v V) { x.m[shard(id)][id] = v }

// All yields every id and value without a lock: for a pass after the
// workers.
func (x *Map[V]) All() iter.Seq2[[32]byte, V] {
	return func(yield func([32]byte, V) bool) {
		for i := range x.m {
			for id, v := range x.m[i] {
				if !yield(id, v) {
					return
				}
			}
		}
	}
}
