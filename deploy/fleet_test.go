package deploy

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

// deployFleet is fleet.json as CloudFormation deploys it with params.
func deployFleet(t *testing.T, params map[string]string) (template, error) {
	t.Helper()
	raw, err := os.ReadFile("fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatalf("fleet.json is not valid JSON: %v", err)
	}
	res, doc, err := resolveTemplate(t, tpl, raw, nil, params)
	if err == nil {
		checkReferences(t, "fleet.json", res, doc)
		if b, _ := json.Marshal(doc); strings.Contains(string(b), `"Fn::If"`) {
			t.Errorf("fleet.json: an Fn::If is left after resolving")
		}
	}
	return res, err
}

// fleetVariants are the one-table variants, each with streams turned on by
// the enroller or not.
func fleetVariants() map[string]map[string]string {
	out := map[string]map[string]string{}
	for name, p := range variants {
		for _, on := range []string{"false", "true"} {
			q := maps.Clone(p)
			if q == nil {
				q = map[string]string{}
			}
			q["EnableStreams"] = on
			out[name+", EnableStreams="+on] = q
		}
	}
	return out
}

// The fleet: one writer, one enroller run by the tag rule, the table rule
// and the sweep, alarms as the one-table template's plus the enroller's.
func TestFleetResources(t *testing.T) {
	tpl, err := deployFleet(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]string{
		"BackupBucket": "AWS::S3::Bucket", "FailureQueue": "AWS::SQS::Queue", "WriterFunction": "AWS::Lambda::Function",
		"EnrollerFunction": "AWS::Lambda::Function", "WriterRole": "AWS::IAM::Role", "EnrollerRole": "AWS::IAM::Role",
		"TagRule": "AWS::Events::Rule", "TableRule": "AWS::Events::Rule", "SweepRule": "AWS::Events::Rule",
		"TagRulePermission": "AWS::Lambda::Permission", "TableRulePermission": "AWS::Lambda::Permission", "SweepRulePermission": "AWS::Lambda::Permission",
		"WriterIteratorAgeAlarm": "AWS::CloudWatch::Alarm", "WriterIteratorAgeCriticalAlarm": "AWS::CloudWatch::Alarm",
		"WriterErrorsAlarm": "AWS::CloudWatch::Alarm", "FailureQueueAlarm": "AWS::CloudWatch::Alarm", "EnrollerErrorsAlarm": "AWS::CloudWatch::Alarm",
	} {
		if got := tpl.Resources[name].Type; got != typ {
			t.Errorf("%s: type %q, want %s", name, got, typ)
		}
	}
	if slices.ContainsFunc(slices.Collect(maps.Keys(tpl.Resources)), func(n string) bool { return tpl.Resources[n].Type == "AWS::Lambda::EventSourceMapping" }) {
		t.Error("the fleet template maps a stream itself: the enroller does")
	}
	wenv := js(get(t, tpl, "WriterFunction", "Environment", "Variables"))
	if strings.Contains(wenv, "DYNASNAP_TABLE") || !strings.Contains(wenv, `"DYNASNAP_SOURCE":"dynamodb-stream"`) {
		t.Errorf("writer environment %s: each table is filed under its own name", wenv)
	}
	eenv := get(t, tpl, "EnrollerFunction", "Environment", "Variables").(map[string]any)
	for k, want := range map[string]string{"DYNASNAP_MODE": `"enroll"`, "DYNASNAP_WRITER_FUNCTION": `{"Fn::GetAtt":["WriterFunction","Arn"]}`,
		"DYNASNAP_TAG_KEY": `{"Ref":"TagKey"}`, "DYNASNAP_TAG_VALUE": `{"Ref":"TagValue"}`, "DYNASNAP_ENABLE_STREAMS": `{"Ref":"EnableStreams"}`,
		"DYNASNAP_FAILURE_QUEUE_ARN": `{"Fn::GetAtt":["FailureQueue","Arn"]}`, "DYNASNAP_PREFIX": `{"Ref":"BackupPrefix"}`, "DYNASNAP_LAYOUT": `{"Ref":"Layout"}`} {
		if got := js(eenv[k]); got != want {
			t.Errorf("enroller %s = %s, want %s", k, got, want)
		}
	}
	for _, r := range []string{"TagRule", "TableRule", "SweepRule"} {
		if got := js(get(t, tpl, r, "Targets", "0", "Arn")); got != `{"Fn::GetAtt":["EnrollerFunction","Arn"]}` {
			t.Errorf("%s targets %s", r, got)
		}
		if got := js(get(t, tpl, r+"Permission", "SourceArn")); got != `{"Fn::GetAtt":["`+r+`","Arn"]}` || get(t, tpl, r+"Permission", "Principal") != "events.amazonaws.com" {
			t.Errorf("%sPermission: %s", r, got)
		}
	}
	if got := js(get(t, tpl, "TagRule", "EventPattern", "detail")); got != `{"changed-tag-keys":[{"Ref":"TagKey"}],"resource-type":["table"],"service":["dynamodb"]}` {
		t.Errorf("tag rule pattern %s", got)
	}
	for a, fn := range map[string]string{"WriterIteratorAgeAlarm": "WriterFunction", "WriterErrorsAlarm": "WriterFunction", "EnrollerErrorsAlarm": "EnrollerFunction"} {
		if got := js(get(t, tpl, a, "Dimensions", "0", "Value")); got != `{"Ref":"`+fn+`"}` {
			t.Errorf("%s watches %s", a, got)
		}
	}
}

// Least privilege, under every variant: no wildcard action; "*" only for
// the calls that take no resource (ListTables, ListEventSourceMappings,
// Application Auto Scaling's two reads of the definition)
// and CreateEventSourceMapping, which is held to the writer by
// lambda:FunctionArn as DeleteEventSourceMapping is; UpdateTable only
// when the stack may turn streams on; the writer reads streams and
// definitions and writes under the prefix, nothing else of DynamoDB.
func TestFleetRolesLeastPrivilege(t *testing.T) {
	for name, params := range fleetVariants() {
		tpl, err := deployFleet(t, params)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		byRole := map[string]map[string]statement{}
		for _, role := range []string{"WriterRole", "EnrollerRole"} {
			byRole[role] = map[string]statement{}
			for _, s := range statements(t, get(t, tpl, role, "Policies", "0", "PolicyDocument")) {
				byRole[role][s.Sid] = s
				if s.Effect != "Allow" {
					continue
				}
				for _, a := range actions(s) {
					if strings.Contains(a, "*") {
						t.Errorf("%s: %s: wildcard action %s", name, role, a)
					}
					if strings.HasPrefix(a, "dynamodb:") && !slices.Contains([]string{"dynamodb:ListTables", "dynamodb:DescribeTable", "dynamodb:ListTagsOfResource",
						"dynamodb:Scan", "dynamodb:DescribeTimeToLive", "dynamodb:DescribeContinuousBackups", "dynamodb:UpdateTable",
						"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
						"dynamodb:GetResourcePolicy", "dynamodb:DescribeContributorInsights", "dynamodb:DescribeKinesisStreamingDestination"}, a) {
						t.Errorf("%s: %s may %s", name, role, a)
					}
				}
				if s.Resource == "*" {
					ok := slices.Equal(actions(s), []string{"dynamodb:ListTables"}) || slices.Equal(actions(s), []string{"lambda:ListEventSourceMappings"}) ||
						slices.Equal(actions(s), []string{"application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies"}) ||
						(slices.Equal(actions(s), []string{"lambda:CreateEventSourceMapping"}) && js(s.Condition) == `{"StringEquals":{"lambda:FunctionArn":{"Fn::GetAtt":["WriterFunction","Arn"]}}}`)
					if !ok {
						t.Errorf("%s: %s: %s on every resource", name, role, s.Sid)
					}
				}
			}
		}
		w, e := byRole["WriterRole"], byRole["EnrollerRole"]
		var writerActions, enrollerActions []string
		for _, s := range w {
			writerActions = append(writerActions, actions(s)...)
		}
		for _, s := range e {
			enrollerActions = append(enrollerActions, actions(s)...)
		}
		for _, need := range []string{"dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream", "dynamodb:DescribeTable",
			"s3:PutObject", "s3:GetObject", "s3:ListBucketVersions", "s3:GetBucketVersioning", "sqs:SendMessage"} {
			if !slices.Contains(writerActions, need) {
				t.Errorf("%s: the writer lacks %s", name, need)
			}
		}
		for _, never := range []string{"dynamodb:UpdateTable", "dynamodb:ListTables", "dynamodb:Scan", "lambda:CreateEventSourceMapping"} {
			if slices.Contains(writerActions, never) {
				t.Errorf("%s: the writer may %s", name, never)
			}
		}
		for _, need := range []string{"dynamodb:ListTables", "dynamodb:ListTagsOfResource", "dynamodb:DescribeTable", "dynamodb:Scan",
			"lambda:CreateEventSourceMapping", "lambda:DeleteEventSourceMapping", "lambda:ListEventSourceMappings", "s3:PutObject", "s3:GetObject"} {
			if !slices.Contains(enrollerActions, need) {
				t.Errorf("%s: the enroller lacks %s", name, need)
			}
		}
		if got, want := slices.Contains(enrollerActions, "dynamodb:UpdateTable"), params["EnableStreams"] == "true"; got != want {
			t.Errorf("%s: the enroller may UpdateTable: %v", name, got)
		}
		for _, never := range []string{"dynamodb:GetRecords", "sqs:SendMessage", "lambda:UpdateFunctionConfiguration", "iam:PassRole"} {
			if slices.Contains(enrollerActions, never) {
				t.Errorf("%s: the enroller may %s", name, never)
			}
		}
		if got := js(e["DeleteWriterMappings"].Condition); got != `{"StringEquals":{"lambda:FunctionArn":{"Fn::GetAtt":["WriterFunction","Arn"]}}}` {
			t.Errorf("%s: DeleteEventSourceMapping is not held to the writer: %s", name, got)
		}
		if !strings.Contains(js(w["ReadStreams"].Resource), ":table/*/stream/*") {
			t.Errorf("%s: the writer reads streams on %s", name, js(w["ReadStreams"].Resource))
		}
		if !strings.Contains(js(e["WriteEnrolments"].Resource), ".dynasnap-results/*") {
			t.Errorf("%s: enrolment records written to %s", name, js(e["WriteEnrolments"].Resource))
		}
		// An existing bucket: every S3 statement held to its owner's account.
		if params["BackupBucketName"] != "" {
			for role, sts := range byRole {
				for _, s := range sts {
					if strings.HasPrefix(strings.Join(actions(s), ","), "s3:") && !strings.Contains(js(s.Condition), "s3:ResourceAccount") {
						t.Errorf("%s: %s %s is not held to the bucket owner's account", name, role, s.Sid)
					}
				}
			}
			if tpl.Resources["BackupBucket"].Type != "" {
				t.Errorf("%s: creates a bucket beside the existing one", name)
			}
		}
	}
	// A half-given existing bucket is refused, as by the one-table template.
	if _, err := deployFleet(t, map[string]string{"BackupBucketName": "dynasnap-backup-111122223333-eu-west-1"}); err == nil {
		t.Error("a bucket without its owner deploys")
	}
	if _, err := deployFleet(t, map[string]string{"EnableStreams": "yes"}); err == nil {
		t.Error("EnableStreams=yes deploys")
	}
}
