package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
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
