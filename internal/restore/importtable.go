package restore

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// ImportTableCommand is the AWS CLI command that hands the same snapshot to
// DynamoDB ImportTable, which loads it server-side into a new table without
// consuming write capacity: the way for tables too big to write through the
// API. The data files are DYNAMODB_JSON as ImportTable reads them; the
// prefix points at data/ so the sidecars are left out. in is the table's
// CreateTable request: its TableCreationParameters are the same key,
// attributes, billing, capacities, encryption and GSIs. What ImportTable
// cannot take (LSIs, table class, deletion protection, warm throughput) is
// named in the returned notes.
func ImportTableCommand(s *snapshot.Snapshot, in *dynamodb.CreateTableInput) (string, []string) {
	p, _ := tabledef.ImportParameters(in)
	var notes []string
	if n := len(in.LocalSecondaryIndexes); n > 0 {
		var names []string
		for _, l := range in.LocalSecondaryIndexes {
			names = append(names, aws.ToString(l.IndexName))
		}
		notes = append(notes, fmt.Sprintf("ImportTable takes no local secondary indexes, and an LSI can only be created with the table: "+
			"a table imported this way lacks %s (restore --create-table makes them)", strings.Join(names, ", ")))
	}
	if in.TableClass != "" && in.TableClass != types.TableClassStandard {
		notes = append(notes, fmt.Sprintf("ImportTable creates STANDARD tables: change the class to %s afterwards with update-table --table-class", in.TableClass))
	}
	if aws.ToBool(in.DeletionProtectionEnabled) {
		notes = append(notes, "turn deletion protection on afterwards: update-table --deletion-protection-enabled")
	}
	notes = append(notes, "TTL, tags, point-in-time recovery, the stream and its Lambda triggers, auto scaling, the resource policy, "+
		"Contributor Insights, Kinesis destinations and replicas are not part of ImportTable: set them after the import (restore --create-table does)")

	compression := map[string]string{"gzip": "GZIP", "zstd": "ZSTD", "none": "NONE"}[s.Summary.Dynasnap.Compression]
	if compression == "" {
		compression = "GZIP"
	}
	var b strings.Builder
	bucket, prefix := "BUCKET", "PREFIX"
	if s3s, ok := s.Store.(*store.S3); ok {
		loc, pfx := s3s.Location()
		bucket, prefix = loc, pfx
	} else {
		fmt.Fprintf(&b, "  aws s3 sync %s s3://BUCKET/PREFIX/   # ImportTable reads from S3\n", shellQuote(s.Store.URL("")))
	}
	dataPrefix := strings.TrimPrefix(strings.Trim(prefix, "/")+"/"+snapshot.DataDir+"/", "/")
	fmt.Fprintf(&b, "  aws dynamodb import-table --input-format DYNAMODB_JSON --input-compression-type %s \\\n", compression)
	// Bucket and prefix are the user's names: quoted for the shell, and
	// in JSON rather than the CLI's shorthand, where a comma or '=' in a
	// prefix would change what it says.
	source, _ := json.Marshal(struct{ S3Bucket, S3KeyPrefix string }{bucket, dataPrefix})
	fmt.Fprintf(&b, "      --s3-bucket-source %s \\\n", shellQuote(string(source)))
	fmt.Fprintf(&b, "      --table-creation-parameters %s", shellQuote(string(p)))
	return b.String(), notes
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " '\"$`\\!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
