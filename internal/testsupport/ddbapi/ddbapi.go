// Package ddbapi is a test proxy in front of dynalite that answers the
// DynamoDB actions dynalite lacks or only pretends to have: TTL
// (DescribeTimeToLive always says DISABLED, UpdateTimeToLive is missing),
// continuous backups (DescribeContinuousBackups and
// UpdateContinuousBackups are missing), and the settings of settings.go
// (the stream, replicas, resource policy, Contributor Insights, Kinesis
// destinations) plus stand-ins for Application Auto Scaling and Lambda's
// event source mappings on the same URL (point
// AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING and AWS_ENDPOINT_URL_LAMBDA at
// it). It keeps their state per table and
// records every request's body by action, so a test can check a request's
// shape against the AWS API reference. Everything else goes to dynalite
// unchanged (CreateTable's WarmThroughput, SSESpecification, TableClass and
// DeletionProtectionEnabled are ignored there, and only recorded here).
// Deny makes chosen actions answer AccessDeniedException.
package ddbapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/dynasnap/dynasnap/internal/testsupport/faultproxy"
)

// Proxy is the running proxy.
type Proxy struct {
	URL string

	mu       sync.Mutex
	requests map[string][]map[string]any
	ttl      map[string]string // table -> TTL attribute (enabled)
	pitr     map[string]bool
	deny     map[string]bool
	set      settings
	mappings []map[string]any // Lambda event source mappings
	rp       *httputil.ReverseProxy
}

// New starts a proxy to target (dynalite's URL), closed when the test ends.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{requests: map[string][]map[string]any{}, ttl: map[string]string{}, pitr: map[string]bool{}, deny: map[string]bool{}, set: newSettings()}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.rp = rp
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		if strings.HasPrefix(r.URL.Path, mappingsPath) {
			p.serveLambda(w, r, body)
			return
		}
		target := r.Header.Get("X-Amz-Target")
		_, action, _ := strings.Cut(target, ".")
		var req map[string]any
		json.Unmarshal(body, &req)
		p.mu.Lock()
		p.requests[action] = append(p.requests[action], req)
		denied := p.deny[action]
		p.mu.Unlock()
		if denied {
			service := "dynamodb:"
			if strings.HasPrefix(target, "AnyScaleFrontendService.") {
				service = "application-autoscaling:"
			}
			answer(w, http.StatusBadRequest, map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
				"message": "User is not authorized to perform: " + service + action + " (test proxy)"})
			return
		}
		table, _ := req["TableName"].(string)
		if p.serveSettings(w, r, target, action, req) {
			return
		}
		switch action {
		case "DescribeTimeToLive":
			p.mu.Lock()
			attr, on := p.ttl[table]
			p.mu.Unlock()
			d := map[string]any{"TimeToLiveStatus": "DISABLED"}
			if on {
				d = map[string]any{"TimeToLiveStatus": "ENABLED", "AttributeName": attr}
			}
			answer(w, http.StatusOK, map[string]any{"TimeToLiveDescription": d})
		case "UpdateTimeToLive":
			spec, _ := req["TimeToLiveSpecification"].(map[string]any)
			attr, _ := spec["AttributeName"].(string)
			en, _ := spec["Enabled"].(bool)
			p.mu.Lock()
			if en {
				p.ttl[table] = attr
			} else {
				delete(p.ttl, table)
			}
			p.mu.Unlock()
			answer(w, http.StatusOK, map[string]any{"TimeToLiveSpecification": spec})
		case "DescribeContinuousBackups":
			answer(w, http.StatusOK, map[string]any{"ContinuousBackupsDescription": p.backups(table)})
		case "UpdateContinuousBackups":
			spec, _ := req["PointInTimeRecoverySpecification"].(map[string]any)
			en, _ := spec["PointInTimeRecoveryEnabled"].(bool)
			p.SetPITR(table, en)
			answer(w, http.StatusOK, map[string]any{"ContinuousBackupsDescription": p.backups(table)})
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *Proxy) backups(table string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	status := "DISABLED"
	if p.pitr[table] {
		status = "ENABLED"
	}
	return map[string]any{"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": map[string]any{"PointInTimeRecoveryStatus": status}}
}

func answer(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	faultproxy.WriteDynamoDBJSON(w, status, b)
}

// SetTTL turns TTL on for table with attribute attr ("" turns it off).
func (p *Proxy) SetTTL(table, attr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if attr == "" {
		delete(p.ttl, table)
	} else {
		p.ttl[table] = attr
	}
}

// SetPITR sets table's point-in-time recovery status.
func (p *Proxy) SetPITR(table string, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pitr[table] = on
}

// Deny makes action answer AccessDeniedException (false: answer again).
func (p *Proxy) Deny(action string, deny bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deny[action] = deny
}

// Requests returns the bodies of the requests for action that name table
// ("": all), in order.
func (p *Proxy) Requests(action, table string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, r := range p.requests[action] {
		if n, _ := r["TableName"].(string); table == "" || n == table {
			out = append(out, r)
		}
	}
	return out
}
