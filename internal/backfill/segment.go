package backfill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/fastscan"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
)

type page struct {
	items []map[string]types.AttributeValue
	next  map[string]types.AttributeValue // LastEvaluatedKey; nil on the last page
	at    time.Time
}

// segment scans one segment, a page ahead of the writes, and checkpoints
// after each page is fully written.
func (r *run) segment(ctx context.Context, seg int) error {
	start, err := r.cp.start(seg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan page, 1)
	scanErr := make(chan error, 1)
	go func() {
		defer close(pages)
		scanErr <- r.scan(ctx, seg, start, pages)
	}()
	write := r.writePage
	if r.opts.Journal != nil {
		write = r.writeRun
	}
	for p := range pages {
		if err := write(ctx, p); err != nil {
			cancel()
			for range pages {
			}
			<-scanErr
			return fmt.Errorf("segment %d: %w", seg, err)
		}
		if err := r.cp.advance(seg, p.next); err != nil {
			cancel()
			for range pages {
			}
			<-scanErr
			return err
		}
	}
	if err := <-scanErr; err != nil {
		return fmt.Errorf("segment %d: %w", seg, err)
	}
	r.segsDone.Add(1)
	return nil
}

func (r *run) scan(ctx context.Context, seg int, start map[string]types.AttributeValue, pages chan<- page) error {
	esk := start
	for {
		in := &dynamodb.ScanInput{
			TableName:              aws.String(r.opts.Table),
			Segment:                aws.Int32(int32(seg)),
			TotalSegments:          aws.Int32(int32(r.opts.Segments)),
			ExclusiveStartKey:      esk,
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		}
		if r.opts.PageSize > 0 {
			in.Limit = aws.Int32(r.opts.PageSize)
		}
		if err := r.limiter.Wait(ctx, 0); err != nil {
			return err
		}
		var out *dynamodb.ScanOutput
		err := r.retry(ctx, func() error {
			var err error
			out, err = r.ddb.Scan(ctx, in, fastscan.Option)
			return err
		})
		if err != nil {
			return fmt.Errorf("scan %s: %w", r.opts.Table, err)
		}
		units := estimateUnits(out)
		r.limiter.Spend(units)
		r.mu.Lock()
		r.capacity += units
		r.mu.Unlock()
		r.scanned.Add(int64(len(out.Items)))
		esk = out.LastEvaluatedKey
		if len(esk) == 0 {
			esk = nil
		}
		select {
		case pages <- page{items: out.Items, next: esk, at: time.Now()}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if esk == nil {
			return nil
		}
	}
}

// estimateUnits is the page's consumed capacity, or, from servers that do
// not report it, an eventually consistent read's cost of its bytes.
func estimateUnits(out *dynamodb.ScanOutput) float64 {
	if out.ConsumedCapacity != nil && out.ConsumedCapacity.CapacityUnits != nil {
		return *out.ConsumedCapacity.CapacityUnits
	}
	var n int
	for _, it := range out.Items {
		b, _ := item.Marshal(it)
		n += len(b)
	}
	return float64((n+4095)/4096) / 2
}

func (r *run) writePage(ctx context.Context, p page) error {
	g, gctx := errgroup.WithContext(ctx)
	meta := backup.Meta{CreatedAt: p.at, Source: "backfill"}
	for _, it := range p.items {
		select {
		case r.sem <- struct{}{}:
		case <-gctx.Done():
			// Not every item was written: the page must not be checkpointed.
			if err := g.Wait(); err != nil {
				return err
			}
			return gctx.Err()
		}
		g.Go(func() error {
			defer func() { <-r.sem }()
			return r.put(gctx, it, meta)
		})
	}
	return g.Wait()
}

// keyOf is a scanned item's key attributes.
func (r *run) keyOf(it item.Item) (item.Item, error) {
	key := make(item.Item, len(r.keys))
	for _, name := range r.keys {
		v, ok := it[name]
		if !ok {
			return nil, fmt.Errorf("scanned item lacks key attribute %q", name)
		}
		key[name] = v
	}
	return key, nil
}

func (r *run) put(ctx context.Context, it item.Item, meta backup.Meta) error {
	key, err := r.keyOf(it)
	if err != nil {
		return err
	}
	err = r.retry(ctx, func() error {
		_, err := r.w.Put(ctx, key, it, meta, backup.PutOptions{IfAbsent: !r.opts.Overwrite})
		return err
	})
	switch {
	case errors.Is(err, backup.ErrExists):
		r.existing.Add(1)
		return nil
	case err != nil:
		return err
	}
	r.written.Add(1)
	return nil
}

// writeRun writes a page as one sorted run of the journal base: one PUT
// for the page, whatever its items.
func (r *run) writeRun(ctx context.Context, p page) error {
	recs := make([]journal.Record, 0, len(p.items))
	for _, it := range p.items {
		key, err := r.keyOf(it)
		if err != nil {
			return err
		}
		id, err := item.KeyID(key, r.keys...)
		if err != nil {
			return err
		}
		kb, err := item.Marshal(key)
		if err != nil {
			return err
		}
		ib, err := item.Marshal(it)
		if err != nil {
			return err
		}
		recs = append(recs, journal.Record{ID: id, TimeMs: p.at.UnixMilli(), Event: journal.EventBackfill, Keys: kb, NewImage: ib})
	}
	err := r.retry(ctx, func() error {
		return journal.WriteBaseRun(ctx, r.opts.Journal, r.dir(), r.baseAt, recs)
	})
	if err != nil {
		return err
	}
	r.written.Add(int64(len(recs)))
	return nil
}
