package deploy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// BackupBucketName, BackupBucketOwner and BackupKeyArn point the writer at
// a bucket this stack does not create, typically the backup account's
// (deploy/cross-account/backup-account.json). The owner is what keeps a
// bucket name that changed hands from receiving the table's items: it is
// both the header every request carries and the only account the role may
// use the bucket in.

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

const (
	existingObjects = `{"Fn::Sub":"arn:${AWS::Partition}:s3:::${BackupBucketName}/${BackupPrefix}/*"}`
	existingBucket  = `{"Fn::Sub":"arn:${AWS::Partition}:s3:::${BackupBucketName}"}`
)

// The writer's calls (internal/backup, internal/stream, internal/tabledef)
// and what each needs: PutObject, DeleteObject (a delete marker), HeadObject
// of the current version (s3:GetObject) and of the one before a delete
// (s3:GetObjectVersion), ListObjectVersions with the item's key as prefix
// (s3:ListBucketVersions), GetBucketVersioning once per cold start. And
// s3:ListBucket, without which S3 answers a HEAD of an item never written
// 403 instead of 404, which the writer takes for a failure, not a new item.
var (
	writerObjectActions = []string{"s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"}
	writerBucketActions = []string{"s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions"}
)

func s3Actions(stmts []statement) []string {
	var out []string
	for _, s := range stmts {
		for _, a := range actions(s) {
			if strings.HasPrefix(a, "s3:") && s.Effect == "Allow" {
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestExistingBucketWriter(t *testing.T) {
	for _, name := range []string{"existing bucket", "existing bucket with KMS"} {
		tpl := deploy(t, variants[name])
		for _, r := range []string{"BackupBucket", "BackupBucketPolicy"} {
			if _, ok := tpl.Resources[r]; ok {
				t.Errorf("%s: the stack still creates %s", name, r)
			}
		}
		env := get(t, tpl, "StreamFunction", "Environment", "Variables").(map[string]any)
		if got := js(env["DYNASNAP_BUCKET"]); got != `{"Ref":"BackupBucketName"}` {
			t.Errorf("%s: DYNASNAP_BUCKET = %s", name, got)
		}
		if got := js(env["DYNASNAP_EXPECTED_BUCKET_OWNER"]); got != `{"Ref":"BackupBucketOwner"}` {
			t.Errorf("%s: DYNASNAP_EXPECTED_BUCKET_OWNER = %s", name, got)
		}
		if got := js(tpl.Outputs["BucketName"]); got != `{"Value":{"Ref":"BackupBucketName"}}` {
			t.Errorf("%s: BucketName output %s", name, got)
		}

		stmts := statements(t, get(t, tpl, "FunctionRole", "Policies", "0", "PolicyDocument"))
		for _, s := range stmts {
			acts := actions(s)
			if !strings.HasPrefix(acts[0], "s3:") {
				continue
			}
			// Object actions on the prefix's objects, bucket actions on
			// the bucket, never the two mixed on one resource.
			want := existingBucket
			if slices.Contains(writerObjectActions, acts[0]) {
				want = existingObjects
			}
			for _, a := range acts {
				if slices.Contains(writerObjectActions, a) != (want == existingObjects) {
					t.Errorf("%s: %s mixes object and bucket actions: %v", name, s.Sid, acts)
				}
			}
			if got := js(s.Resource); got != want {
				t.Errorf("%s: %s (%v) on %s, want %s", name, s.Sid, acts, got, want)
			}
			cond, _ := s.Condition.(map[string]any)
			eq, _ := cond["StringEquals"].(map[string]any)
			if got := js(eq["s3:ResourceAccount"]); got != `{"Ref":"BackupBucketOwner"}` {
				t.Errorf("%s: %s is not limited to the owner's bucket (s3:ResourceAccount %s)", name, s.Sid, got)
			}
			if slices.Contains(acts, "s3:ListBucketVersions") {
				like, _ := cond["StringLike"].(map[string]any)
				if got := js(like["s3:prefix"]); got != `{"Fn::Sub":"${BackupPrefix}/*"}` {
					t.Errorf("%s: %s lists versions outside the prefix: s3:prefix %s", name, s.Sid, got)
				}
			}
		}
		want := slices.Sorted(slices.Values(append(slices.Clone(writerObjectActions), writerBucketActions...)))
		if got := s3Actions(stmts); !slices.Equal(got, want) {
			t.Errorf("%s: the role's S3 actions are %v, want exactly %v", name, got, want)
		}

		kms := slices.IndexFunc(stmts, func(s statement) bool { return s.Sid == "UseBackupKey" })
		if name == "existing bucket" {
			if kms >= 0 {
				t.Errorf("%s: a KMS grant without BackupKeyArn", name)
			}
			continue
		}
		if kms < 0 {
			t.Fatalf("%s: no UseBackupKey statement", name)
		}
		s := stmts[kms]
		if got := slices.Sorted(slices.Values(actions(s))); !slices.Equal(got, []string{"kms:Decrypt", "kms:GenerateDataKey"}) {
			t.Errorf("%s: UseBackupKey actions %v", name, got)
		}
		if got := js(s.Resource); got != `{"Ref":"BackupKeyArn"}` {
			t.Errorf("%s: UseBackupKey on %s", name, got)
		}
		if !strings.Contains(js(s.Condition), `"kms:ViaService"`) {
			t.Errorf("%s: the key may be used other than through S3: %s", name, js(s.Condition))
		}
	}
}

// A cross-account write needs the grant on both sides: the writer's role
// (template.json, or writer-role-policy.json for a writer deployed some
// other way) and the backup bucket's policy and key policy. They must
// agree, or the writer fails on whichever call one side left out.
func TestExistingBucketMatchesBackupAccount(t *testing.T) {
	tpl := deploy(t, variants["existing bucket with KMS"])
	role := statements(t, get(t, tpl, "FunctionRole", "Policies", "0", "PolicyDocument"))
	backup := loadFile(t, "backup-account.json")
	bucket := statements(t, get(t, backup, "BackupBucketPolicy", "PolicyDocument"))
	var granted []statement
	for _, s := range bucket {
		if s.Effect == "Allow" && mentions(s.Principal, "WriterRoleArn") {
			granted = append(granted, s)
		}
	}
	if got, want := s3Actions(role), s3Actions(granted); !slices.Equal(got, want) {
		t.Errorf("template.json's role may %v, the backup bucket's policy lets the writer %v", got, want)
	}
	if got, want := s3Actions(role), s3Actions(loadWriterPolicy(t)); !slices.Equal(got, want) {
		t.Errorf("template.json's role may %v, writer-role-policy.json %v", got, want)
	}
	key := statements(t, get(t, backup, "BackupKey", "KeyPolicy"))
	for _, a := range []string{"kms:GenerateDataKey", "kms:Decrypt"} {
		if !grants(role, "", a) || !grants(key, "WriterRoleArn", a) {
			t.Errorf("%s: template.json's role %v, the key policy %v", a, grants(role, "", a), grants(key, "WriterRoleArn", a))
		}
	}
	// The role's own ARN is what backup-account.json's WriterRoleArn needs.
	if got := js(tpl.Outputs["FunctionRoleArn"]); !strings.Contains(got, `{"Fn::GetAtt":["FunctionRole","Arn"]}`) {
		t.Errorf("FunctionRoleArn output %s", got)
	}
}

// Without the new parameters the stack deploys what it did before they
// existed: its own bucket, no owner header, and the same role, plus
// s3:ListBucket: without it S3 answers a HEAD of an absent key 403, not
// 404, and the writer's check of a new item's current version would fail.
func TestDefaultBucketUnchanged(t *testing.T) {
	tpl := deploy(t, nil)
	raw, _ := load(t)
	for name := range raw.Resources {
		if _, ok := tpl.Resources[name]; !ok {
			t.Errorf("the default stack does not create %s", name)
		}
	}
	env := get(t, tpl, "StreamFunction", "Environment", "Variables").(map[string]any)
	if got := js(env); got != `{"DYNASNAP_BUCKET":{"Ref":"BackupBucket"},"DYNASNAP_JOURNAL_LAG":{"Fn::Sub":"${JournalLag}s"},"DYNASNAP_LAYOUT":{"Ref":"Layout"},"DYNASNAP_PREFIX":{"Ref":"BackupPrefix"},"DYNASNAP_SOURCE":{"Ref":"Source"}}` {
		t.Errorf("default environment %s", got)
	}
	stmts := statements(t, get(t, tpl, "FunctionRole", "Policies", "0", "PolicyDocument"))
	var sids []string
	for _, s := range stmts {
		sids = append(sids, s.Sid)
	}
	if want := []string{"Logs", "ReadStream", "ReadTableDefinition", "ReadAutoScaling", "ReadStreamTriggers", "ListStreams", "WriteItems", "ReadItemVersions", "HeadAbsentItems", "CheckVersioning", "ReportFailures"}; !slices.Equal(sids, want) {
		t.Errorf("default role statements %v, want %v", sids, want)
	}
	for _, s := range stmts {
		got := js(map[string]any{"Action": s.Action, "Resource": s.Resource, "Condition": s.Condition})
		want := map[string]string{
			"WriteItems":       `{"Action":["s3:PutObject","s3:DeleteObject","s3:GetObject","s3:GetObjectVersion"],"Condition":null,"Resource":{"Fn::Sub":"${BackupBucket.Arn}/${BackupPrefix}/*"}}`,
			"ReadItemVersions": `{"Action":"s3:ListBucketVersions","Condition":{"StringLike":{"s3:prefix":{"Fn::Sub":"${BackupPrefix}/*"}}},"Resource":{"Fn::GetAtt":["BackupBucket","Arn"]}}`,
			"CheckVersioning":  `{"Action":"s3:GetBucketVersioning","Condition":null,"Resource":{"Fn::GetAtt":["BackupBucket","Arn"]}}`,
			"HeadAbsentItems":  `{"Action":"s3:ListBucket","Condition":null,"Resource":{"Fn::GetAtt":["BackupBucket","Arn"]}}`,
		}[s.Sid]
		if want != "" && got != want {
			t.Errorf("default %s = %s, want %s", s.Sid, got, want)
		}
	}
	for _, p := range []string{"BackupBucketName", "BackupBucketOwner", "BackupKeyArn", "s3:ResourceAccount", "kms:"} {
		if b := js(tpl.Resources); strings.Contains(b, p) {
			t.Errorf("the default stack's resources mention %s", p)
		}
	}
	if got := js(tpl.Outputs["BackupLocation"]); got != `{"Value":{"Fn::Sub":"s3://${BackupBucket}/${BackupPrefix}"}}` {
		t.Errorf("default BackupLocation output %s", got)
	}
}

// The Rules refuse a half-given existing bucket at deploy time, rather
// than a writer that fails on its first batch or settings that silently do
// nothing.
func TestExistingBucketRules(t *testing.T) {
	const bucket, owner = "dynasnap-backup-111122223333-eu-west-1", "111122223333"
	const key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, c := range []struct {
		params map[string]string
		refuse string // in the error; "" for none
	}{
		{map[string]string{"BackupBucketName": bucket}, "needs BackupBucketOwner"},
		{map[string]string{"BackupBucketOwner": owner}, "set BackupBucketName too"},
		{map[string]string{"BackupKeyArn": key}, "set BackupBucketName too"},
		{map[string]string{"BackupBucketName": bucket, "BackupBucketOwner": owner, "ObjectLockMode": "GOVERNANCE"}, "ObjectLockMode"},
		{map[string]string{"BackupBucketName": bucket, "BackupBucketOwner": "11112222333"}, "AllowedPattern"},
		{map[string]string{"BackupBucketName": bucket, "BackupBucketOwner": owner, "BackupKeyArn": "alias/dynasnap"}, "AllowedPattern"},
		{map[string]string{"BackupBucketName": "s3://" + bucket, "BackupBucketOwner": owner}, "AllowedPattern"},
		{map[string]string{"BackupBucketName": bucket, "BackupBucketOwner": owner}, ""},
		{map[string]string{"BackupBucketName": bucket, "BackupBucketOwner": owner, "BackupKeyArn": key}, ""},
		{map[string]string{"ObjectLockMode": "COMPLIANCE"}, ""},
	} {
		_, _, err := resolve(t, c.params)
		switch {
		case c.refuse == "" && err != nil:
			t.Errorf("%v: %v", c.params, err)
		case c.refuse != "" && (err == nil || !strings.Contains(err.Error(), c.refuse)):
			t.Errorf("%v: got %v, want an error about %s", c.params, err, c.refuse)
		}
	}
}
