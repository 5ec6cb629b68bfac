package ddbapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// A stand-in for Lambda's event source mappings (REST JSON,
// /2015-03-31/event-source-mappings), on the proxy's URL (point
// AWS_ENDPOINT_URL_LAMBDA at it): CreateEventSourceMapping and
// ListEventSourceMappings for DynamoDB streams, as the Lambda API
// reference has them. A mapping may only read a stream the proxy knows is
// on (a DynamoDB stream ARN of a table whose stream was turned on here).

const mappingsPath = "/2015-03-31/event-source-mappings"

func (p *Proxy) serveLambda(w http.ResponseWriter, r *http.Request, body []byte) {
	reply := func(status int, v any) {
		b, _ := json.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(b)
	}
	fail := func(status int, kind, msg string) {
		w.Header().Set("X-Amzn-ErrorType", kind)
		reply(status, map[string]any{"Type": "User", "message": msg})
	}
	switch r.Method {
	case http.MethodGet:
		q := map[string]any{}
		for k, v := range r.URL.Query() {
			q[k] = v[0]
		}
		p.mu.Lock()
		p.requests["ListEventSourceMappings"] = append(p.requests["ListEventSourceMappings"], q)
		var out []map[string]any
		for _, m := range p.mappings {
			if (str(q, "EventSourceArn") == "" || str(q, "EventSourceArn") == str(m, "EventSourceArn")) &&
				(str(q, "FunctionName") == "" || str(q, "FunctionName") == str(m, "FunctionArn")) {
				out = append(out, m)
			}
		}
		p.mu.Unlock()
		reply(http.StatusOK, map[string]any{"EventSourceMappings": out})
	case http.MethodPost:
		var req map[string]any
		if err := json.Unmarshal(body, &req); err != nil {
			fail(http.StatusBadRequest, "InvalidParameterValueException", "request body is not JSON")
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.requests["CreateEventSourceMapping"] = append(p.requests["CreateEventSourceMapping"], req)
		if str(req, "FunctionName") == "" {
			fail(http.StatusBadRequest, "ValidationException", "1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null")
			return
		}
		if pr := oneOf(req, "StartingPosition", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"); pr != "" {
			fail(http.StatusBadRequest, "InvalidParameterValueException", "StartingPosition is required for a DynamoDB stream: "+string(pr))
			return
		}
		src := str(req, "EventSourceArn")
		table, _, ok := strings.Cut(strings.TrimPrefix(src[strings.Index(src, ":table/")+1:], "table/"), "/stream/")
		if !strings.Contains(src, ":table/") || !ok || p.set.stream[table] == "" || streamARN(table) != src {
			fail(http.StatusBadRequest, "InvalidParameterValueException", "Stream not found: "+src)
			return
		}
		fn := str(req, "FunctionName")
		if !strings.HasPrefix(fn, "arn:") {
			fn = "arn:aws:lambda:us-east-1:000000000000:function:" + fn
		}
		m := map[string]any{"UUID": fmt.Sprintf("00000000-0000-0000-0000-%012d", len(p.mappings)+1), "FunctionArn": fn, "EventSourceArn": src, "State": "Enabled",
			"StartingPosition": req["StartingPosition"], "BatchSize": 100.0, "MaximumBatchingWindowInSeconds": 0.0, "ParallelizationFactor": 1.0,
			"MaximumRetryAttempts": -1.0, "MaximumRecordAgeInSeconds": -1.0, "BisectBatchOnFunctionError": false, "TumblingWindowInSeconds": 0.0,
			"DestinationConfig": map[string]any{"OnFailure": map[string]any{}}, "LastModified": 1764806400.0}
		for _, k := range []string{"BatchSize", "MaximumBatchingWindowInSeconds", "ParallelizationFactor", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds",
			"BisectBatchOnFunctionError", "TumblingWindowInSeconds", "FunctionResponseTypes", "DestinationConfig", "FilterCriteria"} {
			if v, ok := req[k]; ok {
				m[k] = v
			}
		}
		p.mappings = append(p.mappings, m)
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		out["State"] = "Creating"
		reply(http.StatusAccepted, out)
	default:
		fail(http.StatusBadRequest, "UnknownOperationException", "the test proxy answers only Create and List of event source mappings")
	}
}
