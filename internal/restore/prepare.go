package restore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// The target table's preparation (docs/DESIGN.md §7): every decision a
// restore makes about the table before it writes, in one place for the
// CLI's restore and for drill.

// definition settles the table's definition once the source's is known:
// Options.Definition wins over the recorded one.
func (r *run) definition(def *tabledef.Definition, from, note string) {
	t := &r.rep.Table
	if r.opts.Definition != nil {
		t.Definition, t.DefinitionFrom = r.opts.Definition, r.opts.DefinitionFrom
		return
	}
	t.Definition, t.DefinitionFrom, t.DefinitionNote = def, from, note
}

// prepareTable returns the table's key schema, creating the table if
// Options.Create. infer works the key out from the data when neither the
// definition nor Options.KeySchema gives it; check, if set, holds the
// source's items to the key before anything is created. resumed: a
// checkpoint says an earlier run of this restore began, so the table it
// created may exist.
func (r *run) prepareTable(ctx context.Context, resumed bool, infer func() (keyschema.Schema, error), check func(keyschema.Schema) error) (keyschema.Schema, error) {
	t, given := &r.rep.Table, r.opts.KeySchema
	if check == nil {
		check = func(keyschema.Schema) error { return nil }
	}
	ks, err := keyschema.FromTable(ctx, r.api, t.Name)
	switch {
	case errors.Is(err, keyschema.ErrNoTable) && r.opts.Create:
		in, ks, err := r.createInput(infer)
		if err != nil {
			return ks, err
		}
		t.KeySchema = ks
		if err := check(ks); err != nil {
			return ks, err
		}
		if err := CreateTableFrom(ctx, r.api, in); err != nil {
			return ks, err
		}
		t.Created, t.CreateInput = true, in
		return ks, nil
	case errors.Is(err, keyschema.ErrNoTable):
		return ks, fmt.Errorf("table %s does not exist: create it, or pass --create-table", t.Name)
	case err != nil:
		return ks, err
	case r.opts.Create && !resumed:
		return ks, fmt.Errorf("--create-table: table %s exists already; drop --create-table to restore into it", t.Name)
	}
	if given != nil && given.String() != ks.String() {
		return ks, fmt.Errorf("--key-schema %s, but table %s's key is %s", given, t.Name, ks)
	}
	t.KeySchema = ks
	return ks, check(ks)
}

// createInput is the CreateTable request of a new table and its key: as
// the definition records it, else with the key only (given or inferred),
// on-demand. Both go through tabledef.CreateInput, so the overrides (warm
// throughput, deletion protection) apply alike.
func (r *run) createInput(infer func() (keyschema.Schema, error)) (*dynamodb.CreateTableInput, keyschema.Schema, error) {
	t, given, o := &r.rep.Table, r.opts.KeySchema, r.opts.Overrides
	def := t.Definition
	if def != nil {
		ks, err := def.Key()
		if err != nil {
			return nil, ks, err
		}
		if given != nil && given.String() != ks.String() {
			return nil, ks, fmt.Errorf("--key-schema %s, but the table definition (%s) has the key %s", given, t.DefinitionFrom, ks)
		}
		in, err := tabledef.CreateInput(def, t.Name, o)
		return in, ks, err
	}
	if o.BillingMode != "" || o.KMSKey != "" || o.TableClass != "" {
		return nil, keyschema.Schema{}, fmt.Errorf("--billing-mode, --table-kms-key and --table-class change a recorded definition, and %s: pass --table-definition", t.DefinitionNote)
	}
	var ks keyschema.Schema
	switch {
	case given != nil:
		ks = *given
	case infer == nil:
		return nil, ks, fmt.Errorf("no table definition and no key schema to create table %s with", t.Name)
	default:
		var err error
		if ks, err = infer(); err != nil {
			return nil, ks, fmt.Errorf("%w\n(%s)", err, t.DefinitionNote)
		}
	}
	in, err := tabledef.CreateInput(KeyOnly(ks), t.Name, o)
	return in, ks, err
}

// checkEmpty refuses a table that holds items, unless Overwrite or the
// restore created it.
func (r *run) checkEmpty(ctx context.Context) error {
	if r.opts.Overwrite || r.rep.Created {
		return nil
	}
	empty, err := IsEmpty(ctx, r.api, r.rep.Name)
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("table %s already holds items; restore writes only into an empty table unless --overwrite (items with the same key are then replaced, others stay; to make a live table match a past time use --source --rewind)", r.rep.Name)
	}
	return nil
}

// expiry is the TTL check items are held to: the definition's TTL
// attribute at Now, unless KeepExpired.
func (r *run) expiry() *Expiry {
	if r.opts.KeepExpired || r.rep.Definition == nil {
		return nil
	}
	return NewExpiry(r.rep.Definition.TTLAttribute(), r.opts.Now())
}

// afterLoad sets what CreateTable could not (TTL, tags, point-in-time
// recovery, the stream, the resource policy, Contributor Insights, auto
// scaling, and when asked Kinesis destinations and replicas) on a table
// the restore created from a definition. A failure
// is reported, not returned: the items are in.
func (r *run) afterLoad(ctx context.Context) {
	t := &r.rep.Table
	if !t.Created || t.Definition == nil {
		return
	}
	o := r.opts.Recreate
	if t.CreateInput != nil {
		o.BillingMode = string(t.CreateInput.BillingMode)
	}
	r.rep.AfterLoad, r.rep.AfterLoadErr = tabledef.AfterLoad(ctx, r.api, t.Name, t.Definition, o)
}

// importInput is the table ImportTable would create: the one created,
// else as recorded when the definition is known, else the key only. A
// definition that gives no request is said in a note, not dropped.
func (r *run) importInput(ks keyschema.Schema) (*dynamodb.CreateTableInput, []string, error) {
	t := &r.rep.Table
	if t.CreateInput != nil {
		return t.CreateInput, nil, nil
	}
	var notes []string
	if t.Definition != nil {
		in, err := tabledef.CreateInput(t.Definition, t.Name, r.opts.Overrides)
		if err == nil {
			return in, nil, nil
		}
		notes = append(notes, fmt.Sprintf("the command creates the table with the key only: the recorded definition gives no CreateTable request (%v)", err))
	}
	in, err := tabledef.CreateInput(KeyOnly(ks), t.Name, tabledef.Overrides{})
	return in, notes, err
}
