package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/filter"
	"github.com/dynasnap/dynasnap/internal/item"
)

// filterFlags are --where and --key-prefix, for restore and diff.
type filterFlags struct{ where, keyPrefix *string }

// addFilterFlags adds them; selects says what matching items are for.
func addFilterFlags(fs *pflag.FlagSet, selects string) filterFlags {
	return filterFlags{
		where:     fs.String("where", "", selects+` matching this CEL expression over "item", e.g. 'item.tenant == "acme" && item.updated > 1700000000'`),
		keyPrefix: fs.String("key-prefix", "", selects+" whose partition key starts with this: ATTR=PREFIX (pk=acme#), or PREFIX alone for the table's partition key"),
	}
}

func (f filterFlags) set() bool { return *f.where != "" || *f.keyPrefix != "" }

// String is the filter as given, to tell runs with different filters apart.
func (f filterFlags) String() string {
	var parts []string
	if *f.where != "" {
		parts = append(parts, "--where "+*f.where)
	}
	if *f.keyPrefix != "" {
		parts = append(parts, "--key-prefix "+*f.keyPrefix)
	}
	return strings.Join(parts, " ")
}

// check compiles the filter before any request is sent, so a malformed
// expression fails at once with its position. A bare --key-prefix needs the
// partition key, which only the table or the backup knows: a stand-in name
// lets it pass here, and build resolves it.
func (f filterFlags) check() error {
	if !f.set() {
		return nil
	}
	if _, err := filter.New(*f.where, *f.keyPrefix, "partition-key"); err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// build makes the filter once the partition key can be had; partitionKey is
// called only for a bare --key-prefix. The match is nil without a filter.
func (f filterFlags) build(partitionKey func() (string, error)) (match func(item.Item) (bool, error), desc string, err error) {
	if !f.set() {
		return nil, "", nil
	}
	pk := ""
	if attr, _, ok := strings.Cut(*f.keyPrefix, "="); *f.keyPrefix != "" && (!ok || attr == "") {
		if pk, err = partitionKey(); err != nil {
			return nil, "", fmt.Errorf("--key-prefix %s: %w", *f.keyPrefix, err)
		}
	}
	sel, err := filter.New(*f.where, *f.keyPrefix, pk)
	if err != nil {
		return nil, "", usageError{err.Error()}
	}
	return sel.Match, sel.String(), nil
}
