package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The cross-account setup (deploy/cross-account): a backup bucket in a
// backup account that the writer may add versions and delete markers to
// but never remove a version from, its KMS key policy, the replica bucket,
// and the recovery account's snapshot and restore roles.

func loadFile(t *testing.T, name string) template {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("cross-account", name))
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatalf("%s is not valid JSON: %v", name, err)
	}
	return tpl
}

type statement struct {
	Sid       string
	Effect    string
	Principal any
	Action    any
	Resource  any
	Condition any
}

// statements decodes a policy document's statements (a Fn::If one as its
// true branch).
func statements(t *testing.T, doc any) []statement {
	t.Helper()
	raw, _ := json.Marshal(doc.(map[string]any)["Statement"])
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	var out []statement
	for _, m := range list {
		if f, ok := m["Fn::If"].([]any); ok {
			m = f[1].(map[string]any)
		}
		b, _ := json.Marshal(m)
		var s statement
		json.Unmarshal(b, &s)
		out = append(out, s)
	}
	return out
}

func actions(s statement) []string {
	switch a := s.Action.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

func mentions(v any, name string) bool {
	b, _ := json.Marshal(v)
	return strings.Contains(string(b), `"`+name+`"`)
}

// grants reports whether an Allow statement for principal gives action
// (or a wildcard that covers it).
func grants(stmts []statement, principal, action string) bool {
	for _, s := range stmts {
		if s.Effect != "Allow" || (principal != "" && !mentions(s.Principal, principal)) {
			continue
		}
		for _, a := range actions(s) {
			if a == action || a == "*" || a == "s3:*" && strings.HasPrefix(action, "s3:") || a == "kms:*" && strings.HasPrefix(action, "kms:") ||
				strings.HasSuffix(a, "*") && strings.HasPrefix(action, strings.TrimSuffix(a, "*")) {
				return true
			}
		}
	}
	return false
}

func denies(stmts []statement, principal, action string) bool {
	for _, s := range stmts {
		if s.Effect == "Deny" && mentions(s.Principal, principal) && slices.Contains(actions(s), action) {
			return true
		}
	}
	return false
}

func TestCrossAccountBucketPolicy(t *testing.T) {
	tpl := loadFile(t, "backup-account.json")
	for name, typ := range map[string]string{"BackupBucket": "AWS::S3::Bucket", "BackupBucketPolicy": "AWS::S3::BucketPolicy",
		"BackupKey": "AWS::KMS::Key", "ReplicationRole": "AWS::IAM::Role"} {
		if tpl.Resources[name].Type != typ {
			t.Errorf("%s: type %q, want %s", name, tpl.Resources[name].Type, typ)
		}
	}
	if v := get(t, tpl, "BackupBucket", "VersioningConfiguration", "Status"); v != "Enabled" {
		t.Errorf("backup bucket versioning %v", v)
	}
	if v := get(t, tpl, "BackupBucket", "OwnershipControls", "Rules", "0", "ObjectOwnership"); v != "BucketOwnerEnforced" {
		t.Errorf("objects written from the table account must belong to the backup account: %v", v)
	}
	stmts := statements(t, get(t, tpl, "BackupBucketPolicy", "PolicyDocument"))
	for _, a := range []string{"s3:PutObject", "s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning"} {
		if !grants(stmts, "WriterRoleArn", a) {
			t.Errorf("the writer's role is not granted %s", a)
		}
	}
	for _, a := range []string{"s3:GetObjectVersion", "s3:ListBucketVersions", "s3:GetBucketVersioning", "s3:ListBucket"} {
		if !grants(stmts, "ReaderRoleArns", a) {
			t.Errorf("the snapshot and restore roles are not granted %s", a)
		}
	}
	for _, who := range []string{"WriterRoleArn", "ReaderRoleArns"} {
		for _, a := range []string{"s3:DeleteObjectVersion", "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy"} {
			if grants(stmts, who, a) {
				t.Errorf("%s is granted %s", who, a)
			}
			if !denies(stmts, who, a) {
				t.Errorf("%s is not explicitly denied %s", who, a)
			}
		}
	}
	if !slices.ContainsFunc(stmts, func(s statement) bool { return s.Sid == "DenyInsecureTransport" && s.Effect == "Deny" }) {
		t.Error("no TLS-only statement")
	}
}

func TestCrossAccountKMSKeyPolicy(t *testing.T) {
	tpl := loadFile(t, "backup-account.json")
	if get(t, tpl, "BackupKey", "EnableKeyRotation") != true {
		t.Error("key rotation off")
	}
	stmts := statements(t, get(t, tpl, "BackupKey", "KeyPolicy"))
	for who, acts := range map[string][]string{
		"WriterRoleArn":   {"kms:GenerateDataKey", "kms:Decrypt"},
		"ReaderRoleArns":  {"kms:Decrypt"},
		"ReplicationRole": {"kms:Decrypt"},
	} {
		for _, a := range acts {
			if !grants(stmts, who, a) {
				t.Errorf("key policy: %s may not %s", who, a)
			}
		}
	}
	for _, who := range []string{"WriterRoleArn", "ReaderRoleArns"} {
		for _, a := range []string{"kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:DisableKey"} {
			if grants(stmts, who, a) {
				t.Errorf("key policy: %s may %s", who, a)
			}
		}
	}
	if !mentions(get(t, tpl, "BackupBucket", "BucketEncryption"), "aws:kms") {
		t.Error("the bucket has no KMS option")
	}
	// The recovery side's roles decrypt with the key too.
	rec := loadFile(t, "recovery-account.json")
	for _, role := range []string{"SnapshotRole", "RestoreRole"} {
		s := statements(t, get(t, rec, role, "Policies", "0", "PolicyDocument"))
		if !grants(s, "", "kms:Decrypt") {
			t.Errorf("%s may not kms:Decrypt the backup", role)
		}
	}
	w := loadWriterPolicy(t)
	if !grants(w, "", "kms:GenerateDataKey") || !grants(w, "", "kms:Decrypt") {
		t.Error("writer-role-policy.json: no kms:GenerateDataKey and kms:Decrypt")
	}
}

func loadWriterPolicy(t *testing.T) []statement {
	b, err := os.ReadFile(filepath.Join("cross-account", "writer-role-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return statements(t, doc)
}

func TestCrossAccountWriterNeverDeletesAVersion(t *testing.T) {
	w := loadWriterPolicy(t)
	for _, a := range []string{"s3:PutObject", "s3:DeleteObject", "s3:ListBucketVersions", "s3:GetBucketVersioning"} {
		if !grants(w, "", a) {
			t.Errorf("writer-role-policy.json lacks %s", a)
		}
	}
	if grants(w, "", "s3:DeleteObjectVersion") {
		t.Error("writer-role-policy.json grants s3:DeleteObjectVersion")
	}
}

func TestReplicaKeepsDeleteMarkers(t *testing.T) {
	tpl := loadFile(t, "backup-account.json")
	repl := get(t, tpl, "BackupBucket", "ReplicationConfiguration", "Fn::If", "1", "Rules", "0")
	r := repl.(map[string]any)
	if mentions(r["DeleteMarkerReplication"], "Disabled") || !mentions(r["DeleteMarkerReplication"], "Enabled") {
		t.Errorf("replication without delete markers: deleted items would come back in a restore from the replica: %v", r["DeleteMarkerReplication"])
	}
	if r["Filter"] == nil || r["Priority"] == nil {
		t.Error("DeleteMarkerReplication needs the V2 rule schema (Filter, Priority)")
	}
	rep := loadFile(t, "replica-bucket.json")
	if v := get(t, rep, "ReplicaBucket", "VersioningConfiguration", "Status"); v != "Enabled" {
		t.Errorf("replica versioning %v", v)
	}
	s := statements(t, get(t, rep, "ReplicaBucketPolicy", "PolicyDocument"))
	if !grants(s, "ReplicationRoleArn", "s3:ReplicateDelete") || !denies(s, "ReplicationRoleArn", "s3:DeleteObjectVersion") {
		t.Error("replica bucket: the replication role must replicate deletes and never delete a version")
	}
}

func TestRecoveryAccountRoles(t *testing.T) {
	tpl := loadFile(t, "recovery-account.json")
	need := map[string][]string{
		"SnapshotRole": {"s3:GetObjectVersion", "s3:ListBucketVersions", "s3:GetBucketVersioning", "s3:ListBucket", "s3:PutObject"},
		"RestoreRole": {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucketVersions", "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:BatchWriteItem", "dynamodb:Scan",
			// what restore --create-table and drill set after the load, and verify reads back
			"dynamodb:UpdateTable", "dynamodb:UpdateTimeToLive", "dynamodb:TagResource", "dynamodb:UpdateContinuousBackups", "dynamodb:PutResourcePolicy",
			"dynamodb:GetResourcePolicy", "dynamodb:UpdateContributorInsights", "dynamodb:DescribeContributorInsights", "dynamodb:EnableKinesisStreamingDestination",
			"dynamodb:DescribeKinesisStreamingDestination", "dynamodb:CreateTableReplica", "dynamodb:DeleteTableReplica",
			"application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy", "application-autoscaling:DeregisterScalableTarget",
			"application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies", "iam:CreateServiceLinkedRole",
			"lambda:CreateEventSourceMapping", "lambda:ListEventSourceMappings"},
	}
	for role, acts := range need {
		s := statements(t, get(t, tpl, role, "Policies", "0", "PolicyDocument"))
		for _, a := range acts {
			if !grants(s, "", a) {
				t.Errorf("%s lacks %s", role, a)
			}
		}
		if grants(s, "", "s3:DeleteObjectVersion") {
			t.Errorf("%s may delete versions", role)
		}
		for _, st := range s {
			// Every resource, only where AWS takes none: ListTables,
			// Application Auto Scaling (a target's id is not known before it
			// is registered) and the event source mappings (held to the
			// account's functions by a condition).
			if r, ok := st.Resource.(string); ok && r == "*" {
				for _, a := range actions(st) {
					if a != "dynamodb:ListTables" && !strings.HasPrefix(a, "application-autoscaling:") && !(strings.HasPrefix(a, "lambda:") && st.Condition != nil) {
						t.Errorf("%s: %s on every resource", role, a)
					}
				}
			}
			if slices.Contains(actions(st), "iam:CreateServiceLinkedRole") && st.Condition == nil {
				t.Errorf("%s: iam:CreateServiceLinkedRole without a condition on the service", role)
			}
		}
	}
}

// grantedOn is the Resource of each Allow statement for principal that
// names action itself.
func grantedOn(stmts []statement, principal, action string) []string {
	var out []string
	for _, s := range stmts {
		if s.Effect == "Allow" && (principal == "" || mentions(s.Principal, principal)) && slices.Contains(actions(s), action) {
			b, _ := json.Marshal(s.Resource)
			out = append(out, string(b))
		}
	}
	return out
}

// Every reader of a backup (snapshot, restore --source, diff, history,
// drill) reads the bucket's lifecycle rules to know how far back its
// history is exact, and the versions themselves: the bucket policies that
// admit the readers and the recovery account's roles must allow both, the
// lifecycle on the bucket (it is a bucket action, which an object ARN does
// not match).
func TestReadersReadLifecycle(t *testing.T) {
	need := []string{"s3:GetLifecycleConfiguration", "s3:GetBucketVersioning", "s3:ListBucketVersions", "s3:GetObjectVersion"}
	type reader struct {
		file, resource, principal, bucket string
		policy                            []string
	}
	for _, r := range []reader{
		{"backup-account.json", "BackupBucketPolicy", "ReaderRoleArns", `{"Fn::GetAtt":["BackupBucket","Arn"]}`, []string{"PolicyDocument"}},
		{"replica-bucket.json", "ReplicaBucketPolicy", "ReaderRoleArns", `{"Fn::GetAtt":["ReplicaBucket","Arn"]}`, []string{"PolicyDocument"}},
		{"recovery-account.json", "SnapshotRole", "", `{"Fn::Sub":"arn:${AWS::Partition}:s3:::${BackupBucketName}"}`, []string{"Policies", "0", "PolicyDocument"}},
		{"recovery-account.json", "RestoreRole", "", `{"Fn::Sub":"arn:${AWS::Partition}:s3:::${BackupBucketName}"}`, []string{"Policies", "0", "PolicyDocument"}},
	} {
		stmts := statements(t, get(t, loadFile(t, r.file), r.resource, r.policy...))
		for _, a := range need {
			if !grants(stmts, r.principal, a) {
				t.Errorf("%s %s: the readers are not granted %s", r.file, r.resource, a)
			}
		}
		if on := grantedOn(stmts, r.principal, "s3:GetLifecycleConfiguration"); !slices.Equal(on, []string{r.bucket}) {
			t.Errorf("%s %s: s3:GetLifecycleConfiguration on %v, want the bucket %s", r.file, r.resource, on, r.bucket)
		}
	}
	// The drill reads the lifecycle of its snapshot's backup for the report.
	b, err := os.ReadFile(filepath.Join("kubernetes", "drill-cronjob.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "s3:GetLifecycleConfiguration") {
		t.Error("drill-cronjob.yaml: the drill role's permissions leave out s3:GetLifecycleConfiguration")
	}
}
