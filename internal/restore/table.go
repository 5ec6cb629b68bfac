package restore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// ScanAPI is the call IsEmpty makes.
type ScanAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// CreateAPI is the calls creating a table and waiting for it make.
type CreateAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// IsEmpty reports whether a table holds no item. It reads one item with
// Scan rather than DescribeTable's ItemCount, which AWS updates only every
// six hours.
func IsEmpty(ctx context.Context, client ScanAPI, table string) (bool, error) {
	out, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), Limit: aws.Int32(1)})
	if err != nil {
		return false, fmt.Errorf("check whether table %s is empty: %w", table, err)
	}
	return out.Count == 0 && len(out.LastEvaluatedKey) == 0, nil
}

// CreateTable creates an on-demand table with the key schema alone (a
// backup that records no definition) and waits until it is active.
func CreateTable(ctx context.Context, client CreateAPI, table string, ks keyschema.Schema) error {
	in, err := tabledef.CreateInput(KeyOnly(ks), table, tabledef.Overrides{})
	if err != nil {
		return err
	}
	return CreateTableFrom(ctx, client, in)
}

// KeyOnly is the definition of a table with the key only, on-demand: what
// a backup that records no definition is restored into. It goes through
// tabledef.CreateInput like a recorded one, so the overrides (warm
// throughput) apply to both alike.
func KeyOnly(ks keyschema.Schema) *tabledef.Definition {
	d := &tabledef.Definition{BillingMode: string(types.BillingModePayPerRequest)}
	for _, k := range []struct {
		attr keyschema.Attr
		role string
	}{{ks.Hash, "HASH"}, {ks.Range, "RANGE"}} {
		if k.attr.Name != "" {
			d.KeySchema = append(d.KeySchema, tabledef.KeySchemaElement{AttributeName: k.attr.Name, KeyType: k.role})
			d.AttributeDefinitions = append(d.AttributeDefinitions, tabledef.AttributeDef{AttributeName: k.attr.Name, AttributeType: string(k.attr.Type)})
		}
	}
	return d
}

// CreateTableFrom creates a table (tabledef.CreateInput makes the request
// from a recorded definition) and waits until it and every GSI are active.
func CreateTableFrom(ctx context.Context, client CreateAPI, in *dynamodb.CreateTableInput) error {
	table := aws.ToString(in.TableName)
	_, err := client.CreateTable(ctx, in)
	if err != nil {
		var inUse *types.ResourceInUseException
		if errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: it already exists", table)
		}
		return fmt.Errorf("create table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, 5*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 10*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s to become active: %w", table, err)
	}
	if len(in.GlobalSecondaryIndexes) > 0 {
		return tabledef.WaitIndexes(ctx, client, table, 30*time.Minute)
	}
	return nil
}
