package journal

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/keyschema"
)

// FromItemsOptions are compact's flags for moving a per-item backup over
// (fromitems.go, docs/JOURNAL.md "Moving over").
type FromItemsOptions struct {
	Format     string // "" : no import
	Items      string // the per-item folder, s3://BUCKET/PREFIX/TABLE ("": --source)
	KeySchema  string
	JournalLag time.Duration
}

// AddFlags adds --from-items, --items, --key-schema and --journal-lag.
func (o *FromItemsOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Format, "from-items", "", "move a per-item backup over instead of compacting: import every version up to now into the journal (resumable), then, run again once the writers write segments, the versions stored since; --from-items (dynasnap's backup) or --from-items=mapbox (mapbox/dynamodb-replicator's incremental backup)")
	fs.Lookup("from-items").NoOptDefVal = ItemsDynasnap
	fs.StringVar(&o.Items, "items", "", "with --from-items: the per-item backup's folder s3://BUCKET/PREFIX/TABLE, in the same bucket (default: --source)")
	fs.StringVar(&o.KeySchema, "key-schema", "", "with --from-items: the table's key as HASH:TYPE[,RANGE:TYPE], e.g. pk:S,sk:N (required for mapbox; default for dynasnap: inferred from the backup)")
	fs.DurationVar(&o.JournalLag, "journal-lag", 0, "with --from-items: the lag to record for the new journal (default "+DefaultLag.String()+"; the stream writer's DYNASNAP_JOURNAL_LAG should match)")
}

// Check validates the flags; schema is the parsed --key-schema (zero when
// not given).
func (o *FromItemsOptions) Check() (schema keyschema.Schema, err error) {
	if o.Format == "" {
		if o.Items != "" || o.KeySchema != "" || o.JournalLag != 0 {
			return schema, fmt.Errorf("--items, --key-schema and --journal-lag go with --from-items")
		}
		return schema, nil
	}
	if o.Format != ItemsDynasnap && o.Format != ItemsMapbox {
		return schema, fmt.Errorf("--from-items=%q: want %s (the default) or %s", o.Format, ItemsDynasnap, ItemsMapbox)
	}
	if o.KeySchema != "" {
		if schema, err = keyschema.Parse(o.KeySchema); err != nil {
			return schema, fmt.Errorf("--key-schema: %w", err)
		}
	} else if o.Format == ItemsMapbox {
		return schema, fmt.Errorf("--from-items=mapbox needs --key-schema (its objects are named by an md5 of the key, which gives no attribute names)")
	}
	if o.JournalLag < 0 || (o.JournalLag > 0 && o.JournalLag < time.Second) {
		return schema, fmt.Errorf("--journal-lag %s: want at least 1s", o.JournalLag)
	}
	return schema, nil
}
