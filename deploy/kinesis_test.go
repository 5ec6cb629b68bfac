package deploy

import (
	"slices"
	"strings"
	"testing"
)

const testKinesisArn = "arn:aws:kinesis:eu-west-1:222233334444:stream/orders-cdc"

// Source kinesis: the mapping reads the Kinesis data stream, the role
// reads exactly that stream (the actions Lambda's Kinesis event source
// needs) and no DynamoDB stream, and the definition is read from the table
// named by TableName. The Rules refuse either source half-given.
func TestKinesisSource(t *testing.T) {
	eq := func(got, want any, what string) {
		t.Helper()
		if g, w := js(got), js(want); g != w {
			t.Errorf("%s = %s, want %s", what, g, w)
		}
	}
	for name, extra := range variants {
		params := map[string]string{"Source": "kinesis", "KinesisStreamArn": testKinesisArn, "TableName": "Orders", "TableStreamArn": ""}
		for k, v := range extra {
			params[k] = v
		}
		tpl := deploy(t, params)
		eq(get(t, tpl, "StreamMapping", "EventSourceArn"), map[string]any{"Ref": "KinesisStreamArn"}, name+": mapping source")
		eq(get(t, tpl, "StreamMapping", "StartingPosition"), "TRIM_HORIZON", name+": starting position")
		eq(get(t, tpl, "StreamMapping", "FunctionResponseTypes", "0"), "ReportBatchItemFailures", name+": partial batch responses")
		eq(get(t, tpl, "StreamFunction", "Environment", "Variables", "DYNASNAP_SOURCE"), map[string]any{"Ref": "Source"}, name+": source variable")
		// A Kinesis stream may carry several tables' changes: Lambda hands
		// the writer this table's only.
		eq(get(t, tpl, "StreamMapping", "FilterCriteria"), map[string]any{"Filters": []any{map[string]any{"Pattern": map[string]any{"Fn::Sub": `{"data":{"tableName":["${TableName}"]}}`}}}}, name+": filter")
		stmts := statements(t, get(t, tpl, "FunctionRole", "Policies", "0", "PolicyDocument"))
		var all []string
		for _, s := range stmts {
			acts := actions(s)
			all = append(all, acts...)
			switch s.Sid {
			case "ReadStream":
				slices.Sort(acts)
				want := []string{"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"}
				if !slices.Equal(acts, want) || js(s.Resource) != `{"Ref":"KinesisStreamArn"}` {
					t.Errorf("%s: ReadStream %v on %s", name, acts, js(s.Resource))
				}
			case "ReadTableDefinition":
				tbl := `{"Fn::Sub":"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}"}`
				if js(s.Resource) != `[`+tbl+`,{"Fn::Join":["",[`+tbl+`,"/index/*"]]}]` {
					t.Errorf("%s: ReadTableDefinition on %s", name, js(s.Resource))
				}
			}
			// The two take no resource (TestRoleLeastPrivilege checks their actions).
			if r, ok := s.Resource.(string); ok && r == "*" && s.Sid != "ReadAutoScaling" && s.Sid != "ReadStreamTriggers" {
				t.Errorf("%s: %s on every resource", name, s.Sid)
			}
		}
		for _, a := range all {
			if strings.Contains(a, "*") || a == "dynamodb:GetRecords" || a == "dynamodb:ListStreams" || a == "kinesis:ListStreams" {
				t.Errorf("%s: the kinesis role has %s", name, a)
			}
		}
		for _, need := range []string{"s3:PutObject", "sqs:SendMessage", "dynamodb:DescribeTable"} {
			if !slices.Contains(all, need) {
				t.Errorf("%s: the kinesis role lacks %s", name, need)
			}
		}
	}
	for _, bad := range []map[string]string{
		{"Source": "kinesis", "TableName": "Orders", "TableStreamArn": ""},
		{"Source": "kinesis", "KinesisStreamArn": testKinesisArn, "TableStreamArn": ""},
		{"Source": "dynamodb-stream", "TableStreamArn": ""},
		{"Source": "kinesis", "KinesisStreamArn": "arn:aws:dynamodb:eu-west-1:222233334444:table/Orders/stream/x", "TableName": "Orders"},
	} {
		if _, _, err := resolve(t, bad); err == nil {
			t.Errorf("%v deploys", bad)
		}
	}
	// The default is today's: the DynamoDB stream.
	tpl := deploy(t, nil)
	eq(get(t, tpl, "StreamMapping", "EventSourceArn"), map[string]any{"Ref": "TableStreamArn"}, "default mapping source")
	if _, ok := tpl.Resources["StreamMapping"].Properties["FilterCriteria"]; ok {
		t.Error("the DynamoDB stream's mapping filters records")
	}
}
