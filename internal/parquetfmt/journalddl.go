package parquetfmt

import (
	"fmt"
	"strings"
)

// JournalDDL is what athena-ddl prints for a change journal (docs/DESIGN.md
// §10.12): a table over every data file of the journal folder (location,
// .../TABLE/journal/; Athena reads its subfolders too) and a view that
// keeps each change once. A change is in a segment, in a level file of
// each level that has not yet been deleted, and in the bases written
// after it (a base repeats each item's last change): the view keeps one
// row per (id, event, stream, sequence number), a backfill image per (id,
// read time). Manifests and the descriptor are JSON files of another
// shape in the same folder: 'ignore.malformed.json' makes their lines
// rows without an id, which the view drops. Keys and NewImage are maps in
// the style of MapDDL. lagSeconds (the journal's lag) goes into the
// example query of the state at a time, printed as comments.
func JournalDDL(table, location, comment string, lagSeconds int64) string {
	s := newSerde()
	img := "map<string," + MapValueType + ">"
	cols := []string{
		"  `id` string COMMENT 'the object id of the key (hex SHA-256)'",
		fmt.Sprintf("  `%s` bigint COMMENT 'the time of the change in DynamoDB, Unix ms'", s.field("timems", "timeMs")),
		fmt.Sprintf("  `%s` bigint COMMENT 'when the segment holding it was stored, Unix ms (0 in a segment)'", s.field("storedms", "storedMs")),
		"  `seq` string COMMENT 'the SequenceNumber of the stream record'",
		"  `stream` string COMMENT 'the stream ARN'",
		"  `event` string COMMENT 'INSERT, MODIFY, REMOVE or BACKFILL'",
		"  `ttl` boolean COMMENT 'a REMOVE made by TTL'",
		fmt.Sprintf("  `%s` %s", s.field("keys", "Keys"), img),
		fmt.Sprintf("  `%s` %s", s.field("newimage", "NewImage"), img),
	}
	files := table + "_files"
	ddl := jsonTable(files, strings.Join(cols, ",\n"), comment, location, s)
	// The malformed-line property goes beside the mappings.
	ddl = strings.Replace(ddl, "WITH SERDEPROPERTIES (\n", "WITH SERDEPROPERTIES (\n  'ignore.malformed.json'='TRUE',\n", 1)
	var b strings.Builder
	b.WriteString(ddl)
	b.WriteString("\n")
	b.WriteString(JournalView(table, files))
	b.WriteString("\n")
	fmt.Fprintf(&b, `-- Every change of one key, oldest first:
--   SELECT from_unixtime(timems / 1000) AS at, event, newimage
--   FROM %[1]s WHERE keys['pk'].s = 'order#123'
--     AND timems >= to_unixtime(timestamp '2026-11-23 00:00:00') * 1000
--   ORDER BY timems, length(seq), seq;
-- The table at time T (Unix ms), by the journal's time rule (lag %[2]ds):
--   SELECT newimage FROM (
--     SELECT event, newimage, row_number() OVER (PARTITION BY id
--       ORDER BY CASE WHEN event = 'BACKFILL' THEN 0 ELSE 1 END DESC, stream DESC, length(seq) DESC, seq DESC, timems DESC) AS newest
--     FROM %[1]s
--     WHERE greatest(timems - timems %% 1000, CASE WHEN storedms > 0 THEN storedms - storedms %% 1000 - %[2]d000 ELSE 0 END) <= T)
--   WHERE newest = 1 AND event <> 'REMOVE';
`, quoteView(table), lagSeconds)
	return b.String()
}

// JournalView is the view of JournalDDL over the files table: each change
// once, the copy stored first (a segment's copy, storedMs 0, last).
func JournalView(view, files string) string {
	return fmt.Sprintf(`CREATE OR REPLACE VIEW %s AS
SELECT id, timems, storedms, seq, stream, event, ttl, keys, newimage
FROM (
  SELECT id, timems, storedms, seq, stream, event, ttl, keys, newimage,
    row_number() OVER (
      PARTITION BY id, event, coalesce(stream, ''), coalesce(seq, CAST(timems AS varchar))
      ORDER BY CASE WHEN storedms > 0 THEN storedms ELSE 9223372036854775807 END) AS copy
  FROM %s
  WHERE id IS NOT NULL
)
WHERE copy = 1;
`, quoteView(view), quoteView(files))
}

// quoteView quotes an identifier of Athena's SQL (Trino): double quotes.
func quoteView(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
