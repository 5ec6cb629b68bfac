// Package deploy holds the CloudFormation template that deploys the stream
// writer; this test checks its syntax and the properties the backup relies on.
package deploy

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

type template struct {
	Parameters map[string]map[string]any
	Conditions map[string]any
	Resources  map[string]struct {
		Type       string
		Properties map[string]any
	}
	Outputs map[string]any
}

func load(t *testing.T) (template, []byte) {
	t.Helper()
	b, err := os.ReadFile("template.json")
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatalf("template.json is not valid JSON: %v", err)
	}
	return tpl, b
}

// get walks a path of map keys and list indexes ("0") in a resource.
func get(t *testing.T, tpl template, res string, path ...string) any {
	t.Helper()
	r, ok := tpl.Resources[res]
	if !ok {
		t.Fatalf("no resource %s", res)
	}
	var v any = r.Properties
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v, ok = x[p]
		case []any:
			i := int(p[0] - '0')
			ok = i < len(x)
			if ok {
				v = x[i]
			}
		default:
			ok = false
		}
		if !ok {
			t.Fatalf("%s has no %s", res, strings.Join(path, "."))
		}
	}
	return v
}

func TestTemplateResources(t *testing.T) {
	tpl, _ := load(t)
	want := map[string]string{
		"BackupBucket": "AWS::S3::Bucket", "StreamFunction": "AWS::Lambda::Function", "FunctionRole": "AWS::IAM::Role",
		"StreamMapping": "AWS::Lambda::EventSourceMapping", "FailureQueue": "AWS::SQS::Queue",
		"IteratorAgeAlarm": "AWS::CloudWatch::Alarm", "IteratorAgeCriticalAlarm": "AWS::CloudWatch::Alarm", "ErrorsAlarm": "AWS::CloudWatch::Alarm",
	}
	for name, typ := range want {
		if got := tpl.Resources[name].Type; got != typ {
			t.Errorf("resource %s has type %q, want %s", name, got, typ)
		}
	}
	eq := func(got, want any, what string) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("%s = %s, want %s", what, g, w)
		}
	}
	eq(get(t, tpl, "BackupBucket", "VersioningConfiguration", "Status"), "Enabled", "bucket versioning")
	eq(get(t, tpl, "BackupBucket", "BucketEncryption", "ServerSideEncryptionConfiguration", "0", "ServerSideEncryptionByDefault", "SSEAlgorithm"), "AES256", "bucket SSE")
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		eq(get(t, tpl, "BackupBucket", "PublicAccessBlockConfiguration", k), true, "public access block "+k)
	}
	eq(get(t, tpl, "BackupBucket", "LifecycleConfiguration", "Rules", "0", "NoncurrentVersionExpiration", "NoncurrentDays"),
		map[string]any{"Ref": "NoncurrentVersionDays"}, "noncurrent version expiry")
	if _, ok := tpl.Parameters["NoncurrentVersionDays"]; !ok {
		t.Error("no NoncurrentVersionDays parameter")
	}

	eq(get(t, tpl, "StreamFunction", "Runtime"), "provided.al2023", "runtime")
	eq(get(t, tpl, "StreamFunction", "Handler"), "bootstrap", "handler")
	eq(get(t, tpl, "StreamFunction", "Code"), "../bin/lambda", "code (what 'make lambda' builds)")
	eq(get(t, tpl, "StreamFunction", "Environment", "Variables", "DYNASNAP_BUCKET"), map[string]any{"Ref": "BackupBucket"}, "DYNASNAP_BUCKET")

	eq(get(t, tpl, "StreamMapping", "FunctionResponseTypes"), []string{"ReportBatchItemFailures"}, "partial batch responses")
	eq(get(t, tpl, "StreamMapping", "BisectBatchOnFunctionError"), true, "bisect on error")
	eq(get(t, tpl, "StreamMapping", "DestinationConfig", "OnFailure", "Destination"), map[string]any{"Fn::GetAtt": []string{"FailureQueue", "Arn"}}, "on-failure destination")
	eq(get(t, tpl, "StreamMapping", "EventSourceArn"), map[string]any{"Ref": "TableStreamArn"}, "event source")

	eq(get(t, tpl, "IteratorAgeAlarm", "MetricName"), "IteratorAge", "iterator age alarm metric")
	eq(get(t, tpl, "IteratorAgeCriticalAlarm", "MetricName"), "IteratorAge", "critical iterator age alarm metric")
	if th := get(t, tpl, "IteratorAgeCriticalAlarm", "Threshold").(float64); th >= 24*3600*1000 {
		t.Errorf("critical iterator age threshold %v ms is not below the stream's 24 hours", th)
	}
	eq(get(t, tpl, "ErrorsAlarm", "MetricName"), "Errors", "errors alarm metric")
	for _, a := range []string{"IteratorAgeAlarm", "IteratorAgeCriticalAlarm", "ErrorsAlarm"} {
		eq(get(t, tpl, a, "Dimensions", "0", "Value"), map[string]any{"Ref": "StreamFunction"}, a+" dimension")
	}
}

// Least privilege: no wildcard actions, no "*" resources, and exactly the
// S3 actions the writer makes.
func TestRoleLeastPrivilege(t *testing.T) {
	tpl, _ := load(t)
	stmts := get(t, tpl, "FunctionRole", "Policies", "0", "PolicyDocument", "Statement").([]any)
	var actions []string
	for _, s := range stmts {
		st := s.(map[string]any)
		if st["Effect"] != "Allow" {
			continue
		}
		if r, ok := st["Resource"].(string); ok && r == "*" {
			t.Errorf("statement %v allows every resource", st["Sid"])
		}
		switch a := st["Action"].(type) {
		case string:
			actions = append(actions, a)
		case []any:
			for _, x := range a {
				actions = append(actions, x.(string))
			}
		}
	}
	for _, a := range actions {
		if strings.Contains(a, "*") {
			t.Errorf("wildcard action %s", a)
		}
	}
	for _, need := range []string{"s3:PutObject", "s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucketVersions",
		"s3:GetBucketVersioning", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream", "sqs:SendMessage",
		"dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource", "dynamodb:DescribeContinuousBackups"} {
		if !slices.Contains(actions, need) {
			t.Errorf("the role lacks %s", need)
		}
	}
}

// Every Ref and GetAtt names a parameter, a resource or a pseudo parameter.
func TestReferencesResolve(t *testing.T) {
	tpl, raw := load(t)
	var doc any
	json.Unmarshal(raw, &doc)
	known := func(name string) bool {
		_, p := tpl.Parameters[name]
		_, r := tpl.Resources[name]
		return p || r || strings.HasPrefix(name, "AWS::")
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["Ref"].(string); ok && !known(r) {
				t.Errorf("Ref to unknown %s", r)
			}
			if g, ok := x["Fn::GetAtt"].([]any); ok && !known(g[0].(string)) {
				t.Errorf("GetAtt of unknown %s", g[0])
			}
			if s, ok := x["Fn::Sub"].(string); ok {
				for _, part := range strings.Split(s, "${")[1:] {
					name, _, _ := strings.Cut(part, "}")
					name, _, _ = strings.Cut(name, ".")
					if !known(name) {
						t.Errorf("Sub of unknown %s", name)
					}
				}
			}
			if c, ok := x["Fn::If"].([]any); ok {
				if _, ok := tpl.Conditions[c[0].(string)]; !ok {
					t.Errorf("If on unknown condition %s", c[0])
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
}

// The writer reads its table's definition with exactly the four describe
// calls, on the table whose stream it reads.
func TestTableDefinitionPermissions(t *testing.T) {
	tpl, _ := load(t)
	stmts := get(t, tpl, "FunctionRole", "Policies", "0", "PolicyDocument", "Statement").([]any)
	var found bool
	for _, s := range stmts {
		st := s.(map[string]any)
		if st["Sid"] != "ReadTableDefinition" {
			continue
		}
		found = true
		var got []string
		for _, a := range st["Action"].([]any) {
			got = append(got, a.(string))
		}
		slices.Sort(got)
		want := []string{"dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource"}
		if !slices.Equal(got, want) {
			t.Errorf("ReadTableDefinition actions %v, want %v", got, want)
		}
		b, _ := json.Marshal(st["Resource"])
		if !strings.Contains(string(b), `"Fn::Split":["/stream/",{"Ref":"TableStreamArn"}]`) {
			t.Errorf("ReadTableDefinition resource %s is not the table of TableStreamArn", b)
		}
	}
	if !found {
		t.Error("no ReadTableDefinition statement")
	}
}
