// Package journal is the change journal, the second backup layout
// (docs/DESIGN.md §10): the stream writer stores each batch as one segment
// object (level 0), `dynasnap compact` merges segments into level files of
// growing time windows and into bases (the table's state at a time), and
// readers merge the few sorted runs that cover a time into the same stream
// of entries the versioned layout gives internal/history.
//
// Every file is JSON lines of Records, gzip-compressed and sorted by object
// id, so other engines (DuckDB, Athena) read them as they are. A level file
// or a base is read only through its manifest, written last.
package journal
