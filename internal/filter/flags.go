package filter

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/item"
)

// Options are --where and --key-prefix, the same on every command that
// selects items.
type Options struct {
	Where, KeyPrefix string
}

// AddFlags adds them; selects says what matching items are for.
func (o *Options) AddFlags(fs *pflag.FlagSet, selects string) {
	fs.StringVar(&o.Where, "where", "", selects+` matching this CEL expression over "item", e.g. 'item.tenant == "acme" && item.updated > 1700000000'`)
	fs.StringVar(&o.KeyPrefix, "key-prefix", "", selects+" whose partition key starts with this: ATTR=PREFIX (pk=acme#), or PREFIX alone for the table's partition key")
}

// Set reports whether a filter was given.
func (o *Options) Set() bool { return o.Where != "" || o.KeyPrefix != "" }

// String is the filter as given, to tell runs with different filters apart.
func (o *Options) String() string {
	var parts []string
	if o.Where != "" {
		parts = append(parts, "--where "+o.Where)
	}
	if o.KeyPrefix != "" {
		parts = append(parts, "--key-prefix "+o.KeyPrefix)
	}
	return strings.Join(parts, " ")
}

// Check compiles the filter before any request is sent, so a malformed
// expression fails at once with its position. A bare --key-prefix needs the
// partition key, which only the table or the backup knows: a stand-in name
// lets it pass here, and Build resolves it.
func (o *Options) Check() error {
	if !o.Set() {
		return nil
	}
	_, err := New(o.Where, o.KeyPrefix, "partition-key")
	return err
}

// NeedsPartitionKey reports whether Build will ask for the partition key.
func (o *Options) NeedsPartitionKey() bool {
	attr, _, ok := strings.Cut(o.KeyPrefix, "=")
	return o.KeyPrefix != "" && (!ok || attr == "")
}

// Build makes the filter once the partition key can be had; partitionKey
// is called only for a bare --key-prefix. The match is nil without a
// filter.
func (o *Options) Build(partitionKey func() (string, error)) (match func(item.Item) (bool, error), desc string, err error) {
	if !o.Set() {
		return nil, "", nil
	}
	pk := ""
	if o.NeedsPartitionKey() {
		if pk, err = partitionKey(); err != nil {
			return nil, "", fmt.Errorf("--key-prefix %s: %w", o.KeyPrefix, err)
		}
	}
	sel, err := New(o.Where, o.KeyPrefix, pk)
	if err != nil {
		return nil, "", err
	}
	return sel.Match, sel.String(), nil
}
