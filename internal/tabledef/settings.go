package tabledef

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// The settings beyond CreateTable's that AWS's restore documentation
// leaves to the user (docs/DESIGN.md §2.8): global table replicas, the
// resource-based policy, Contributor Insights, Kinesis streaming
// destinations and auto scaling.

// Replica is one region of a global table (version 2019.11.21), with its
// own settings.
type Replica struct {
	RegionName                    string                 `json:"RegionName"`
	KMSMasterKeyId                string                 `json:"KMSMasterKeyId,omitempty"`
	ProvisionedThroughputOverride *ReadOverride          `json:"ProvisionedThroughputOverride,omitempty"`
	OnDemandThroughputOverride    *OnDemandReadOverride  `json:"OnDemandThroughputOverride,omitempty"`
	GlobalSecondaryIndexes        []ReplicaIndex         `json:"GlobalSecondaryIndexes,omitempty"`
	ReplicaTableClassSummary      *ReplicaTableClassInfo `json:"ReplicaTableClassSummary,omitempty"`
}

type ReadOverride struct {
	ReadCapacityUnits int64 `json:"ReadCapacityUnits"`
}

type OnDemandReadOverride struct {
	MaxReadRequestUnits int64 `json:"MaxReadRequestUnits"`
}

type ReplicaIndex struct {
	IndexName                     string                `json:"IndexName"`
	ProvisionedThroughputOverride *ReadOverride         `json:"ProvisionedThroughputOverride,omitempty"`
	OnDemandThroughputOverride    *OnDemandReadOverride `json:"OnDemandThroughputOverride,omitempty"`
}

type ReplicaTableClassInfo struct {
	TableClass string `json:"TableClass"`
}

// ContributorInsights is Contributor Insights on the table ("" IndexName)
// or one GSI.
type ContributorInsights struct {
	IndexName                 string `json:"IndexName,omitempty"`
	ContributorInsightsStatus string `json:"ContributorInsightsStatus"` // ENABLED
	ContributorInsightsMode   string `json:"ContributorInsightsMode,omitempty"`
}

// KinesisDestination is one Kinesis data stream the table's changes go to.
type KinesisDestination struct {
	StreamArn                            string `json:"StreamArn"`
	ApproximateCreationDateTimePrecision string `json:"ApproximateCreationDateTimePrecision,omitempty"`
}

// AutoScaling is what Application Auto Scaling holds for the table
// (ServiceNamespace dynamodb, ResourceId table/NAME and
// table/NAME/index/INDEX).
type AutoScaling struct {
	ScalableTargets []ScalableTarget `json:"ScalableTargets,omitempty"`
	ScalingPolicies []ScalingPolicy  `json:"ScalingPolicies,omitempty"`
}

type ScalableTarget struct {
	ResourceId        string          `json:"ResourceId"`
	ScalableDimension string          `json:"ScalableDimension"`
	MinCapacity       int32           `json:"MinCapacity"`
	MaxCapacity       int32           `json:"MaxCapacity"`
	SuspendedState    *SuspendedState `json:"SuspendedState,omitempty"`
}

// SuspendedState is a scalable target's suspended scaling (only set when
// something is suspended).
type SuspendedState struct {
	DynamicScalingInSuspended  bool `json:"DynamicScalingInSuspended,omitempty"`
	DynamicScalingOutSuspended bool `json:"DynamicScalingOutSuspended,omitempty"`
	ScheduledScalingSuspended  bool `json:"ScheduledScalingSuspended,omitempty"`
}

// TargetTracking is a target tracking policy's configuration, under the
// API's names.
type TargetTracking struct {
	TargetValue                   float64           `json:"TargetValue"`
	PredefinedMetricSpecification *PredefinedMetric `json:"PredefinedMetricSpecification,omitempty"`
	// CustomizedMetricSpecification is kept as the API gives it.
	CustomizedMetricSpecification json.RawMessage `json:"CustomizedMetricSpecification,omitempty"`
	ScaleInCooldown               *int32          `json:"ScaleInCooldown,omitempty"`
	ScaleOutCooldown              *int32          `json:"ScaleOutCooldown,omitempty"`
	DisableScaleIn                bool            `json:"DisableScaleIn,omitempty"`
}

type PredefinedMetric struct {
	PredefinedMetricType string `json:"PredefinedMetricType"`
	ResourceLabel        string `json:"ResourceLabel,omitempty"`
}

func targetTrackingOf(c *aastypes.TargetTrackingScalingPolicyConfiguration) *TargetTracking {
	if c == nil {
		return nil
	}
	t := &TargetTracking{TargetValue: aws.ToFloat64(c.TargetValue), ScaleInCooldown: c.ScaleInCooldown, ScaleOutCooldown: c.ScaleOutCooldown,
		DisableScaleIn: aws.ToBool(c.DisableScaleIn)}
	if m := c.PredefinedMetricSpecification; m != nil {
		t.PredefinedMetricSpecification = &PredefinedMetric{PredefinedMetricType: string(m.PredefinedMetricType), ResourceLabel: aws.ToString(m.ResourceLabel)}
	}
	if c.CustomizedMetricSpecification != nil {
		t.CustomizedMetricSpecification, _ = compactJSON(c.CustomizedMetricSpecification)
	}
	return t
}

func (t *TargetTracking) sdk() (*aastypes.TargetTrackingScalingPolicyConfiguration, error) {
	c := &aastypes.TargetTrackingScalingPolicyConfiguration{TargetValue: aws.Float64(t.TargetValue), ScaleInCooldown: t.ScaleInCooldown,
		ScaleOutCooldown: t.ScaleOutCooldown}
	if t.DisableScaleIn {
		c.DisableScaleIn = aws.Bool(true)
	}
	if m := t.PredefinedMetricSpecification; m != nil {
		c.PredefinedMetricSpecification = &aastypes.PredefinedMetricSpecification{PredefinedMetricType: aastypes.MetricType(m.PredefinedMetricType)}
		if m.ResourceLabel != "" {
			c.PredefinedMetricSpecification.ResourceLabel = aws.String(m.ResourceLabel)
		}
	}
	if len(t.CustomizedMetricSpecification) > 0 {
		c.CustomizedMetricSpecification = &aastypes.CustomizedMetricSpecification{}
		if err := json.Unmarshal(t.CustomizedMetricSpecification, c.CustomizedMetricSpecification); err != nil {
			return nil, fmt.Errorf("CustomizedMetricSpecification: %w", err)
		}
	}
	return c, nil
}

type ScalingPolicy struct {
	PolicyName                               string          `json:"PolicyName"`
	ResourceId                               string          `json:"ResourceId"`
	ScalableDimension                        string          `json:"ScalableDimension"`
	PolicyType                               string          `json:"PolicyType"`
	TargetTrackingScalingPolicyConfiguration *TargetTracking `json:"TargetTrackingScalingPolicyConfiguration,omitempty"`
}

// ExtraAPI is what Describe reads beyond the table, its TTL, tags and
// backups: the permissions dynamodb:GetResourcePolicy,
// dynamodb:DescribeContributorInsights and
// dynamodb:DescribeKinesisStreamingDestination.
type ExtraAPI interface {
	GetResourcePolicy(ctx context.Context, in *dynamodb.GetResourcePolicyInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetResourcePolicyOutput, error)
	DescribeContributorInsights(ctx context.Context, in *dynamodb.DescribeContributorInsightsInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeContributorInsightsOutput, error)
	DescribeKinesisStreamingDestination(ctx context.Context, in *dynamodb.DescribeKinesisStreamingDestinationInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeKinesisStreamingDestinationOutput, error)
}

// ScalingReadAPI is Application Auto Scaling's read calls
// (application-autoscaling:DescribeScalableTargets and
// DescribeScalingPolicies).
type ScalingReadAPI interface {
	DescribeScalableTargets(ctx context.Context, in *aas.DescribeScalableTargetsInput, opts ...func(*aas.Options)) (*aas.DescribeScalableTargetsOutput, error)
	DescribeScalingPolicies(ctx context.Context, in *aas.DescribeScalingPoliciesInput, opts ...func(*aas.Options)) (*aas.DescribeScalingPoliciesOutput, error)
}

// ScalingAPI is what recreating auto scaling calls, reads included.
type ScalingAPI interface {
	ScalingReadAPI
	RegisterScalableTarget(ctx context.Context, in *aas.RegisterScalableTargetInput, opts ...func(*aas.Options)) (*aas.RegisterScalableTargetOutput, error)
	PutScalingPolicy(ctx context.Context, in *aas.PutScalingPolicyInput, opts ...func(*aas.Options)) (*aas.PutScalingPolicyOutput, error)
}

// Extra is what the extra reads returned; a part whose read failed is
// named in Unread.
type Extra struct {
	Mappings     []EventSourceMapping
	Policy       string
	Contributors []ContributorInsights
	Kinesis      []KinesisDestination
	AutoScaling  *AutoScaling
	Unread       []string
}

func (x Extra) apply(d *Definition, t *types.TableDescription) {
	d.ResourcePolicy, d.ContributorInsights, d.KinesisDataStreamDestinations, d.AutoScaling = x.Policy, x.Contributors, x.Kinesis, x.AutoScaling
	d.EventSourceMappings = x.Mappings
	d.Dynasnap.Unread = append(d.Dynasnap.Unread, x.Unread...)
	if t == nil {
		return
	}
	d.GlobalTableVersion = aws.ToString(t.GlobalTableVersion)
	own := arnRegion(aws.ToString(t.TableArn))
	ownListed := false
	for _, r := range t.Replicas {
		name := aws.ToString(r.RegionName)
		if name == "" {
			continue
		}
		ownListed = ownListed || name == own
		rep := Replica{RegionName: name, KMSMasterKeyId: aws.ToString(r.KMSMasterKeyId),
			ProvisionedThroughputOverride: readOverride(r.ProvisionedThroughputOverride), OnDemandThroughputOverride: onDemandOverride(r.OnDemandThroughputOverride)}
		if c := r.ReplicaTableClassSummary; c != nil && c.TableClass != "" {
			rep.ReplicaTableClassSummary = &ReplicaTableClassInfo{TableClass: string(c.TableClass)}
		}
		for _, g := range r.GlobalSecondaryIndexes {
			ri := ReplicaIndex{IndexName: aws.ToString(g.IndexName), ProvisionedThroughputOverride: readOverride(g.ProvisionedThroughputOverride),
				OnDemandThroughputOverride: onDemandOverride(g.OnDemandThroughputOverride)}
			if ri.ProvisionedThroughputOverride != nil || ri.OnDemandThroughputOverride != nil {
				rep.GlobalSecondaryIndexes = append(rep.GlobalSecondaryIndexes, ri)
			}
		}
		sort.Slice(rep.GlobalSecondaryIndexes, func(i, j int) bool {
			return rep.GlobalSecondaryIndexes[i].IndexName < rep.GlobalSecondaryIndexes[j].IndexName
		})
		d.Replicas = append(d.Replicas, rep)
	}
	if len(d.Replicas) > 0 && own != "" && !ownListed {
		// Every region of the global table, the described one too: a
		// restore into another region brings this one back as a replica.
		d.Replicas = append(d.Replicas, Replica{RegionName: own})
	}
	sort.Slice(d.Replicas, func(i, j int) bool { return d.Replicas[i].RegionName < d.Replicas[j].RegionName })
}

func readOverride(o *types.ProvisionedThroughputOverride) *ReadOverride {
	if o == nil || aws.ToInt64(o.ReadCapacityUnits) <= 0 {
		return nil
	}
	return &ReadOverride{ReadCapacityUnits: aws.ToInt64(o.ReadCapacityUnits)}
}

func onDemandOverride(o *types.OnDemandThroughputOverride) *OnDemandReadOverride {
	if o == nil || aws.ToInt64(o.MaxReadRequestUnits) <= 0 {
		return nil
	}
	return &OnDemandReadOverride{MaxReadRequestUnits: aws.ToInt64(o.MaxReadRequestUnits)}
}

// readExtra reads the settings beyond the table's description. A part
// whose call fails is named in Unread, its error (naming the permission)
// joined in the second result.
func readExtra(ctx context.Context, api DescribeAPI, more Services, t *types.TableDescription) (Extra, error) {
	scaling := more.Scaling
	var x Extra
	var errs []error
	table, arn := aws.ToString(t.TableName), aws.ToString(t.TableArn)
	fail := func(part, perm string, err error) {
		x.Unread = append(x.Unread, part)
		errs = append(errs, fmt.Errorf("%s not read (needs %s): %w", part, perm, err))
	}
	if arn != "" {
		out, err := api.GetResourcePolicy(ctx, &dynamodb.GetResourcePolicyInput{ResourceArn: aws.String(arn)})
		var nf *types.PolicyNotFoundException
		switch {
		case errors.As(err, &nf), isCode(err, "PolicyNotFoundException"):
		case err != nil:
			fail(PartResourcePolicy, "dynamodb:GetResourcePolicy", err)
		default:
			x.Policy = aws.ToString(out.Policy)
		}
	}
	indexes := []string{""}
	for _, g := range t.GlobalSecondaryIndexes {
		indexes = append(indexes, aws.ToString(g.IndexName))
	}
	sort.Strings(indexes[1:])
	for _, idx := range indexes {
		in := &dynamodb.DescribeContributorInsightsInput{TableName: aws.String(table)}
		if idx != "" {
			in.IndexName = aws.String(idx)
		}
		out, err := api.DescribeContributorInsights(ctx, in)
		if err != nil {
			fail(PartContributors, "dynamodb:DescribeContributorInsights", err)
			x.Contributors = nil
			break
		}
		switch out.ContributorInsightsStatus {
		case types.ContributorInsightsStatusEnabled, types.ContributorInsightsStatusEnabling:
			x.Contributors = append(x.Contributors, ContributorInsights{IndexName: idx, ContributorInsightsStatus: string(types.ContributorInsightsStatusEnabled),
				ContributorInsightsMode: string(out.ContributorInsightsMode)})
		}
	}
	if out, err := api.DescribeKinesisStreamingDestination(ctx, &dynamodb.DescribeKinesisStreamingDestinationInput{TableName: aws.String(table)}); err != nil {
		fail(PartKinesis, "dynamodb:DescribeKinesisStreamingDestination", err)
	} else {
		for _, k := range out.KinesisDataStreamDestinations {
			switch k.DestinationStatus {
			case types.DestinationStatusActive, types.DestinationStatusEnabling, types.DestinationStatusUpdating:
				x.Kinesis = append(x.Kinesis, KinesisDestination{StreamArn: aws.ToString(k.StreamArn),
					ApproximateCreationDateTimePrecision: string(k.ApproximateCreationDateTimePrecision)})
			}
		}
		sort.Slice(x.Kinesis, func(i, j int) bool { return x.Kinesis[i].StreamArn < x.Kinesis[j].StreamArn })
	}
	if s := aws.ToString(t.LatestStreamArn); s != "" && t.StreamSpecification != nil && aws.ToBool(t.StreamSpecification.StreamEnabled) {
		if more.Lambda == nil {
			x.Unread = append(x.Unread, PartTriggers)
			errs = append(errs, fmt.Errorf("%s not read: no Lambda client", PartTriggers))
		} else if ms, err := readMappings(ctx, more.Lambda, s); err != nil {
			fail(PartTriggers, "lambda:ListEventSourceMappings", err)
		} else {
			x.Mappings = ms
		}
	}
	if scaling == nil {
		x.Unread = append(x.Unread, PartAutoScaling)
		errs = append(errs, fmt.Errorf("%s not read: no Application Auto Scaling client", PartAutoScaling))
	} else if as, perm, err := readScaling(ctx, scaling, table, indexes[1:]); err != nil {
		fail(PartAutoScaling, perm, err)
	} else {
		x.AutoScaling = as
	}
	return x, errors.Join(errs...)
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// ResourceID is Application Auto Scaling's id of a table ("" index) or
// one of its GSIs.
func ResourceID(table, index string) string {
	if index == "" {
		return "table/" + table
	}
	return "table/" + table + "/index/" + index
}

// readScaling reads the scalable targets and the policies of the table and
// its GSIs; nil when there are none.
func readScaling(ctx context.Context, api ScalingReadAPI, table string, indexes []string) (*AutoScaling, string, error) {
	var ids []string
	ids = append(ids, ResourceID(table, ""))
	for _, i := range indexes {
		ids = append(ids, ResourceID(table, i))
	}
	as := &AutoScaling{}
	with := map[string]bool{}
	// DescribeScalableTargets takes up to 50 resource ids a call.
	for start := 0; start < len(ids); start += 50 {
		in := &aas.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceDynamodb, ResourceIds: ids[start:min(start+50, len(ids))]}
		for range 1000 {
			out, err := api.DescribeScalableTargets(ctx, in)
			if err != nil {
				return nil, "application-autoscaling:DescribeScalableTargets", err
			}
			for _, st := range out.ScalableTargets {
				as.ScalableTargets = append(as.ScalableTargets, ScalableTarget{ResourceId: aws.ToString(st.ResourceId), ScalableDimension: string(st.ScalableDimension),
					MinCapacity: aws.ToInt32(st.MinCapacity), MaxCapacity: aws.ToInt32(st.MaxCapacity), SuspendedState: suspended(st.SuspendedState)})
				with[aws.ToString(st.ResourceId)] = true
			}
			if out.NextToken == nil || aws.ToString(out.NextToken) == aws.ToString(in.NextToken) {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	for _, id := range ids {
		if !with[id] {
			continue
		}
		in := &aas.DescribeScalingPoliciesInput{ServiceNamespace: aastypes.ServiceNamespaceDynamodb, ResourceId: aws.String(id)}
		for range 1000 {
			out, err := api.DescribeScalingPolicies(ctx, in)
			if err != nil {
				return nil, "application-autoscaling:DescribeScalingPolicies", err
			}
			for _, p := range out.ScalingPolicies {
				as.ScalingPolicies = append(as.ScalingPolicies, ScalingPolicy{PolicyName: aws.ToString(p.PolicyName), ResourceId: aws.ToString(p.ResourceId),
					ScalableDimension: string(p.ScalableDimension), PolicyType: string(p.PolicyType),
					TargetTrackingScalingPolicyConfiguration: targetTrackingOf(p.TargetTrackingScalingPolicyConfiguration)})
			}
			if out.NextToken == nil || aws.ToString(out.NextToken) == aws.ToString(in.NextToken) {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	if len(as.ScalableTargets) == 0 && len(as.ScalingPolicies) == 0 {
		return nil, "", nil
	}
	sort.Slice(as.ScalableTargets, func(i, j int) bool {
		a, b := as.ScalableTargets[i], as.ScalableTargets[j]
		return a.ResourceId+" "+a.ScalableDimension < b.ResourceId+" "+b.ScalableDimension
	})
	sort.Slice(as.ScalingPolicies, func(i, j int) bool {
		a, b := as.ScalingPolicies[i], as.ScalingPolicies[j]
		return a.ResourceId+" "+a.ScalableDimension+" "+a.PolicyName < b.ResourceId+" "+b.ScalableDimension+" "+b.PolicyName
	})
	return as, "", nil
}

func suspended(s *aastypes.SuspendedState) *SuspendedState {
	if s == nil || (!aws.ToBool(s.DynamicScalingInSuspended) && !aws.ToBool(s.DynamicScalingOutSuspended) && !aws.ToBool(s.ScheduledScalingSuspended)) {
		return nil
	}
	return &SuspendedState{DynamicScalingInSuspended: aws.ToBool(s.DynamicScalingInSuspended), DynamicScalingOutSuspended: aws.ToBool(s.DynamicScalingOutSuspended),
		ScheduledScalingSuspended: aws.ToBool(s.ScheduledScalingSuspended)}
}

func (s *SuspendedState) sdk() *aastypes.SuspendedState {
	if s == nil {
		return nil
	}
	return &aastypes.SuspendedState{DynamicScalingInSuspended: aws.Bool(s.DynamicScalingInSuspended), DynamicScalingOutSuspended: aws.Bool(s.DynamicScalingOutSuspended),
		ScheduledScalingSuspended: aws.Bool(s.ScheduledScalingSuspended)}
}

// retarget is a recorded ResourceId or policy name with the recorded
// table's name replaced by the new table's: "table/OLD" is "table/NEW",
// and so is "table/OLD/index/I".
func retarget(s, from, to string) string {
	old := "table/" + from
	if s == old || strings.HasPrefix(s, old+"/") {
		return "table/" + to + s[len(old):]
	}
	if i := strings.Index(s, ":"+old); i >= 0 && (i+1+len(old) == len(s) || s[i+1+len(old)] == '/') {
		// DynamoDB's default policy names: DynamoDBReadCapacityUtilization:table/OLD.
		return s[:i+1] + "table/" + to + s[i+1+len(old):]
	}
	return s
}

// PolicyFor is the recorded resource policy for the table whose ARN is
// newARN: every mention of the recorded table's ARN (alone, or followed by
// /index/..., /stream/...) names the new one.
func (d *Definition) PolicyFor(newARN string) string {
	old := d.TableArn
	if old == "" || newARN == "" || old == newARN {
		return d.ResourcePolicy
	}
	var b strings.Builder
	s := d.ResourcePolicy
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(old)
		b.WriteString(s[:i])
		// "table/orders" must not match "table/orders2".
		if end == len(s) || !isNameByte(s[end]) {
			b.WriteString(newARN)
		} else {
			b.WriteString(old)
		}
		s = s[end:]
	}
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// samePolicy compares two policy documents as JSON values (DynamoDB may
// hand a policy back reformatted).
func samePolicy(a, b string) bool {
	if a == b {
		return true
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// settingsDiffs compares the settings beyond the table's shape: the
// stream, the resource policy (the recorded one naming the table's ARN),
// Contributor Insights, auto scaling (when both are PROVISIONED), and the
// Kinesis destinations and replicas when the table has any (restore
// creates them only when asked). A part unread on either side is not
// compared.
func settingsDiffs(rec, table *Definition) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if a, b := streamString(rec.StreamSpecification), streamString(table.StreamSpecification); a != b {
		add("stream: recorded %s, table %s", a, b)
	}
	both := func(part string) bool { return !rec.Unread(part) && !table.Unread(part) }
	if both(PartResourcePolicy) {
		want := rec.PolicyFor(table.TableArn)
		switch {
		case want == "" && table.ResourcePolicy != "":
			add("resource policy: none recorded, the table has one")
		case want != "" && table.ResourcePolicy == "":
			add("resource policy: recorded, the table has none")
		case !samePolicy(want, table.ResourcePolicy):
			add("resource policy: differs from the recorded one (with the table's ARN): recorded %s, table %s", want, table.ResourcePolicy)
		}
	}
	if both(PartContributors) {
		out = append(out, setDiffs("Contributor Insights", contributorSet(rec.ContributorInsights), contributorSet(table.ContributorInsights))...)
	}
	if both(PartAutoScaling) && rec.BillingMode == string(types.BillingModeProvisioned) && table.BillingMode == rec.BillingMode {
		out = append(out, setDiffs("auto scaling", scalingSet(rec.AutoScaling, rec.TableName, table.TableName), scalingSet(table.AutoScaling, table.TableName, table.TableName))...)
	}
	if both(PartKinesis) && len(table.KinesisDataStreamDestinations) > 0 {
		out = append(out, setDiffs("Kinesis streaming destination", kinesisSet(rec.KinesisDataStreamDestinations), kinesisSet(table.KinesisDataStreamDestinations))...)
	}
	if len(table.Replicas) > 0 {
		out = append(out, setDiffs("replica", replicaSet(rec.Replicas), replicaSet(table.Replicas))...)
	}
	if both(PartTriggers) && len(table.EventSourceMappings) > 0 {
		out = append(out, setDiffs("stream trigger", mappingSet(rec.EventSourceMappings), mappingSet(table.EventSourceMappings))...)
	}
	return out
}

func streamString(s *StreamSpecification) string {
	if s == nil || !s.StreamEnabled {
		return "off"
	}
	return s.StreamViewType
}

// setDiffs compares two sets of settings, each keyed by what it applies to.
func setDiffs(what string, rec, table map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(rec) {
		t, ok := table[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s %s: recorded, missing from the table", what, k))
		case t != rec[k]:
			out = append(out, fmt.Sprintf("%s %s: recorded %s, table %s", what, k, rec[k], t))
		}
	}
	for _, k := range sortedKeys(table) {
		if _, ok := rec[k]; !ok {
			out = append(out, fmt.Sprintf("%s %s: on the table, not recorded", what, k))
		}
	}
	return out
}

func contributorSet(cs []ContributorInsights) map[string]string {
	m := map[string]string{}
	for _, c := range cs {
		k := "on the table"
		if c.IndexName != "" {
			k = "on index " + c.IndexName
		}
		m[k] = c.ContributorInsightsStatus + " " + c.ContributorInsightsMode
	}
	return m
}

func scalingSet(as *AutoScaling, from, to string) map[string]string {
	m := map[string]string{}
	if as == nil {
		return m
	}
	for _, t := range as.ScalableTargets {
		b, _ := json.Marshal(t.SuspendedState)
		m["target "+retarget(t.ResourceId, from, to)+" "+t.ScalableDimension] = fmt.Sprintf("min %d max %d suspended %s", t.MinCapacity, t.MaxCapacity, b)
	}
	for _, p := range as.ScalingPolicies {
		b, _ := json.Marshal(p.TargetTrackingScalingPolicyConfiguration)
		m["policy "+retarget(p.PolicyName, from, to)+" of "+retarget(p.ResourceId, from, to)+" "+p.ScalableDimension] = p.PolicyType + " " + string(b)
	}
	return m
}

func kinesisSet(ks []KinesisDestination) map[string]string {
	m := map[string]string{}
	for _, k := range ks {
		m[k.StreamArn] = "precision " + orNone(k.ApproximateCreationDateTimePrecision)
	}
	return m
}

func replicaSet(rs []Replica) map[string]string {
	return keyedJSON(rs, func(r *Replica) string { k := "in " + r.RegionName; r.RegionName = ""; return k })
}

// keyedJSON is each setting's JSON by what it applies to: key names it and
// clears that field of the copy, so only the rest is compared.
func keyedJSON[T any](xs []T, key func(*T) string) map[string]string {
	m := map[string]string{}
	for _, x := range xs {
		k := key(&x)
		b, _ := json.Marshal(x)
		m[k] = string(b)
	}
	return m
}
