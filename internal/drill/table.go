package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// cleanup deletes the scratch table unless KeepTable, on a context of its
// own: ctx may be cancelled already (Ctrl-C, SIGTERM), and that is exactly
// when a table must not be left behind.
func cleanup(ctx context.Context, opts Options, rep *Report) error {
	table := rep.Table.Name
	if opts.KeepTable {
		if rep.Table.Created {
			rep.Table.Kept = true
			opts.Log.Printf("scratch table %s kept (--keep-table); delete it with: aws dynamodb delete-table --table-name %s", table, table)
		}
		return nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.DeleteTimeout)
	defer cancel()
	t0 := time.Now()
	// A create cut short may still land after a first look finds nothing.
	uncertain := !rep.Table.Created
	if rep.undo != nil {
		if err := rep.undo(dctx); err != nil {
			opts.Log.Errorf("ERROR: scratch table %s: %v", table, err)
			return fmt.Errorf("scratch table %s: %w", table, err)
		}
	}
	if err := DeleteTable(dctx, opts.DynamoDB, table, uncertain); err != nil {
		opts.Log.Errorf("ERROR: scratch table %s was NOT deleted: %v", table, err)
		return fmt.Errorf("scratch table %s was NOT deleted (delete it by hand: aws dynamodb delete-table --table-name %s): %w", table, table, err)
	}
	rep.Table.Deleted = true
	rep.Table.Delete = spanPtr(time.Since(t0))
	opts.Log.Printf("deleted scratch table %s", table)
	return nil
}

// DeleteTable deletes a table and waits until it is gone. A table still
// being created (an interrupted drill) is waited for and then deleted; a
// table that does not exist is fine. With recheck, a table not found is
// looked for again a little later, in case a CreateTable that was in
// flight lands after the first look.
func DeleteTable(ctx context.Context, client *dynamodb.Client, table string, recheck bool) error {
	for {
		_, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		var nf *types.ResourceNotFoundException
		var inUse *types.ResourceInUseException
		pause := time.Second
		switch {
		case err == nil:
			w := dynamodb.NewTableNotExistsWaiter(client, func(o *dynamodb.TableNotExistsWaiterOptions) {
				o.MinDelay, o.MaxDelay = 200*time.Millisecond, 5*time.Second
			})
			if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, maxWait(ctx)); err != nil {
				return fmt.Errorf("wait for table %s to be deleted: %w", table, err)
			}
			return nil
		case errors.As(err, &nf) && recheck:
			recheck, pause = false, 2*time.Second
		case errors.As(err, &nf):
			return nil
		case errors.As(err, &inUse):
			// CREATING or UPDATING: DynamoDB refuses the delete until it
			// settles. DELETING: it ends as not found.
		default:
			return fmt.Errorf("delete table %s: %w", table, err)
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return fmt.Errorf("delete table %s: gave up waiting for it to settle: %w", table, ctx.Err())
		}
	}
}

func maxWait(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return 10 * time.Minute
}

// ScratchTables lists the tables whose names start with prefix + "-": what
// drills with that prefix create. One that no drill is running for was
// left by a drill killed outright (SIGKILL, a lost machine), where no
// cleanup can run.
func ScratchTables(ctx context.Context, client *dynamodb.Client, prefix string) ([]string, error) {
	var out []string
	p := dynamodb.NewListTablesPaginator(client, &dynamodb.ListTablesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		for _, n := range page.TableNames {
			if strings.HasPrefix(n, prefix+"-") {
				out = append(out, n)
			}
		}
	}
	return out, nil
}
