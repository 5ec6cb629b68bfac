package journal

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The journal's objects under a table folder DIR ("prefix/table/"),
// docs/DESIGN.md §10.1:
//
//	DIR journal/journal.json                          the descriptor (lag, format)
//	DIR journal/0/<stored>-<hash>.jsonl.gz            a segment: one stream batch
//	DIR journal/<level>/<from>_<to>/manifest.json     a level output, written last
//	DIR journal/<level>/<from>_<to>/part-<shard>-<n>.jsonl.gz
//	DIR journal/base/<at>/manifest.json               a base: the state at <at>
//	DIR journal/base/<at>/part-<shard>-<n>.jsonl.gz
const (
	Folder         = "journal/"
	DescriptorName = Folder + "journal.json"
	segmentFolder  = Folder + "0/"
	baseFolder     = Folder + "base/"
	ManifestName   = "manifest.json"
	partExt        = ".jsonl.gz"
)

// nameTime is the fixed-width UTC form of times in names: it sorts as the
// times do.
const nameTime = "20060102T150405.000Z"

func formatNameTime(t time.Time) string { return t.UTC().Format(nameTime) }

func parseNameTime(s string) (time.Time, error) {
	t, err := time.Parse(nameTime, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a journal time (%s)", s, nameTime)
	}
	return t, nil
}

// SegmentKey names a segment written at stored (the writer's clock) whose
// body hashes to hash (hex).
func SegmentKey(dir string, stored time.Time, hash string) string {
	return dir + segmentFolder + formatNameTime(stored) + "-" + hash + partExt
}

// segmentTime reads the writer's time from a segment's key.
func segmentTime(dir, key string) (time.Time, bool) {
	name, ok := strings.CutPrefix(key, dir+segmentFolder)
	if !ok || !strings.HasSuffix(name, partExt) || len(name) < len(nameTime) {
		return time.Time{}, false
	}
	t, err := parseNameTime(name[:len(nameTime)])
	return t, err == nil
}

// levelFolder is the folder of a level output covering (from, to].
func levelFolder(dir string, level int, from, to time.Time) string {
	return dir + Folder + strconv.Itoa(level) + "/" + formatNameTime(from) + "_" + formatNameTime(to) + "/"
}

func baseFolderAt(dir string, at time.Time) string {
	return dir + baseFolder + formatNameTime(at) + "/"
}

func partName(shard, n int) string { return fmt.Sprintf("part-%05d-%05d%s", shard, n, partExt) }

func shardManifestName(shard, shards int) string {
	return fmt.Sprintf("shard-%05d-of-%05d.json", shard, shards)
}

// parseOutputFolder reads a level output's or a base's folder name (under
// DIR journal/): level 0 is never an output; base is level -1.
func parseOutputFolder(rel string) (level int, from, to time.Time, ok bool) {
	parts := strings.Split(strings.TrimSuffix(rel, "/"), "/")
	if len(parts) != 2 {
		return 0, time.Time{}, time.Time{}, false
	}
	if parts[0] == "base" {
		t, err := parseNameTime(parts[1])
		if err != nil {
			return 0, time.Time{}, time.Time{}, false
		}
		return -1, time.Time{}, t, true
	}
	lv, err := strconv.Atoi(parts[0])
	if err != nil || lv < 1 {
		return 0, time.Time{}, time.Time{}, false
	}
	a, b, cut := strings.Cut(parts[1], "_")
	if !cut {
		return 0, time.Time{}, time.Time{}, false
	}
	f, err1 := parseNameTime(a)
	t, err2 := parseNameTime(b)
	if err1 != nil || err2 != nil || !f.Before(t) {
		return 0, time.Time{}, time.Time{}, false
	}
	return lv, f, t, true
}
