package status

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dynasnap/dynasnap/internal/drill"
	"github.com/dynasnap/dynasnap/internal/enroll"
)

// drill's report is a job result, and the enroller's record matches its
// schema, so another program can write or read them from schemas/ alone.
func TestResultSchemas(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	files, _ := filepath.Glob("../../schemas/*.schema.json")
	for _, f := range files {
		r, _ := os.Open(f)
		doc, err := jsonschema.UnmarshalJSON(r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.AddResource("https://dynasnap.dev/schemas/"+filepath.Base(f), doc); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, v any) {
		t.Helper()
		s, err := c.Compile("https://dynasnap.dev/schemas/" + name + ".schema.json")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err := s.Validate(inst); err != nil {
			t.Errorf("%s: %s: %v", name, b, err)
		}
	}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	check("job-result", drill.Report{Passed: true, Failures: []string{}, StartTime: now})
	check("job-result", map[string]any{"passed": false, "failures": []string{"3 items differ"}, "time": now})
	check("enrolment", enroll.Record{Table: "orders", State: enroll.StateEnrolled, TableArn: "arn:aws:dynamodb:eu-west-1:111122223333:table/orders",
		StreamArn: "arn:aws:dynamodb:eu-west-1:111122223333:table/orders/stream/2026-12-04T10:00:00.000", Backups: "s3://b/dynasnap/orders", EnrolledAt: &now, BackfilledAt: &now})
	check("enrolment", enroll.Record{Table: "orders", State: enroll.StateUnavailable, Reason: "its stream is off", TableArn: "arn:aws:dynamodb:eu-west-1:111122223333:table/orders", Backups: "s3://b/dynasnap/orders"})
}
