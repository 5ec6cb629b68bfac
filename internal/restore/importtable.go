package restore

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

// ImportTableCommand is the AWS CLI command that hands the same snapshot to
// DynamoDB ImportTable, which loads it server-side into a new table without
// consuming write capacity: the way for tables too big to write through the
// API. The data files are DYNAMODB_JSON as ImportTable reads them; the
// prefix points at data/ so the sidecars are left out.
func ImportTableCommand(s *snapshot.Snapshot, table string, ks keyschema.Schema) string {
	keys, attrs := ks.Definition()
	type kse struct{ AttributeName, KeyType string }
	type ad struct{ AttributeName, AttributeType string }
	params := struct {
		TableName            string
		KeySchema            []kse
		AttributeDefinitions []ad
		BillingMode          string
	}{TableName: table, BillingMode: "PAY_PER_REQUEST"}
	for _, e := range keys {
		params.KeySchema = append(params.KeySchema, kse{aws.ToString(e.AttributeName), string(e.KeyType)})
	}
	for _, e := range attrs {
		params.AttributeDefinitions = append(params.AttributeDefinitions, ad{aws.ToString(e.AttributeName), string(e.AttributeType)})
	}
	p, _ := json.Marshal(params)

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
	fmt.Fprintf(&b, "      --s3-bucket-source S3Bucket=%s,S3KeyPrefix=%s \\\n", bucket, dataPrefix)
	fmt.Fprintf(&b, "      --table-creation-parameters %s", shellQuote(string(p)))
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " '\"$`\\!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
