package ddbapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
)

// The table settings dynalite lacks, answered here after the AWS API
// references (DynamoDB: DescribeTable's StreamSpecification,
// LatestStreamArn, GlobalTableVersion and Replicas (ReplicaDescription);
// UpdateTable's StreamSpecification and ReplicaUpdates;
// Get/PutResourcePolicy; Describe/UpdateContributorInsights;
// Describe/EnableKinesisStreamingDestination. Application Auto Scaling,
// a JSON 1.1 endpoint of its own, X-Amz-Target AnyScaleFrontendService.*:
// Register/DescribeScalableTargets, Put/DescribeScalingPolicies,
// DeregisterScalableTarget). A request without a member the reference
// marks required, or with a value outside its enum, is answered with a
// ValidationException, so a test through the proxy checks the shapes.

type settings struct {
	stream       map[string]string                    // table -> view type
	replicas     map[string][]map[string]any          // table -> ReplicaDescription
	policies     map[string]string                    // table ARN -> policy
	contributors map[string]string                    // table + "/" + index -> mode
	kinesis      map[string][]map[string]any          // table -> KinesisDataStreamDestination
	targets      map[string]map[string]any            // ResourceId + " " + dimension -> ScalableTarget
	scaling      map[string]map[string]map[string]any // ResourceId + " " + dimension -> name -> ScalingPolicy
}

func newSettings() settings {
	return settings{stream: map[string]string{}, replicas: map[string][]map[string]any{}, policies: map[string]string{},
		contributors: map[string]string{}, kinesis: map[string][]map[string]any{}, targets: map[string]map[string]any{},
		scaling: map[string]map[string]map[string]any{}}
}

var viewTypes = []string{"KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"}

// problem is a ValidationException's message.
type problem string

func require(req map[string]any, names ...string) problem {
	for _, n := range names {
		v, ok := req[n]
		if s, isStr := v.(string); !ok || (isStr && s == "") {
			return problem(fmt.Sprintf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(n)))
		}
	}
	return ""
}

func oneOf(req map[string]any, name string, allowed ...string) problem {
	v, _ := req[name].(string)
	for _, a := range allowed {
		if v == a {
			return ""
		}
	}
	return problem(fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", v, lowerFirst(name), strings.Join(allowed, ", ")))
}

func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func obj(m map[string]any, k string) map[string]any { o, _ := m[k].(map[string]any); return o }

// serveSettings answers action if it is one of the settings; false: not
// handled here (dynalite answers it).
func (p *Proxy) serveSettings(w http.ResponseWriter, r *http.Request, target, action string, req map[string]any) bool {
	if strings.HasPrefix(target, "AnyScaleFrontendService.") {
		p.serveScaling(w, action, req)
		return true
	}
	table := str(req, "TableName")
	ok := func(v any) { answer(w, http.StatusOK, v) }
	invalid := func(pr problem) bool {
		if pr == "" {
			return false
		}
		answer(w, http.StatusBadRequest, map[string]any{"__type": "com.amazon.coral.validate#ValidationException", "message": string(pr)})
		return true
	}
	switch action {
	case "DescribeTable":
		p.describeTable(w, r, table)
	case "UpdateTable":
		spec, updates := obj(req, "StreamSpecification"), req["ReplicaUpdates"]
		if spec == nil && updates == nil {
			return false
		}
		if invalid(require(req, "TableName")) {
			return true
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if spec != nil {
			if _, ok := spec["StreamEnabled"].(bool); !ok {
				invalid("1 validation error detected: Value null at 'streamSpecification.streamEnabled' failed to satisfy constraint: Member must not be null")
				return true
			}
			if spec["StreamEnabled"] == true {
				if invalid(oneOf(spec, "StreamViewType", viewTypes...)) {
					return true
				}
				p.set.stream[table] = str(spec, "StreamViewType")
			} else {
				delete(p.set.stream, table)
			}
		}
		list, _ := updates.([]any)
		if updates != nil && len(list) != 1 {
			invalid("ReplicaUpdates: one replica create or delete an UpdateTable (test proxy)")
			return true
		}
		for _, u := range list {
			um, _ := u.(map[string]any)
			if c := obj(um, "Create"); c != nil {
				if invalid(require(c, "RegionName")) {
					return true
				}
				d := map[string]any{"RegionName": c["RegionName"], "ReplicaStatus": "ACTIVE"}
				for _, k := range []string{"KMSMasterKeyId", "ProvisionedThroughputOverride", "OnDemandThroughputOverride", "GlobalSecondaryIndexes"} {
					if v, ok := c[k]; ok {
						d[k] = v
					}
				}
				if tc := str(c, "TableClassOverride"); tc != "" {
					if invalid(oneOf(c, "TableClassOverride", "STANDARD", "STANDARD_INFREQUENT_ACCESS")) {
						return true
					}
					d["ReplicaTableClassSummary"] = map[string]any{"TableClass": tc}
				}
				p.set.replicas[table] = append(p.set.replicas[table], d)
				if p.set.stream[table] == "" {
					p.set.stream[table] = "NEW_AND_OLD_IMAGES" // as DynamoDB turns it on for a replica
				}
			} else if d := obj(um, "Delete"); d != nil {
				var keep []map[string]any
				for _, x := range p.set.replicas[table] {
					if x["RegionName"] != d["RegionName"] {
						keep = append(keep, x)
					}
				}
				p.set.replicas[table] = keep
			} else {
				invalid("ReplicaUpdates: Create or Delete (test proxy)")
				return true
			}
		}
		td := map[string]any{"TableName": table, "TableStatus": "ACTIVE"}
		if v := p.set.stream[table]; v != "" {
			td["StreamSpecification"] = map[string]any{"StreamEnabled": true, "StreamViewType": v}
			td["LatestStreamArn"] = streamARN(table)
		}
		ok(map[string]any{"TableDescription": td})
	case "GetResourcePolicy":
		if invalid(require(req, "ResourceArn")) {
			return true
		}
		p.mu.Lock()
		pol, has := p.set.policies[str(req, "ResourceArn")]
		p.mu.Unlock()
		if !has {
			answer(w, http.StatusBadRequest, map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#PolicyNotFoundException",
				"message": "Resource-based policy not found for the provided ResourceArn: " + str(req, "ResourceArn")})
			return true
		}
		ok(map[string]any{"Policy": pol, "RevisionId": fmt.Sprint(len(pol))})
	case "PutResourcePolicy":
		if invalid(require(req, "ResourceArn", "Policy")) {
			return true
		}
		var doc map[string]any
		if json.Unmarshal([]byte(str(req, "Policy")), &doc) != nil {
			invalid("Policy: not a JSON policy document (test proxy)")
			return true
		}
		p.mu.Lock()
		p.set.policies[str(req, "ResourceArn")] = str(req, "Policy")
		p.mu.Unlock()
		ok(map[string]any{"RevisionId": fmt.Sprint(len(str(req, "Policy")))})
	case "DescribeContributorInsights":
		if invalid(require(req, "TableName")) {
			return true
		}
		p.mu.Lock()
		mode, on := p.set.contributors[table+"/"+str(req, "IndexName")]
		p.mu.Unlock()
		out := map[string]any{"TableName": table, "ContributorInsightsStatus": "DISABLED"}
		if idx := str(req, "IndexName"); idx != "" {
			out["IndexName"] = idx
		}
		if on {
			out["ContributorInsightsStatus"] = "ENABLED"
			if mode != "" {
				out["ContributorInsightsMode"] = mode
			}
		}
		ok(out)
	case "UpdateContributorInsights":
		if invalid(require(req, "TableName", "ContributorInsightsAction")) || invalid(oneOf(req, "ContributorInsightsAction", "ENABLE", "DISABLE")) {
			return true
		}
		if _, has := req["ContributorInsightsMode"]; has && invalid(oneOf(req, "ContributorInsightsMode", "ACCESSED_AND_THROTTLED_KEYS", "THROTTLED_KEYS")) {
			return true
		}
		key := table + "/" + str(req, "IndexName")
		status := "ENABLING"
		p.mu.Lock()
		if str(req, "ContributorInsightsAction") == "ENABLE" {
			p.set.contributors[key] = str(req, "ContributorInsightsMode")
		} else {
			delete(p.set.contributors, key)
			status = "DISABLING"
		}
		p.mu.Unlock()
		out := map[string]any{"TableName": table, "ContributorInsightsStatus": status}
		if idx := str(req, "IndexName"); idx != "" {
			out["IndexName"] = idx
		}
		ok(out)
	case "DescribeKinesisStreamingDestination":
		if invalid(require(req, "TableName")) {
			return true
		}
		p.mu.Lock()
		ds := append([]map[string]any{}, p.set.kinesis[table]...)
		p.mu.Unlock()
		ok(map[string]any{"TableName": table, "KinesisDataStreamDestinations": ds})
	case "EnableKinesisStreamingDestination":
		if invalid(require(req, "TableName", "StreamArn")) {
			return true
		}
		d := map[string]any{"StreamArn": str(req, "StreamArn"), "DestinationStatus": "ACTIVE"}
		out := map[string]any{"TableName": table, "StreamArn": str(req, "StreamArn"), "DestinationStatus": "ENABLING"}
		if c := obj(req, "EnableKinesisStreamingConfiguration"); c != nil {
			if invalid(oneOf(c, "ApproximateCreationDateTimePrecision", "MILLISECOND", "MICROSECOND")) {
				return true
			}
			d["ApproximateCreationDateTimePrecision"] = c["ApproximateCreationDateTimePrecision"]
			out["EnableKinesisStreamingConfiguration"] = c
		}
		p.mu.Lock()
		p.set.kinesis[table] = append(p.set.kinesis[table], d)
		p.mu.Unlock()
		ok(out)
	default:
		return false
	}
	return true
}

func streamARN(table string) string {
	return "arn:aws:dynamodb:us-east-1:000000000000:table/" + table + "/stream/2026-12-04T00:00:00.000"
}

// describeTable has dynalite describe the table, then adds what it does
// not know: the stream, the replicas.
func (p *Proxy) describeTable(w http.ResponseWriter, r *http.Request, table string) {
	r.Header.Del("Accept-Encoding")
	rec := httptest.NewRecorder()
	p.rp.ServeHTTP(rec, r)
	body, _ := io.ReadAll(rec.Body)
	var out map[string]any
	if rec.Code != http.StatusOK || json.Unmarshal(body, &out) != nil || obj(out, "Table") == nil {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
		return
	}
	t := obj(out, "Table")
	p.mu.Lock()
	if v := p.set.stream[table]; v != "" {
		t["StreamSpecification"] = map[string]any{"StreamEnabled": true, "StreamViewType": v}
		t["LatestStreamArn"] = streamARN(table)
		t["LatestStreamLabel"] = "2026-12-04T00:00:00.000"
	}
	if rs := p.set.replicas[table]; len(rs) > 0 {
		t["GlobalTableVersion"] = "2019.11.21"
		t["Replicas"] = rs
	}
	p.mu.Unlock()
	b, _ := json.Marshal(out)
	answer(w, http.StatusOK, json.RawMessage(bytes.TrimSpace(b)))
}

var dimensions = []string{"dynamodb:table:ReadCapacityUnits", "dynamodb:table:WriteCapacityUnits", "dynamodb:index:ReadCapacityUnits", "dynamodb:index:WriteCapacityUnits"}

// serveScaling is the Application Auto Scaling stand-in, for
// ServiceNamespace dynamodb only.
func (p *Proxy) serveScaling(w http.ResponseWriter, action string, req map[string]any) {
	fail := func(code, msg string) {
		answer(w, http.StatusBadRequest, map[string]any{"__type": code, "message": msg})
	}
	check := func(names ...string) bool {
		if pr := require(req, names...); pr != "" {
			fail("ValidationException", string(pr))
			return false
		}
		if pr := oneOf(req, "ServiceNamespace", "dynamodb"); pr != "" {
			fail("ValidationException", string(pr)+" (the test proxy knows dynamodb only)")
			return false
		}
		if _, has := req["ScalableDimension"]; has {
			if pr := oneOf(req, "ScalableDimension", dimensions...); pr != "" {
				fail("ValidationException", string(pr))
				return false
			}
		}
		id := str(req, "ResourceId")
		if id != "" && (!strings.HasPrefix(id, "table/") || strings.Contains(id, "/index/") != strings.Contains(str(req, "ScalableDimension"), ":index:") && str(req, "ScalableDimension") != "") {
			fail("ValidationException", "Unsupported resource ID or scalable dimension: "+id+" "+str(req, "ScalableDimension"))
			return false
		}
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch action {
	case "RegisterScalableTarget":
		if !check("ServiceNamespace", "ResourceId", "ScalableDimension") {
			return
		}
		key := str(req, "ResourceId") + " " + str(req, "ScalableDimension")
		t := p.set.targets[key]
		if t == nil {
			if req["MinCapacity"] == nil || req["MaxCapacity"] == nil {
				fail("ValidationException", "Minimum and maximum capacity are required when registering a new scalable target")
				return
			}
			t = map[string]any{"ServiceNamespace": "dynamodb", "ResourceId": req["ResourceId"], "ScalableDimension": req["ScalableDimension"],
				"RoleARN":      "arn:aws:iam::000000000000:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable",
				"CreationTime": 1764806400.0, "ScalableTargetARN": "arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/" + fmt.Sprint(len(p.set.targets))}
			p.set.targets[key] = t
		}
		for _, k := range []string{"MinCapacity", "MaxCapacity", "SuspendedState"} {
			if v, ok := req[k]; ok {
				t[k] = v
			}
		}
		answer(w, http.StatusOK, map[string]any{"ScalableTargetARN": t["ScalableTargetARN"]})
	case "DescribeScalableTargets":
		if !check("ServiceNamespace") {
			return
		}
		ids := map[string]bool{}
		list, _ := req["ResourceIds"].([]any)
		for _, id := range list {
			ids[fmt.Sprint(id)] = true
		}
		var out []map[string]any
		for _, k := range sortedKeys(p.set.targets) {
			t := p.set.targets[k]
			if (len(ids) == 0 || ids[str(t, "ResourceId")]) && (str(req, "ScalableDimension") == "" || str(req, "ScalableDimension") == str(t, "ScalableDimension")) {
				out = append(out, t)
			}
		}
		answer(w, http.StatusOK, map[string]any{"ScalableTargets": out})
	case "DeregisterScalableTarget":
		if !check("ServiceNamespace", "ResourceId", "ScalableDimension") {
			return
		}
		key := str(req, "ResourceId") + " " + str(req, "ScalableDimension")
		if p.set.targets[key] == nil {
			fail("ObjectNotFoundException", "No scalable target registered for service namespace: dynamodb, resource ID: "+str(req, "ResourceId"))
			return
		}
		delete(p.set.targets, key)
		delete(p.set.scaling, key)
		answer(w, http.StatusOK, map[string]any{})
	case "PutScalingPolicy":
		if !check("PolicyName", "ServiceNamespace", "ResourceId", "ScalableDimension") {
			return
		}
		key := str(req, "ResourceId") + " " + str(req, "ScalableDimension")
		if p.set.targets[key] == nil {
			fail("ObjectNotFoundException", "No scalable target registered for service namespace: dynamodb, resource ID: "+str(req, "ResourceId")+", scalable dimension: "+str(req, "ScalableDimension"))
			return
		}
		if pr := oneOf(req, "PolicyType", "TargetTrackingScaling", "StepScaling"); pr != "" {
			fail("ValidationException", string(pr))
			return
		}
		tt := obj(req, "TargetTrackingScalingPolicyConfiguration")
		if str(req, "PolicyType") == "TargetTrackingScaling" {
			if tt == nil || tt["TargetValue"] == nil {
				fail("ValidationException", "TargetTrackingScalingPolicyConfiguration.TargetValue is required for a target tracking policy")
				return
			}
			if pm := obj(tt, "PredefinedMetricSpecification"); pm != nil {
				if pr := oneOf(pm, "PredefinedMetricType", "DynamoDBReadCapacityUtilization", "DynamoDBWriteCapacityUtilization"); pr != "" {
					fail("ValidationException", string(pr))
					return
				}
			}
		}
		pol := map[string]any{"PolicyName": req["PolicyName"], "ServiceNamespace": "dynamodb", "ResourceId": req["ResourceId"],
			"ScalableDimension": req["ScalableDimension"], "PolicyType": req["PolicyType"], "CreationTime": 1764806400.0,
			"PolicyARN": "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:x:resource/dynamodb/" + str(req, "ResourceId") + ":policyName/" + str(req, "PolicyName"),
			"Alarms":    []any{}}
		if tt != nil {
			pol["TargetTrackingScalingPolicyConfiguration"] = tt
		}
		if p.set.scaling[key] == nil {
			p.set.scaling[key] = map[string]map[string]any{}
		}
		p.set.scaling[key][str(req, "PolicyName")] = pol
		answer(w, http.StatusOK, map[string]any{"PolicyARN": pol["PolicyARN"], "Alarms": []any{}})
	case "DescribeScalingPolicies":
		if !check("ServiceNamespace") {
			return
		}
		var out []map[string]any
		for _, k := range sortedKeys(p.set.scaling) {
			for _, n := range sortedKeys(p.set.scaling[k]) {
				pol := p.set.scaling[k][n]
				if str(req, "ResourceId") == "" || str(req, "ResourceId") == str(pol, "ResourceId") {
					out = append(out, pol)
				}
			}
		}
		answer(w, http.StatusOK, map[string]any{"ScalingPolicies": out})
	default:
		fail("UnknownOperationException", "the test proxy does not answer AnyScaleFrontendService."+action)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
