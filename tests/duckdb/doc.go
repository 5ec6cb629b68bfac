// Package duckdb checks dynasnap's Parquet snapshots and change journals with an independent
// engine. It is its own module so that the dynasnap binary never links
// DuckDB (a large cgo library); run it with `cd tests/duckdb && go test ./...`
// (make test does) against the local stack.
package duckdb
