package deploy

import (
	"encoding/json"
	"slices"
	"testing"
)

// Object Lock and the noncurrent-version expiration: the parameters, the
// bucket's lock configuration, and the rule that the expiration is never
// shorter than the retention (by default the retention is the expiration).
func TestObjectLockParameters(t *testing.T) {
	tpl, _ := load(t)
	mode := tpl.Parameters["ObjectLockMode"]
	if mode == nil || mode["Default"] != "NONE" {
		t.Fatalf("ObjectLockMode %v: want a parameter defaulting to NONE", mode)
	}
	var allowed []string
	for _, v := range mode["AllowedValues"].([]any) {
		allowed = append(allowed, v.(string))
	}
	if !slices.Equal(allowed, []string{"NONE", "GOVERNANCE", "COMPLIANCE"}) {
		t.Errorf("ObjectLockMode allows %v", allowed)
	}
	days := tpl.Parameters["ObjectLockDays"]
	if days == nil || days["Type"] != "Number" || days["Default"] != float64(0) || days["MinValue"] != float64(0) {
		t.Errorf("ObjectLockDays %v: want a Number defaulting to 0 (= NoncurrentVersionDays)", days)
	}
	if nc := tpl.Parameters["NoncurrentVersionDays"]; nc == nil || nc["MinValue"] != float64(1) {
		t.Errorf("NoncurrentVersionDays %v", nc)
	}

	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	if got := js(tpl.Conditions["ObjectLockOn"]); got != `{"Fn::Not":[{"Fn::Equals":[{"Ref":"ObjectLockMode"},"NONE"]}]}` {
		t.Errorf("ObjectLockOn = %s", got)
	}
	if got := js(get(t, tpl, "BackupBucket", "ObjectLockEnabled")); got != `{"Fn::If":["ObjectLockOn",true,{"Ref":"AWS::NoValue"}]}` {
		t.Errorf("ObjectLockEnabled = %s", got)
	}
	lock := get(t, tpl, "BackupBucket", "ObjectLockConfiguration").(map[string]any)["Fn::If"].([]any)
	if lock[0] != "ObjectLockOn" || js(lock[2]) != `{"Ref":"AWS::NoValue"}` {
		t.Fatalf("ObjectLockConfiguration = %s", js(lock))
	}
	on := lock[1].(map[string]any)
	ret := on["Rule"].(map[string]any)["DefaultRetention"].(map[string]any)
	if on["ObjectLockEnabled"] != "Enabled" || js(ret["Mode"]) != `{"Ref":"ObjectLockMode"}` {
		t.Errorf("lock configuration %s", js(on))
	}
	// With the default ObjectLockDays, the retention is NoncurrentVersionDays,
	// the same parameter the lifecycle rule expires noncurrent versions by:
	// a version is noncurrent only after it is written, so it expires no
	// sooner than its retention ends.
	if got := js(ret["Days"]); got != `{"Fn::If":["ObjectLockDaysDefault",{"Ref":"NoncurrentVersionDays"},{"Ref":"ObjectLockDays"}]}` {
		t.Errorf("retention days = %s", got)
	}
	if got := js(tpl.Conditions["ObjectLockDaysDefault"]); got != `{"Fn::Equals":[{"Ref":"ObjectLockDays"},"0"]}` {
		t.Errorf("ObjectLockDaysDefault = %s", got)
	}
	if got := js(get(t, tpl, "BackupBucket", "LifecycleConfiguration", "Rules", "0", "NoncurrentVersionExpiration", "NoncurrentDays")); got != `{"Ref":"NoncurrentVersionDays"}` {
		t.Errorf("noncurrent expiration = %s", got)
	}
	if get(t, tpl, "BackupBucket", "LifecycleConfiguration", "Rules", "0", "Status") != "Enabled" {
		t.Error("the noncurrent expiration rule is not enabled")
	}
}
