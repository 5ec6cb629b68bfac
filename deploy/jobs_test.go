package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func args(v any) string {
	var s []string
	for _, a := range v.([]any) {
		s = append(s, a.(string))
	}
	return strings.Join(s, " ")
}

func TestKubernetesShardedJob(t *testing.T) {
	docs := yamlDocs(t, "kubernetes/sharded-snapshot.yaml")
	if len(docs) != 2 {
		t.Fatalf("want the shards Job and the commit Job, got %d documents", len(docs))
	}
	shards, commit := docs[0], docs[1]
	if shards["kind"] != "Job" || dig(shards, "spec", "completionMode") != "Indexed" {
		t.Errorf("shards: want an Indexed Job, got %v %v", shards["kind"], dig(shards, "spec", "completionMode"))
	}
	n := dig(shards, "spec", "completions")
	a := args(dig(shards, "spec", "template", "spec", "containers", 0, "args"))
	if !strings.Contains(a, "--shard auto/") || !strings.HasSuffix(strings.Fields(a[strings.Index(a, "auto/"):])[0], "/"+itoa(n)) {
		t.Errorf("shard args %q do not match completions %v", a, n)
	}
	if !strings.Contains(a, "--at ${SNAPSHOT_AT}") {
		t.Errorf("shards must share one absolute --at: %q", a)
	}
	if c := args(dig(commit, "spec", "template", "spec", "containers", 0, "args")); !strings.HasPrefix(c, "snapshot commit --out ${SNAPSHOT_OUT}") {
		t.Errorf("commit args %q", c)
	}
	cron := yamlDocs(t, "kubernetes/periodic-snapshot-cronjob.yaml")[0]
	if cron["kind"] != "CronJob" || dig(cron, "spec", "schedule") == nil {
		t.Errorf("periodic: want a CronJob with a schedule")
	}
}

func itoa(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAWSBatchDefinitions(t *testing.T) {
	var shard, commit, sched map[string]any
	for path, v := range map[string]*map[string]any{"aws-batch/job-definition.json": &shard,
		"aws-batch/commit-job-definition.json": &commit, "aws-batch/schedule.json": &sched} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	cmd := args(dig(shard, "containerProperties", "command"))
	if !strings.Contains(cmd, "--shard Ref::shards") || !strings.HasPrefix(dig(shard, "parameters", "shards").(string), "auto/") {
		t.Errorf("shard job: %q", cmd)
	}
	if c := args(dig(commit, "containerProperties", "command")); c != "snapshot commit --out Ref::out" {
		t.Errorf("commit job: %q", c)
	}
	script, _ := os.ReadFile("aws-batch/submit-sharded.sh")
	for _, want := range []string{"--array-properties", "--depends-on", "dynasnap-snapshot-commit"} {
		if !bytes.Contains(script, []byte(want)) {
			t.Errorf("submit-sharded.sh lacks %s", want)
		}
	}
	if !strings.HasPrefix(sched["ScheduleExpression"].(string), "cron(") {
		t.Errorf("schedule: %v", sched["ScheduleExpression"])
	}
	var input map[string]any
	if err := json.Unmarshal([]byte(dig(sched, "Target", "Input").(string)), &input); err != nil || input["JobDefinition"] == nil {
		t.Errorf("schedule target input: %v", err)
	}
}

// TestDrillSchedules: the scheduled DR drills run 'dynasnap drill' with
// budgets and --json, never retry a failed drill, and leave the drill time
// to delete its scratch table after SIGTERM.
func TestDrillSchedules(t *testing.T) {
	s := checkSchedule(t, "drill", "kubernetes/drill-cronjob.yaml", "aws-batch/drill-job-definition.json", "aws-batch/drill-rule.json")
	if g, _ := dig(s.job, "template", "spec", "terminationGracePeriodSeconds").(int); g < 60 {
		t.Errorf("terminationGracePeriodSeconds %v leaves no time to delete the scratch table", g)
	}
	for _, want := range []string{"drill --snapshots s3://", "--max-rpo 30m", "--max-rto 15m", "--json"} {
		if !strings.Contains(s.args, want) {
			t.Errorf("CronJob args %q lack %q", s.args, want)
		}
	}
	if !strings.HasPrefix(s.command, "drill --snapshots Ref::snapshots") || !strings.Contains(s.command, "--max-rpo Ref::") ||
		!strings.Contains(s.command, "--max-rto Ref::") || !strings.HasSuffix(s.command, "--json") {
		t.Errorf("drill job: %q", s.command)
	}
	if !strings.Contains(dig(s.rule, "Targets", 0, "Arn").(string), ":job-queue/") {
		t.Errorf("drill rule target: %v", dig(s.rule, "Targets", 0))
	}
}

// schedule is a scheduled job as deploy/ ships it: a Kubernetes CronJob,
// and an AWS Batch job definition with its EventBridge rules.
type schedule struct {
	job           any            // the CronJob's jobTemplate.spec
	args, command string         // the CronJob's args, the job definition's command
	def, rule     map[string]any // the job definition, the rule file
}

// checkSchedule checks what every scheduled finding (drill, audit) shares:
// a CronJob that never overlaps nor retries (a failure is a finding), a job
// definition whose Ref:: parameters have defaults, tried once, and a cron
// rule submitting it with parameters it uses, plus an alert on its FAILED
// state.
func checkSchedule(t *testing.T, name, cronPath, defPath, rulePath string) schedule {
	t.Helper()
	var s schedule
	cron := yamlDocs(t, cronPath)[0]
	if cron["kind"] != "CronJob" || dig(cron, "spec", "schedule") == nil || dig(cron, "spec", "concurrencyPolicy") != "Forbid" {
		t.Errorf("%s: want a CronJob with a schedule and concurrencyPolicy Forbid", name)
	}
	s.job = dig(cron, "spec", "jobTemplate", "spec")
	if dig(s.job, "backoffLimit") != 0 {
		t.Errorf("a failed %s is a finding: want backoffLimit 0, got %v", name, dig(s.job, "backoffLimit"))
	}
	s.args = args(dig(s.job, "template", "spec", "containers", 0, "args"))
	for path, v := range map[string]*map[string]any{defPath: &s.def, rulePath: &s.rule} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	s.command = args(dig(s.def, "containerProperties", "command"))
	params, _ := s.def["parameters"].(map[string]any)
	for _, f := range strings.Fields(s.command) {
		if p, ok := strings.CutPrefix(f, "Ref::"); ok && params[p] == nil {
			t.Errorf("%s job: Ref::%s has no default in parameters", name, p)
		}
	}
	if n := dig(s.def, "retryStrategy", "attempts"); n != 1.0 {
		t.Errorf("%s job: want retryStrategy.attempts 1, got %v", name, n)
	}
	if !strings.HasPrefix(dig(s.rule, "Rule", "ScheduleExpression").(string), "cron(") {
		t.Errorf("%s rule: %v", name, dig(s.rule, "Rule", "ScheduleExpression"))
	}
	target := dig(s.rule, "Targets", 0)
	if dig(target, "BatchParameters", "JobDefinition") != s.def["jobDefinitionName"] {
		t.Errorf("%s rule target: %v", name, target)
	}
	var input struct{ Parameters map[string]string }
	if err := json.Unmarshal([]byte(dig(target, "Input").(string)), &input); err != nil || len(input.Parameters) == 0 {
		t.Errorf("%s rule target input: %v", name, err)
	}
	for p := range input.Parameters {
		if params[p] == nil {
			t.Errorf("%s rule passes parameter %q, which the job definition does not use", name, p)
		}
	}
	var pattern struct {
		Detail struct{ Status, JobName []string }
	}
	if err := json.Unmarshal([]byte(dig(s.rule, "AlertRule", "EventPattern").(string)), &pattern); err != nil ||
		len(pattern.Detail.JobName) != 1 || pattern.Detail.JobName[0] != dig(target, "BatchParameters", "JobName") ||
		len(pattern.Detail.Status) != 1 || pattern.Detail.Status[0] != "FAILED" {
		t.Errorf("%s alert rule: %v %+v", name, err, pattern)
	}
	return s
}

// TestAuditSchedules: the scheduled audits run 'dynasnap audit' on a
// sample under a read-unit cap with --json, never retry (drift is a
// finding), alert on a failed job and on the stderr line, leave their
// result where status reads it, and the role can read the table and the
// backup and write that result, nothing else.
func TestAuditSchedules(t *testing.T) {
	s := checkSchedule(t, "audit", "kubernetes/audit-cronjob.yaml", "aws-batch/audit-job-definition.json", "aws-batch/audit-rule.json")
	for _, want := range []string{"audit --source s3://", "--table ", "--sample ", "--read-units ", "--report-out s3://backups/dynasnap.dynasnap-results/orders/audit.json", "--json"} {
		if !strings.Contains(s.args, want) {
			t.Errorf("CronJob args %q lack %q", s.args, want)
		}
	}
	if !strings.HasPrefix(s.command, "audit --source Ref::source --table Ref::table") || !strings.Contains(s.command, "--read-units Ref::") || !strings.Contains(s.command, "--report-out Ref::result") || !strings.HasSuffix(s.command, "--json") {
		t.Errorf("audit job: %q", s.command)
	}
	if p, _ := dig(s.rule, "LogMetricFilter", "FilterPattern").(string); !strings.Contains(p, "dynasnap audit: DRIFT") {
		t.Errorf("audit log filter %q does not match the DRIFT line", p)
	}
	b, err := os.ReadFile("aws-batch/audit-role-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var policy map[string]any
	if err := json.Unmarshal(b, &policy); err != nil {
		t.Fatalf("audit-role-policy.json: %v", err)
	}

	// Least privilege: exactly these actions, each on its resource; no
	// wildcard action, and one write: the result status reads.
	want := map[string]string{
		"dynamodb:DescribeTable":       "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
		"dynamodb:Scan":                "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
		"dynamodb:GetItem":             "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
		"s3:GetObject":                 "arn:aws:s3:::backups/dynasnap/orders/*",
		"s3:GetObjectVersion":          "arn:aws:s3:::backups/dynasnap/orders/*",
		"s3:ListBucketVersions":        "arn:aws:s3:::backups",
		"s3:ListBucket":                "arn:aws:s3:::backups",
		"s3:GetBucketVersioning":       "arn:aws:s3:::backups",
		"s3:GetLifecycleConfiguration": "arn:aws:s3:::backups",
		"s3:PutObject":                 "arn:aws:s3:::backups/dynasnap.dynasnap-results/orders/audit.json",
	}
	got := map[string]string{}
	for _, st := range policy["Statement"].([]any) {
		s := st.(map[string]any)
		if s["Effect"] != "Allow" {
			t.Errorf("statement %v: want Allow", s["Sid"])
		}
		res, _ := s["Resource"].(string)
		var actions []any
		switch a := s["Action"].(type) {
		case string:
			actions = []any{a}
		case []any:
			actions = a
		}
		for _, a := range actions {
			if got[a.(string)] != "" {
				t.Errorf("%s granted twice", a)
			}
			got[a.(string)] = res
		}
		if slices.Contains(actions, any("s3:ListBucketVersions")) &&
			!strings.Contains(fmt.Sprint(dig(s, "Condition", "StringLike", "s3:prefix")), "dynasnap/orders/*") {
			t.Errorf("s3:ListBucketVersions without the prefix condition: %v", s["Condition"])
		}
	}
	for a, r := range want {
		if got[a] != r {
			t.Errorf("%s: on %q, want %q", a, got[a], r)
		}
	}
	for a := range got {
		if _, ok := want[a]; !ok {
			t.Errorf("%s is more than an audit needs", a)
		}
	}
}

// TestFleetJobs: the fleet's jobs run 'dynasnap fleet' over the backup
// prefix with each command's placeholders, drills keeping their reports
// where status reads them; failures are findings, not retried.
func TestFleetJobs(t *testing.T) {
	want := map[string][]string{
		"dynasnap-fleet-snapshot": {"fleet --backups s3://", "-- snapshot --source {source} --out {snapshots}/{time}"},
		"dynasnap-fleet-compact":  {"fleet --backups s3://", "-- compact --source {source}"},
		"dynasnap-fleet-drill":    {"fleet --backups s3://", "-- drill --snapshots {snapshots} --report-out {results}/drill.json", "--max-rpo"},
		"dynasnap-fleet-forget":   {"fleet --backups s3://", "-- forget --snapshots {snapshots} --keep-"},
	}
	seen := 0
	for _, doc := range yamlDocs(t, "kubernetes/fleet-cronjobs.yaml") {
		name, _ := dig(doc, "metadata", "name").(string)
		parts, ok := want[name]
		if !ok {
			t.Errorf("unexpected job %s", name)
			continue
		}
		seen++
		if doc["kind"] != "CronJob" || dig(doc, "spec", "concurrencyPolicy") != "Forbid" || dig(doc, "spec", "jobTemplate", "spec", "backoffLimit") != 0 {
			t.Errorf("%s: want a CronJob, concurrencyPolicy Forbid, backoffLimit 0", name)
		}
		a := args(dig(doc, "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "args"))
		for _, p := range parts {
			if !strings.Contains(a, p) {
				t.Errorf("%s: args %q lack %q", name, a, p)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("%d fleet jobs, want %d", seen, len(want))
	}
	b, err := os.ReadFile("aws-batch/fleet-job-definition.json")
	if err != nil {
		t.Fatal(err)
	}
	var def map[string]any
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatal(err)
	}
	if c := args(dig(def, "containerProperties", "command")); !strings.HasPrefix(c, "fleet --backups Ref::backups") || !strings.Contains(c, "-- snapshot --source {source}") {
		t.Errorf("fleet job definition: %q", c)
	}
}
