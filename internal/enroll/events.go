package enroll

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Event is an EventBridge event, the parts the enroller reads:
//
//   - "Tag Change on Resource" (source aws.tag): resources name the table;
//   - "AWS API Call via CloudTrail" (source aws.dynamodb) for CreateTable,
//     DeleteTable, UpdateTable, TagResource, UntagResource: the table in
//     requestParameters (tableName or resourceArn);
//   - "Scheduled Event" (source aws.events): the periodic sweep.
//
// Anything else is a sweep too: a sweep is always right, only slower.
type Event struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

type cloudTrailDetail struct {
	EventName         string `json:"eventName"`
	RequestParameters struct {
		TableName   string `json:"tableName"`
		ResourceArn string `json:"resourceArn"`
	} `json:"requestParameters"`
}

// EventTables returns the tables an event names; none means a sweep.
func EventTables(ev Event) []string {
	var names []string
	add := func(arn string) {
		if n := tableOfArn(arn); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	switch ev.DetailType {
	case "Tag Change on Resource":
		for _, r := range ev.Resources {
			add(r)
		}
	case "AWS API Call via CloudTrail":
		var d cloudTrailDetail
		if json.Unmarshal(ev.Detail, &d) == nil {
			if d.RequestParameters.TableName != "" {
				names = append(names, d.RequestParameters.TableName)
			}
			add(d.RequestParameters.ResourceArn)
		}
	}
	return names
}

// tableOfArn is the table in arn:aws:dynamodb:REGION:ACCOUNT:table/NAME[/…].
func tableOfArn(arn string) string {
	if !strings.Contains(arn, ":dynamodb:") {
		return ""
	}
	return tableOfStream(arn)
}

// Handle is the enroller Lambda's entry point: the named tables of an
// event, or a sweep. It fails the invocation when a table failed, so the
// Errors alarm fires; the other tables are done.
func (e *Enroller) Handle(ctx context.Context, ev Event) (*Report, error) {
	var r *Report
	var err error
	if names := EventTables(ev); len(names) > 0 {
		r, err = e.Tables(ctx, names)
	} else {
		r, err = e.Sweep(ctx)
	}
	if err != nil {
		return r, err
	}
	e.log().Info("enrolment done", "event", ev.DetailType, "tables", len(r.Tables), "failed", r.Failed, "orphans_removed", len(r.Orphans))
	if err := r.Err(); err != nil {
		return r, fmt.Errorf("enrolment: %w", err)
	}
	return r, nil
}
