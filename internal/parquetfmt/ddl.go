package parquetfmt

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
)

// Identifier makes a table name Athena accepts from any text, as column
// names are made from attribute names.
func Identifier(s string) string { return deriveName(s, nil) }

// quote makes a string literal of Hive DDL.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// ParquetDDL is the CREATE EXTERNAL TABLE statement for a Parquet snapshot
// whose data files are under location (the snapshot's data/ folder).
// Athena matches Parquet columns by name, so the order here is free.
func ParquetDDL(ts *TableSchema, table, location, comment string) (string, error) {
	l, err := NewLayout(ts)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS `%s` (\n", table)
	for _, c := range l.cols {
		fmt.Fprintf(&b, "  `%s` %s", c.name, c.typ.Athena())
		if c.name != c.attr || c.typ.Kind == KindJSON {
			note := "DynamoDB attribute " + c.attr
			if c.typ.Kind == KindJSON {
				note += ", as JSON text"
			}
			fmt.Fprintf(&b, " COMMENT %s", quote(note))
		}
		b.WriteString(",\n")
	}
	fmt.Fprintf(&b, "  `%s` string COMMENT 'the whole item as DynamoDB JSON',\n", ColItem)
	fmt.Fprintf(&b, "  `%s` string COMMENT 'the S3 object the item was backed up in',\n", ColObjectKey)
	fmt.Fprintf(&b, "  `%s` string,\n", ColVersionID)
	fmt.Fprintf(&b, "  `%s` timestamp\n)\n", ColLastModified)
	if comment != "" {
		fmt.Fprintf(&b, "COMMENT %s\n", quote(comment))
	}
	fmt.Fprintf(&b, "STORED AS PARQUET\nLOCATION %s\nTBLPROPERTIES ('classification'='parquet');\n", quote(location))
	return b.String(), nil
}

var hiveField = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// JSONLinesDDL is the CREATE EXTERNAL TABLE statement for a JSON-lines
// snapshot ({"Item":{...}} lines), read with the OpenX JsonSerDe as AWS
// documents for DynamoDB exports. The attributes come from a sample of
// items: each is a struct of the DynamoDB types it was seen with (maps and
// lists as JSON text). It also returns the attributes it left out: names
// that are not Hive identifiers, or that differ from another only in case
// (the SerDe ignores case).
func JSONLinesDDL(samples []item.Item, table, location, comment string) (string, []string) {
	seen := map[string]map[string]bool{}
	for _, it := range samples {
		for name, av := range it {
			if seen[name] == nil {
				seen[name] = map[string]bool{}
			}
			seen[name][dynamoType(av)] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	var fields, skipped []string
	folded := map[string]bool{}
	for _, n := range names {
		if !hiveField.MatchString(n) || folded[strings.ToLower(n)] {
			skipped = append(skipped, n)
			continue
		}
		folded[strings.ToLower(n)] = true
		var ts []string
		for _, t := range []string{"S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "M", "L"} {
			if seen[n][t] {
				ts = append(ts, t+":"+jsonSerDeType(t))
			}
		}
		fields = append(fields, fmt.Sprintf("%s:struct<%s>", n, strings.Join(ts, ",")))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS `%s` (\n", table)
	fmt.Fprintf(&b, "  `Item` struct<%s>\n)\n", strings.Join(fields, ",\n    "))
	if comment != "" {
		fmt.Fprintf(&b, "COMMENT %s\n", quote(comment))
	}
	fmt.Fprintf(&b, "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\nLOCATION %s;\n", quote(location))
	return b.String(), skipped
}

func jsonSerDeType(t string) string {
	switch t {
	case "BOOL", "NULL":
		return "boolean"
	case "SS", "NS", "BS":
		return "array<string>"
	}
	// S, N (text keeps every digit), B (base64); M and L as JSON text.
	return "string"
}

func dynamoType(av types.AttributeValue) string {
	switch av.(type) {
	case *types.AttributeValueMemberS:
		return "S"
	case *types.AttributeValueMemberN:
		return "N"
	case *types.AttributeValueMemberB:
		return "B"
	case *types.AttributeValueMemberBOOL:
		return "BOOL"
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberSS:
		return "SS"
	case *types.AttributeValueMemberNS:
		return "NS"
	case *types.AttributeValueMemberBS:
		return "BS"
	case *types.AttributeValueMemberM:
		return "M"
	}
	return "L"
}
