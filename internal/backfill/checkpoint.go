package backfill

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
)

// checkpoint records, per segment, whether it is done and the key to scan
// on from. It is saved after every fully written page, so a crash repeats
// at most one page per segment (conditional puts make the repeats no-ops).
type checkpoint struct {
	Table    string            `json:"table"`
	Dest     string            `json:"dest"`
	Segments int               `json:"segments"`
	Done     []bool            `json:"done"`
	Next     []json.RawMessage `json:"next"` // LastEvaluatedKey as DynamoDB JSON, or null
	// BaseAt is the time of the journal base being written (a resumed
	// run adds to the same base).
	BaseAt *time.Time `json:"baseAt,omitempty"`

	path string
	mu   sync.Mutex
}

func loadCheckpoint(path, table, dest string, segments int) (*checkpoint, error) {
	cp := &checkpoint{Table: table, Dest: dest, Segments: segments,
		Done: make([]bool, segments), Next: make([]json.RawMessage, segments), path: path}
	if path == "" {
		return cp, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var old checkpoint
	if err := json.Unmarshal(b, &old); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if old.Table != table || old.Dest != dest || old.Segments != segments || len(old.Done) != segments || len(old.Next) != segments {
		return nil, fmt.Errorf("checkpoint %s is for table %s to %s with %d segments, not table %s to %s with %d: "+
			"resume with the same --table, --dest and --segments, or remove the file to start over",
			path, old.Table, old.Dest, old.Segments, table, dest, segments)
	}
	old.path = path
	return &old, nil
}

// start returns the key segment seg resumes after (nil: its beginning).
func (c *checkpoint) start(seg int) (map[string]types.AttributeValue, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	raw := c.Next[seg]
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	k, err := item.Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s, segment %d: %w", c.path, seg, err)
	}
	return k, nil
}

// advance records that segment seg is written up to next (nil: all of it).
func (c *checkpoint) advance(seg int, next map[string]types.AttributeValue) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if next == nil {
		c.Done[seg], c.Next[seg] = true, nil
	} else {
		b, err := item.Marshal(next)
		if err != nil {
			return fmt.Errorf("checkpoint segment %d: %w", seg, err)
		}
		c.Next[seg] = b
	}
	return c.save()
}

func (c *checkpoint) save() error {
	if c.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".backfill-checkpoint-*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write checkpoint: %w", err)
	}
	// Rename is atomic: a crash leaves the old checkpoint or the new one.
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// baseAt returns the journal base's time, fixing it as now on a run's
// first call and saving it, so a resumed run writes into the same base.
func (c *checkpoint) baseAt(now time.Time) (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.BaseAt != nil {
		return *c.BaseAt, nil
	}
	t := now.UTC().Truncate(time.Millisecond)
	c.BaseAt = &t
	return t, c.save()
}
