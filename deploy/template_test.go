// Package deploy holds the CloudFormation template that deploys the stream
// writer; this test checks its syntax and the properties the backup relies on.
package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
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

// A stream ARN for the one parameter without a default.
const testStreamArn = "arn:aws:dynamodb:eu-west-1:222233334444:table/Orders/stream/2026-11-01T00:00:00.000"

// variants are the parameter sets the template is checked under: the
// default (a bucket created here) and an existing bucket in the backup
// account, without and with its KMS key.
var variants = map[string]map[string]string{
	"default":         nil,
	"existing bucket": {"BackupBucketName": "dynasnap-backup-111122223333-eu-west-1", "BackupBucketOwner": "111122223333"},
	"existing bucket with KMS": {"BackupBucketName": "dynasnap-backup-111122223333-eu-west-1", "BackupBucketOwner": "111122223333",
		"BackupKeyArn": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
}

// deploy is template.json as CloudFormation would deploy it with params
// (TableStreamArn set, the rest at their defaults).
func deploy(t *testing.T, params map[string]string) template {
	t.Helper()
	tpl, _, err := resolve(t, params)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// resolve checks params against the parameters' patterns and the Rules'
// assertions (the error), then does what CloudFormation does with the
// Conditions: resources and outputs whose condition is false are left out,
// each Fn::If becomes the branch it picks, and AWS::NoValue removes the key
// or list element it stands for. It returns the result decoded and raw.
func resolve(t *testing.T, params map[string]string) (template, map[string]any, error) {
	t.Helper()
	tpl, raw := load(t)
	return resolveTemplate(t, tpl, raw, map[string]string{"TableStreamArn": testStreamArn}, params)
}

// resolveTemplate is resolve for any template (raw, decoded as tpl), with
// defaults for parameters that have none.
func resolveTemplate(t *testing.T, tpl template, raw []byte, defaults, params map[string]string) (template, map[string]any, error) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	r := &resolver{t: t, tpl: tpl, params: map[string]string{}, memo: map[string]bool{}}
	maps.Copy(r.params, defaults)
	maps.Copy(r.params, params)
	for name, v := range r.params {
		p, ok := tpl.Parameters[name]
		if !ok {
			t.Fatalf("no parameter %s", name)
		}
		if pat, ok := p["AllowedPattern"].(string); ok && !regexp.MustCompile("^(?:"+pat+")$").MatchString(v) {
			return template{}, nil, fmt.Errorf("%s=%q does not match its AllowedPattern %s", name, v, pat)
		}
		if av, ok := p["AllowedValues"].([]any); ok && !slices.ContainsFunc(av, func(a any) bool { return r.value(a) == v }) {
			return template{}, nil, fmt.Errorf("%s=%q is not one of its AllowedValues", name, v)
		}
	}
	rules, _ := doc["Rules"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(rules)) {
		rule := rules[name].(map[string]any)
		if c, ok := rule["RuleCondition"]; ok && !r.cond(c) {
			continue
		}
		for _, a := range rule["Assertions"].([]any) {
			a := a.(map[string]any)
			if !r.cond(a["Assert"]) {
				return template{}, nil, fmt.Errorf("rule %s: %s", name, a["AssertDescription"])
			}
		}
	}
	for _, section := range []string{"Resources", "Outputs"} {
		m := doc[section].(map[string]any)
		for name, v := range m {
			if c, ok := v.(map[string]any)["Condition"].(string); ok && !r.named(c) {
				delete(m, name)
			}
		}
	}
	out, _ := r.resolve(doc)
	b, _ := json.Marshal(out)
	var res template
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res, out.(map[string]any), nil
}

type resolver struct {
	t      *testing.T
	tpl    template
	params map[string]string
	memo   map[string]bool
}

// value is a literal, or a Ref to a parameter, as the string
// CloudFormation compares.
func (r *resolver) value(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		if name, ok := x["Ref"].(string); ok {
			if v, ok := r.params[name]; ok {
				return v
			}
			p, ok := r.tpl.Parameters[name]
			if !ok {
				r.t.Fatalf("Ref to %s in a condition: not a parameter", name)
			}
			d, ok := p["Default"]
			if !ok {
				r.t.Fatalf("parameter %s has no default and no value", name)
			}
			return r.value(d)
		}
	}
	r.t.Fatalf("cannot compare %v", v)
	return ""
}

func (r *resolver) cond(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		r.t.Fatalf("not a condition: %v", v)
	}
	for fn, arg := range m {
		switch fn {
		case "Condition":
			return r.named(arg.(string))
		case "Fn::Equals":
			a := arg.([]any)
			return r.value(a[0]) == r.value(a[1])
		case "Fn::Not":
			return !r.cond(arg.([]any)[0])
		case "Fn::And":
			return !slices.ContainsFunc(arg.([]any), func(c any) bool { return !r.cond(c) })
		case "Fn::Or":
			return slices.ContainsFunc(arg.([]any), r.cond)
		}
		r.t.Fatalf("unknown condition function %s", fn)
	}
	return false
}

func (r *resolver) named(name string) bool {
	if v, ok := r.memo[name]; ok {
		return v
	}
	c, ok := r.tpl.Conditions[name]
	if !ok {
		r.t.Fatalf("no condition %s", name)
	}
	v := r.cond(c)
	r.memo[name] = v
	return v
}

// resolve reports false for a value AWS::NoValue removes.
func (r *resolver) resolve(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		if x["Ref"] == "AWS::NoValue" {
			return nil, false
		}
		if f, ok := x["Fn::If"].([]any); ok {
			if r.named(f[0].(string)) {
				return r.resolve(f[1])
			}
			return r.resolve(f[2])
		}
		out := map[string]any{}
		for k, e := range x {
			if e, ok := r.resolve(e); ok {
				out[k] = e
			}
		}
		return out, true
	case []any:
		out := []any{}
		for _, e := range x {
			if e, ok := r.resolve(e); ok {
				out = append(out, e)
			}
		}
		return out, true
	}
	return v, true
}

func TestTemplateResources(t *testing.T) {
	tpl := deploy(t, nil)
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

// Least privilege: no wildcard actions, no "*" resources (but for the two
// Application Auto Scaling reads and lambda:ListEventSourceMappings, which
// take no resource: AWS's service authorization reference lists no
// resource type for them), and exactly
// the S3 actions the writer makes, whichever bucket it writes to.
func TestRoleLeastPrivilege(t *testing.T) {
	for name, params := range variants {
		tpl := deploy(t, params)
		stmts := get(t, tpl, "FunctionRole", "Policies", "0", "PolicyDocument", "Statement").([]any)
		var actions []string
		for _, s := range stmts {
			st := s.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			if r, ok := st["Resource"].(string); ok && r == "*" && !(st["Sid"] == "ReadAutoScaling" &&
				reflect.DeepEqual(st["Action"], []any{"application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies"}) ||
				st["Sid"] == "ReadStreamTriggers" && st["Action"] == "lambda:ListEventSourceMappings") {
				t.Errorf("%s: statement %v allows every resource", name, st["Sid"])
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
				t.Errorf("%s: wildcard action %s", name, a)
			}
		}
		for _, need := range []string{"s3:PutObject", "s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucketVersions",
			"s3:GetBucketVersioning", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream", "sqs:SendMessage",
			"dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource", "dynamodb:DescribeContinuousBackups",
			"dynamodb:GetResourcePolicy", "dynamodb:DescribeContributorInsights", "dynamodb:DescribeKinesisStreamingDestination",
			"application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies", "lambda:ListEventSourceMappings"} {
			if !slices.Contains(actions, need) {
				t.Errorf("%s: the role lacks %s", name, need)
			}
		}
	}
}

// Every Ref and GetAtt names a parameter, a resource or a pseudo parameter,
// every condition named exists, and, as deployed under each variant, no
// reference is left to a resource that variant does not create.
func TestReferencesResolve(t *testing.T) {
	tpl, raw := load(t)
	var doc any
	json.Unmarshal(raw, &doc)
	checkReferences(t, "template.json", tpl, doc)
	for name, params := range variants {
		tpl, doc, err := resolve(t, params)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkReferences(t, name, tpl, doc)
		if b, _ := json.Marshal(doc); strings.Contains(string(b), `"Fn::If"`) {
			t.Errorf("%s: an Fn::If is left after resolving", name)
		}
	}
}

func checkReferences(t *testing.T, what string, tpl template, doc any) {
	t.Helper()
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
				t.Errorf("%s: Ref to unknown %s", what, r)
			}
			if g, ok := x["Fn::GetAtt"].([]any); ok && !known(g[0].(string)) {
				t.Errorf("%s: GetAtt of unknown %s", what, g[0])
			}
			if s, ok := x["Fn::Sub"].(string); ok {
				for _, part := range strings.Split(s, "${")[1:] {
					name, _, _ := strings.Cut(part, "}")
					name, _, _ = strings.Cut(name, ".")
					if !known(name) {
						t.Errorf("%s: Sub of unknown %s", what, name)
					}
				}
			}
			if c, ok := x["Fn::If"].([]any); ok {
				if _, ok := tpl.Conditions[c[0].(string)]; !ok {
					t.Errorf("%s: If on unknown condition %s", what, c[0])
				}
			}
			// A resource's, an output's, or one condition naming another
			// (a policy statement's Condition is an object).
			if c, ok := x["Condition"].(string); ok {
				if _, ok := tpl.Conditions[c]; !ok {
					t.Errorf("%s: unknown condition %s", what, c)
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

// The writer reads its table's definition with exactly the describe calls
// of tabledef.Describe, on the table whose stream it reads (and its
// indexes, for Contributor Insights), and auto scaling with its two reads.
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
		want := []string{"dynamodb:DescribeContinuousBackups", "dynamodb:DescribeContributorInsights", "dynamodb:DescribeKinesisStreamingDestination",
			"dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:GetResourcePolicy", "dynamodb:ListTagsOfResource"}
		if !slices.Equal(got, want) {
			t.Errorf("ReadTableDefinition actions %v, want %v", got, want)
		}
		b, _ := json.Marshal(st["Resource"])
		if !strings.Contains(string(b), `"Fn::Split":["/stream/",{"Ref":"TableStreamArn"}]`) || !strings.Contains(string(b), `"/index/*"`) ||
			strings.Count(string(b), "TableStreamArn") != 2 {
			t.Errorf("ReadTableDefinition resource %s is not the table of TableStreamArn and its indexes", b)
		}
	}
	if !found {
		t.Error("no ReadTableDefinition statement")
	}
	// The table's later streams too: restore --create-table under the same
	// name turns the stream on and points this function at it.
	for _, s := range stmts {
		if st := s.(map[string]any); st["Sid"] == "ReadStream" {
			if b, _ := json.Marshal(st["Resource"]); !strings.Contains(string(b), `"/stream/*"`) {
				t.Errorf("ReadStream resource %s: not the table's later streams", b)
			}
		}
	}
}
