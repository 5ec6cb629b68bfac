package status

import (
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/drill"
	"github.com/dynasnap/dynasnap/internal/enroll"
	"github.com/dynasnap/dynasnap/internal/testsupport/schematest"
)

// drill's report is a job result, and the enroller's record matches its
// schema, so another program can write or read them from schemas/ alone.
func TestResultSchemas(t *testing.T) {
	c := schematest.Compiler(t)
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	schematest.Check(t, c, "job-result", drill.Report{Passed: true, Failures: []string{}, StartTime: now})
	schematest.Check(t, c, "job-result", map[string]any{"passed": false, "failures": []string{"3 items differ"}, "time": now})
	schematest.Check(t, c, "enrolment", enroll.Record{Table: "orders", State: enroll.StateEnrolled, TableArn: "arn:aws:dynamodb:eu-west-1:111122223333:table/orders",
		StreamArn: "arn:aws:dynamodb:eu-west-1:111122223333:table/orders/stream/2026-12-04T10:00:00.000", Backups: "s3://b/dynasnap/orders", EnrolledAt: &now, BackfilledAt: &now})
	schematest.Check(t, c, "enrolment", enroll.Record{Table: "orders", State: enroll.StateUnavailable, Reason: "its stream is off",
		TableArn: "arn:aws:dynamodb:eu-west-1:111122223333:table/orders", Backups: "s3://b/dynasnap/orders"})
}
