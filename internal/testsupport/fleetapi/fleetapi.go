// Package fleetapi is a local stand-in for the AWS APIs the enroller calls
// (internal/enroll) that the local stack lacks: DynamoDB streams on
// dynalite (UpdateTable's StreamSpecification, DescribeTable's
// StreamSpecification, LatestStreamArn and LatestStreamLabel) and Lambda's
// event source mappings (CreateEventSourceMapping, DeleteEventSourceMapping,
// ListEventSourceMappings). Every other DynamoDB action (ListTables,
// ListTagsOfResource, TagResource, Scan, ...) goes to dynalite. Each request
// the enroller makes is checked against its API reference (required
// members, ranges, enums, no unknown members); Violations lists what broke
// a rule, Requests the bodies, for a test to check.
package fleetapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/testsupport/faultproxy"
)

// Proxy is the running stand-in; URL serves both DynamoDB and Lambda.
type Proxy struct {
	URL string

	target     *url.URL
	mu         sync.Mutex
	streams    map[string]stream // table -> its stream, while enabled
	mappings   map[string]Mapping
	order      []string // mapping UUIDs in creation order
	requests   map[string][]map[string]any
	violations []string
}

type stream struct {
	view, label string
}

// Mapping is an event source mapping the stand-in holds.
type Mapping struct {
	UUID                           string
	EventSourceArn                 string
	FunctionArn                    string
	State                          string
	BatchSize                      float64
	StartingPosition               string
	MaximumBatchingWindowInSeconds float64
	FunctionResponseTypes          []any
	BisectBatchOnFunctionError     bool
	MaximumRetryAttempts           float64
	ParallelizationFactor          float64
	DestinationConfig              map[string]any
}

const mappingsPath = "/2015-03-31/event-source-mappings/"

// New starts the stand-in in front of dynalite at target.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: u, streams: map[string]stream{}, mappings: map[string]Mapping{}, requests: map[string][]map[string]any{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = p.describeTable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, mappingsPath) {
			p.lambda(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		_, action, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		var req map[string]any
		json.Unmarshal(body, &req)
		p.record(action, req)
		p.check(action, req)
		table, _ := req["TableName"].(string)
		switch {
		case action == "UpdateTable" && req["StreamSpecification"] != nil && len(req) == 2:
			p.updateStream(w, r, table, req["StreamSpecification"].(map[string]any))
			return
		case action == "DeleteTable":
			p.mu.Lock()
			delete(p.streams, table)
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *Proxy) record(action string, req map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests[action] = append(p.requests[action], req)
}

func (p *Proxy) violate(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.violations = append(p.violations, fmt.Sprintf(format, args...))
}

// Requests returns the recorded bodies of action (Lambda's: its operation
// name), in order.
func (p *Proxy) Requests(action string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests[action])
}

// Violations are the requests that broke their API reference's rules.
func (p *Proxy) Violations() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.violations)
}

// Mappings returns the mappings held, in creation order.
func (p *Proxy) Mappings() []Mapping {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Mapping
	for _, id := range p.order {
		if m, ok := p.mappings[id]; ok {
			out = append(out, m)
		}
	}
	return out
}

// StreamArn is table's stream ARN while its stream is on ("" when off).
func (p *Proxy) StreamArn(tableArn, table string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.streams[table]
	if !ok {
		return ""
	}
	return tableArn + "/stream/" + s.label
}

// The DynamoDB API reference's rules for the requests the enroller makes
// (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/).
func (p *Proxy) check(action string, req map[string]any) {
	allowed := map[string][]string{
		"ListTables":         {"ExclusiveStartTableName", "Limit"},
		"DescribeTable":      {"TableName"},
		"ListTagsOfResource": {"ResourceArn", "NextToken"},
	}
	if fields, ok := allowed[action]; ok {
		for k := range req {
			if !slices.Contains(fields, k) {
				p.violate("%s: unknown member %s", action, k)
			}
		}
	}
	str := func(name string, min, max int, required bool) {
		v, ok := req[name]
		if !ok {
			if required {
				p.violate("%s: %s is required", action, name)
			}
			return
		}
		s, ok := v.(string)
		if !ok || len(s) < min || len(s) > max {
			p.violate("%s: %s %v is not a string of %d to %d characters", action, name, v, min, max)
		}
	}
	switch action {
	case "ListTables":
		str("ExclusiveStartTableName", 3, 1024, false)
		if v, ok := req["Limit"]; ok {
			if n, ok := v.(float64); !ok || n < 1 || n > 100 {
				p.violate("ListTables: Limit %v is not 1 to 100", v)
			}
		}
	case "DescribeTable":
		str("TableName", 1, 1024, true)
	case "ListTagsOfResource":
		str("ResourceArn", 1, 1283, true)
		str("NextToken", 0, 1<<20, false)
	case "UpdateTable":
		str("TableName", 1, 1024, true)
		if spec, ok := req["StreamSpecification"].(map[string]any); ok {
			en, ok := spec["StreamEnabled"].(bool)
			if !ok {
				p.violate("UpdateTable: StreamSpecification.StreamEnabled is required (a boolean)")
			}
			view, has := spec["StreamViewType"].(string)
			if en && !slices.Contains([]string{"KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"}, view) {
				p.violate("UpdateTable: StreamViewType %q (present %v) is not one of KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES", view, has)
			}
		}
	}
}

// updateStream answers an UpdateTable that only sets StreamSpecification
// (dynalite has no streams): the table described, with its new stream.
func (p *Proxy) updateStream(w http.ResponseWriter, r *http.Request, table string, spec map[string]any) {
	desc, status, err := p.dynalite(r, "DescribeTable", map[string]any{"TableName": table})
	if err != nil || status != http.StatusOK {
		faultproxy.WriteDynamoDBJSON(w, status, desc)
		return
	}
	en, _ := spec["StreamEnabled"].(bool)
	view, _ := spec["StreamViewType"].(string)
	p.mu.Lock()
	_, on := p.streams[table]
	switch {
	case en && on:
		p.mu.Unlock()
		answer(w, http.StatusBadRequest, map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
			"message": "Table already has an enabled stream: TableName: " + table})
		return
	case en:
		// The label is the time the stream began, as DynamoDB's.
		p.streams[table] = stream{view: view, label: time.Now().UTC().Format("2006-01-02T15:04:05.000")}
	default:
		delete(p.streams, table)
	}
	p.mu.Unlock()
	var d map[string]any
	json.Unmarshal(desc, &d)
	td, _ := d["Table"].(map[string]any)
	p.addStream(td)
	answer(w, http.StatusOK, map[string]any{"TableDescription": td})
}

// dynalite sends one request to dynalite with the caller's credentials.
func (p *Proxy) dynalite(r *http.Request, action string, body any) ([]byte, int, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, p.target.String()+"/", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+action)
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	req.Header.Set("X-Amz-Date", r.Header.Get("X-Amz-Date"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, http.StatusBadGateway, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return out, resp.StatusCode, err
}

// addStream puts a table's stream into its description.
func (p *Proxy) addStream(td map[string]any) {
	if td == nil {
		return
	}
	name, _ := td["TableName"].(string)
	arn, _ := td["TableArn"].(string)
	p.mu.Lock()
	s, on := p.streams[name]
	p.mu.Unlock()
	if !on {
		delete(td, "StreamSpecification")
		delete(td, "LatestStreamArn")
		delete(td, "LatestStreamLabel")
		return
	}
	td["StreamSpecification"] = map[string]any{"StreamEnabled": true, "StreamViewType": s.view}
	td["LatestStreamLabel"] = s.label
	td["LatestStreamArn"] = arn + "/stream/" + s.label
}

// describeTable adds the stream to dynalite's DescribeTable answers.
func (p *Proxy) describeTable(resp *http.Response) error {
	if !strings.HasSuffix(resp.Request.Header.Get("X-Amz-Target"), ".DescribeTable") || resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var d map[string]any
	if json.Unmarshal(body, &d) == nil {
		td, _ := d["Table"].(map[string]any)
		p.addStream(td)
		body, _ = json.Marshal(d)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	return nil
}

func answer(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	faultproxy.WriteDynamoDBJSON(w, status, b)
}

// The Lambda API reference's rules
// (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
// and its List and Delete pages).
var (
	arnPattern      = regexp.MustCompile(`^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)$`)
	functionPattern = regexp.MustCompile(`^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$`)
	createMembers   = []string{"FunctionName", "EventSourceArn", "StartingPosition", "BatchSize", "MaximumBatchingWindowInSeconds",
		"FunctionResponseTypes", "BisectBatchOnFunctionError", "MaximumRetryAttempts", "ParallelizationFactor", "DestinationConfig",
		"Enabled", "MaximumRecordAgeInSeconds", "TumblingWindowInSeconds", "StartingPositionTimestamp", "FilterCriteria", "Tags"}
)

func (p *Proxy) lambda(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		p.violate("%s %s: not signed with SigV4", r.Method, r.URL.Path)
	}
	id := strings.TrimPrefix(r.URL.Path, mappingsPath)
	switch {
	case r.Method == http.MethodPost && id == "":
		p.create(w, r)
	case r.Method == http.MethodGet && id == "":
		p.list(w, r)
	case r.Method == http.MethodDelete && id != "":
		p.record("DeleteEventSourceMapping", map[string]any{"UUID": id})
		p.mu.Lock()
		m, ok := p.mappings[id]
		delete(p.mappings, id)
		p.mu.Unlock()
		if !ok {
			lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "The resource you requested does not exist.")
			return
		}
		m.State = "Deleting"
		writeJSON(w, http.StatusAccepted, m)
	default:
		p.violate("%s %s: not an event source mapping operation", r.Method, r.URL.Path)
		lambdaError(w, http.StatusNotFound, "UnrecognizedClientException", "unknown operation")
	}
}

func (p *Proxy) create(w http.ResponseWriter, r *http.Request) {
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		p.violate("CreateEventSourceMapping: body is not JSON: %v", err)
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "not JSON")
		return
	}
	p.record("CreateEventSourceMapping", req)
	bad := func(format string, args ...any) { p.violate("CreateEventSourceMapping: "+format, args...) }
	for k := range req {
		if !slices.Contains(createMembers, k) {
			bad("unknown member %s", k)
		}
	}
	fn, _ := req["FunctionName"].(string)
	if len(fn) < 1 || len(fn) > 140 || !functionPattern.MatchString(fn) {
		bad("FunctionName %q does not match the reference's pattern (1 to 140 characters)", fn)
	}
	src, _ := req["EventSourceArn"].(string)
	if !arnPattern.MatchString(src) {
		bad("EventSourceArn %q is not an ARN", src)
	}
	if sp, _ := req["StartingPosition"].(string); !slices.Contains([]string{"TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"}, sp) {
		bad("StartingPosition %q is required for a stream and is TRIM_HORIZON, LATEST or AT_TIMESTAMP", sp)
	}
	num := func(name string, lo, hi float64) float64 {
		v, ok := req[name]
		if !ok {
			return 0
		}
		n, ok := v.(float64)
		if !ok || n < lo || n > hi || n != float64(int64(n)) {
			bad("%s %v is not an integer from %v to %v", name, v, lo, hi)
		}
		return n
	}
	m := Mapping{EventSourceArn: src, State: "Creating", StartingPosition: fmt.Sprint(req["StartingPosition"])}
	m.BatchSize = num("BatchSize", 1, 10000)
	m.MaximumBatchingWindowInSeconds = num("MaximumBatchingWindowInSeconds", 0, 300)
	m.MaximumRetryAttempts = num("MaximumRetryAttempts", -1, 10000)
	m.ParallelizationFactor = num("ParallelizationFactor", 1, 10)
	if v, ok := req["FunctionResponseTypes"]; ok {
		l, ok := v.([]any)
		if !ok || len(l) > 1 || (len(l) == 1 && l[0] != "ReportBatchItemFailures") {
			bad("FunctionResponseTypes %v is not [] or [ReportBatchItemFailures]", v)
		}
		m.FunctionResponseTypes = l
	}
	for _, b := range []string{"BisectBatchOnFunctionError", "Enabled"} {
		if v, ok := req[b]; ok {
			if _, ok := v.(bool); !ok {
				bad("%s %v is not a boolean", b, v)
			}
		}
	}
	m.BisectBatchOnFunctionError, _ = req["BisectBatchOnFunctionError"].(bool)
	if v, ok := req["DestinationConfig"]; ok {
		dc, _ := v.(map[string]any)
		of, _ := dc["OnFailure"].(map[string]any)
		d, _ := of["Destination"].(string)
		if dc == nil || of == nil || len(d) > 350 || !arnPattern.MatchString(d) {
			bad("DestinationConfig %v: OnFailure.Destination must be an ARN of at most 350 characters", v)
		}
		m.DestinationConfig = dc
	}
	p.mu.Lock()
	for _, o := range p.mappings {
		if o.EventSourceArn == src && o.FunctionArn == functionArn(fn) {
			p.mu.Unlock()
			lambdaError(w, http.StatusConflict, "ResourceConflictException", "The event source arn ("+src+") and function ("+fn+") provided mapping already exists.")
			return
		}
	}
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	m.UUID = h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	m.FunctionArn = functionArn(fn)
	p.mappings[m.UUID] = m
	p.order = append(p.order, m.UUID)
	p.mu.Unlock()
	writeJSON(w, http.StatusAccepted, m)
}

// functionArn is the ARN Lambda answers with for a function name.
func functionArn(fn string) string {
	if strings.HasPrefix(fn, "arn:") {
		return fn
	}
	return "arn:aws:lambda:us-east-1:123456789012:function:" + fn
}

func (p *Proxy) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rec := map[string]any{}
	for k := range q {
		rec[k] = q.Get(k)
		if !slices.Contains([]string{"EventSourceArn", "FunctionName", "Marker", "MaxItems"}, k) {
			p.violate("ListEventSourceMappings: unknown parameter %s", k)
		}
	}
	p.record("ListEventSourceMappings", rec)
	if v := q.Get("MaxItems"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 10000 {
			p.violate("ListEventSourceMappings: MaxItems %q is not 1 to 10000", v)
		}
	}
	fn, src := q.Get("FunctionName"), q.Get("EventSourceArn")
	if fn != "" && !functionPattern.MatchString(fn) {
		p.violate("ListEventSourceMappings: FunctionName %q does not match the reference's pattern", fn)
	}
	var out []Mapping
	for _, m := range p.Mappings() {
		if (fn == "" || m.FunctionArn == functionArn(fn)) && (src == "" || m.EventSourceArn == src) {
			out = append(out, m)
		}
	}
	// Two a page, so the client's paging is exercised.
	start := 0
	if mk := q.Get("Marker"); mk != "" {
		start, _ = strconv.Atoi(mk)
	}
	end := min(start+2, len(out))
	page := map[string]any{"EventSourceMappings": append([]Mapping{}, out[min(start, len(out)):end]...)}
	if end < len(out) {
		page["NextMarker"] = strconv.Itoa(end)
	}
	writeJSON(w, http.StatusOK, page)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func lambdaError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Amzn-ErrorType", code)
	writeJSON(w, status, map[string]string{"Type": "User", "Message": msg})
}
