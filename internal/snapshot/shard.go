package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// ShardsDir holds one manifest per finished shard of a sharded run.
const ShardsDir = "shards"

// ShardManifest is what one shard of a sharded run leaves, written after
// all of its parts: its presence means the shard finished.
type ShardManifest struct {
	Shard          int                 `json:"shard"`
	ShardCount     int                 `json:"shards"`
	Source         string              `json:"source"`
	ExportTime     time.Time           `json:"exportTime"`
	StartTime      time.Time           `json:"startTime"`
	EndTime        time.Time           `json:"endTime"`
	OutputFormat   string              `json:"outputFormat"`
	Compression    string              `json:"compression"`
	Ranges         int                 `json:"ranges"`
	Base           string              `json:"base,omitempty"`
	ItemCount      int64               `json:"itemCount"`
	VersionsListed int64               `json:"versionsListed"`
	VersionsNewer  int64               `json:"versionsAfterExportTime"`
	Filter         string              `json:"filter,omitempty"`
	SkippedObjects []history.BadObject `json:"skippedObjects,omitempty"`
	Files          []FileEntry         `json:"files"`
	Tool           string              `json:"tool"`
	// TableDefinition: every shard copies the same version (the same --at).
	TableDefinition *DefinitionRef `json:"tableDefinition,omitempty"`
	BilledSize      int64          `json:"billedSizeBytes,omitempty"`
	TableARN        string         `json:"tableArn,omitempty"`
	TableID         string         `json:"tableId,omitempty"`
	SSE             string         `json:"sse,omitempty"`
	SSEKMSKey       string         `json:"sseKmsKeyId,omitempty"`
}

func shardName(i, n int) string {
	return path.Join(ShardsDir, fmt.Sprintf("shard-%05d-of-%05d.json", i, n))
}

func writeShardManifest(ctx context.Context, out store.Store, files []FileEntry, opts Options, outFormat string, res *Result, start time.Time) error {
	m := ShardManifest{Shard: opts.Shard, ShardCount: opts.Shards, Source: opts.Source.String(), ExportTime: opts.At.UTC(),
		StartTime: start.UTC(), EndTime: time.Now().UTC(), OutputFormat: outFormat, Compression: opts.Compression,
		Ranges: rangeCount(opts.Ranges), ItemCount: res.Items, VersionsListed: res.VersionsListed, VersionsNewer: res.VersionsNewer,
		Filter: opts.FilterText, SkippedObjects: res.BadObjects, Files: files, Tool: opts.Tool, BilledSize: res.BilledSize,
		TableARN: opts.TableARN, TableID: opts.TableID, SSE: opts.SSE, SSEKMSKey: opts.SSEKMSKey}
	var sum Summary
	fillDefinition(&sum, res.Definition)
	m.TableDefinition = sum.Dynasnap.TableDefinition
	if opts.Base != nil {
		m.Base = opts.Base.Store.URL("")
	}
	if m.Files == nil {
		m.Files = []FileEntry{}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return out.Put(ctx, shardName(opts.Shard, opts.Shards), append(b, '\n'))
}

// Commit joins the shards of a sharded run in out into one snapshot. It
// writes nothing unless every shard finished and all agree on what they
// were asked for.
func Commit(ctx context.Context, out store.Store, tool string) (*Summary, error) {
	if done, err := out.Exists(ctx, SummaryName); err != nil {
		return nil, err
	} else if done {
		return nil, fmt.Errorf("%s already holds a finished snapshot", out.URL(""))
	}
	names, err := out.List(ctx, ShardsDir)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s has no shard manifests (%s/): no shard has finished", out.URL(""), ShardsDir)
	}
	var shards []ShardManifest
	for _, n := range names {
		r, err := out.Open(ctx, n)
		if err != nil {
			return nil, err
		}
		var m ShardManifest
		err = json.NewDecoder(r).Decode(&m)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", out.URL(n), err)
		}
		shards = append(shards, m)
	}
	first := shards[0]
	seen := map[int]bool{}
	for _, m := range shards {
		if m.ShardCount != first.ShardCount || m.Source != first.Source || !m.ExportTime.Equal(first.ExportTime) ||
			m.OutputFormat != first.OutputFormat || m.Compression != first.Compression || m.Ranges != first.Ranges || m.Base != first.Base || m.Filter != first.Filter {
			return nil, fmt.Errorf("shard %d/%d and shard %d/%d were run with different settings (source, --at, format, compression, ranges, base or filter); rerun them alike",
				first.Shard, first.ShardCount, m.Shard, m.ShardCount)
		}
		seen[m.Shard] = true
	}
	var missing []int
	for i := 0; i < first.ShardCount; i++ {
		if !seen[i] {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: %d of %d shards have not finished; missing: %v", out.URL(""), len(missing), first.ShardCount, missing)
	}
	var files []FileEntry
	sum := &Summary{Version: FullVersion, StartTime: first.StartTime, EndTime: time.Now().UTC(), ExportTime: first.ExportTime,
		ManifestFilesS3Key: out.Key(FilesName), OutputFormat: first.OutputFormat,
		Dynasnap: Details{FormatVersion: FormatVersion, Source: first.Source, Table: path.Base(first.Source),
			Compression: first.Compression, Ranges: first.Ranges, Base: first.Base, Filter: first.Filter, Tool: tool}}
	for _, m := range shards {
		files = append(files, m.Files...)
		sum.ItemCount += m.ItemCount
		sum.BilledSizeBytes += m.BilledSize
		sum.Dynasnap.VersionsListed += m.VersionsListed
		sum.Dynasnap.VersionsNewer += m.VersionsNewer
		sum.Dynasnap.SkippedObjects = append(sum.Dynasnap.SkippedObjects, m.SkippedObjects...)
		if m.StartTime.Before(sum.StartTime) {
			sum.StartTime = m.StartTime
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].FirstKey < files[j].FirstKey })
	for i := range files {
		// The shard manifest keeps the keys; the names are relative to out.
		f := &files[i]
		f.Data, f.Sidecar = relative(out, f.DataFileS3Key), relative(out, f.SidecarS3Key)
		if ok, err := out.Exists(ctx, f.Data); err != nil {
			return nil, err
		} else if !ok {
			return nil, fmt.Errorf("shard data file %s is missing", out.URL(f.Data))
		}
	}
	sum.Dynasnap.DataFiles = len(files)
	if ref := first.TableDefinition; ref != nil {
		def, err := readDefinition(ctx, out)
		if err != nil {
			return nil, err
		}
		if def != nil {
			fillDefinition(sum, &tabledef.Recorded{Def: def, Key: ref.Key, From: history.Entry{VersionID: ref.VersionID, LastModified: ref.LastModified}})
		}
	}
	arn, id := tableIdentity(sum, first.TableARN, first.TableID)
	DescribeOutput(sum, out, ExportID(first.ExportTime, first.Source, first.Filter), arn, id, first.SSE, first.SSEKMSKey)
	return sum, WriteManifests(ctx, out, files, sum)
}

// WriteManifests writes manifest-files.json and its .md5, then
// manifest-summary.md5 and manifest-summary.json: the summary last, since
// its presence marks the snapshot finished. Each .md5 holds the base64 MD5
// of its manifest's bytes, as in AWS's exports.
func WriteManifests(ctx context.Context, out store.Store, files []FileEntry, sum *Summary) error {
	var buf bytes.Buffer
	if err := writeJSONLines(&buf, files); err != nil {
		return err
	}
	if err := putWithMD5(ctx, out, FilesName, FilesMD5Name, buf.Bytes()); err != nil {
		return err
	}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	return putWithMD5(ctx, out, SummaryName, SummaryMD5Name, append(b, '\n'))
}

// putWithMD5 writes the checksum file first, then the file.
func putWithMD5(ctx context.Context, out store.Store, name, md5Name string, data []byte) error {
	h := md5New()
	h.Write(data)
	if err := out.Put(ctx, md5Name, []byte(b64(h.Sum(nil)))); err != nil {
		return err
	}
	return out.Put(ctx, name, data)
}
