package tabledef

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// SettingsAPI is what AfterLoad calls on DynamoDB.
type SettingsAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
	TagResource(ctx context.Context, in *dynamodb.TagResourceInput, opts ...func(*dynamodb.Options)) (*dynamodb.TagResourceOutput, error)
	UpdateContinuousBackups(ctx context.Context, in *dynamodb.UpdateContinuousBackupsInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateContinuousBackupsOutput, error)
	UpdateTable(ctx context.Context, in *dynamodb.UpdateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTableOutput, error)
	PutResourcePolicy(ctx context.Context, in *dynamodb.PutResourcePolicyInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutResourcePolicyOutput, error)
	UpdateContributorInsights(ctx context.Context, in *dynamodb.UpdateContributorInsightsInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateContributorInsightsOutput, error)
	EnableKinesisStreamingDestination(ctx context.Context, in *dynamodb.EnableKinesisStreamingDestinationInput, opts ...func(*dynamodb.Options)) (*dynamodb.EnableKinesisStreamingDestinationOutput, error)
}

// Recreate says what AfterLoad may recreate beyond the defaults.
type Recreate struct {
	// Scaling is the Application Auto Scaling client (nil: auto scaling
	// is skipped, and said so).
	Scaling ScalingAPI
	// Replicas creates the recorded replicas (--replicas): each is a full,
	// billed copy of the table and takes minutes to hours.
	Replicas bool
	// KinesisDestinations enables the recorded Kinesis streaming
	// destinations (--kinesis-destinations): two tables writing into one
	// Kinesis stream is rarely wanted.
	KinesisDestinations bool
	// BillingMode is the new table's ("": as recorded): auto scaling needs
	// PROVISIONED.
	BillingMode string
	// Region is the new table's: a recorded replica there is not created.
	Region string
	// Lambda creates the stream's recorded triggers on the new stream
	// (nil: skipped, and said so).
	Lambda LambdaAPI
	// NoTriggers, if set, is why the triggers are not created (drill's
	// scratch tables are not to be backed up).
	NoTriggers string
	// Wait bounds each wait for the table (and its replicas) to be ACTIVE
	// again after an update; default 2h (a replica of a big table).
	Wait time.Duration
}

// Applied is what AfterLoad recreated, and what it skipped and why.
type Applied struct {
	Done    []string `json:"recreated"`
	Skipped []string `json:"skipped"`
	// StreamArn is the new stream's ARN when the stream was turned on:
	// the stream writer's trigger must point at it.
	StreamArn string `json:"streamArn,omitempty"`
	// Triggered: a recorded Lambda trigger reads the new stream.
	Triggered bool `json:"-"`
}

// AfterLoad sets what CreateTable does not, once the items are in: TTL
// (set earlier, it could delete restored items while they load), tags,
// point-in-time recovery, the stream (same view type), the resource policy
// (naming the new table's ARN where it named the recorded one), Contributor
// Insights, auto scaling, and with o's consent Kinesis streaming
// destinations and replicas, each as recorded. Parts the writer could not
// read are skipped and said so. It returns what it did and skipped, and
// the failures joined.
func AfterLoad(ctx context.Context, api SettingsAPI, table string, d *Definition, o Recreate) (Applied, error) {
	var a Applied
	var errs []error
	if o.Wait <= 0 {
		o.Wait = 2 * time.Hour
	}
	skip := func(format string, args ...any) { a.Skipped = append(a.Skipped, fmt.Sprintf(format, args...)) }
	unread := func(part, what string) bool {
		if d.Unread(part) {
			skip("%s: not recorded (the backup's writer could not read it), left alone", what)
			return true
		}
		return false
	}
	if attr := d.TTLAttribute(); attr != "" {
		_, e := api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(table),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(true)}})
		if e != nil {
			errs = append(errs, fmt.Errorf("turn on TTL (attribute %s): %w; by hand: aws dynamodb update-time-to-live --table-name %s --time-to-live-specification Enabled=true,AttributeName=%s", attr, e, table, attr))
		} else {
			a.Done = append(a.Done, "TTL on "+attr)
		}
	} else {
		unread(PartTimeToLive, "TTL")
	}
	// The new table's ARN, read once when tags or a policy need it.
	var arn string
	newARN := func() (string, error) {
		if arn != "" {
			return arn, nil
		}
		out, e := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if e != nil {
			return "", fmt.Errorf("describe table %s: %w", table, e)
		}
		arn = aws.ToString(out.Table.TableArn)
		return arn, nil
	}
	if len(d.Tags) > 0 {
		var tags []types.Tag
		for _, t := range d.Tags {
			tags = append(tags, types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
		}
		arn, e := newARN()
		if e == nil {
			_, e = api.TagResource(ctx, &dynamodb.TagResourceInput{ResourceArn: aws.String(arn), Tags: tags})
		}
		if e != nil {
			errs = append(errs, fmt.Errorf("tag the table (%d tags): %w", len(d.Tags), e))
		} else {
			a.Done = append(a.Done, fmt.Sprintf("%d tags", len(d.Tags)))
		}
	} else {
		unread(PartTags, "tags")
	}
	if p := d.PointInTimeRecovery; p != nil && p.PointInTimeRecoveryStatus == string(types.PointInTimeRecoveryStatusEnabled) {
		spec := &types.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(true), RecoveryPeriodInDays: p.RecoveryPeriodInDays}
		_, e := api.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{TableName: aws.String(table), PointInTimeRecoverySpecification: spec})
		if e != nil {
			errs = append(errs, fmt.Errorf("turn on point-in-time recovery: %w; by hand: aws dynamodb update-continuous-backups --table-name %s --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true", e, table))
		} else {
			a.Done = append(a.Done, "point-in-time recovery")
		}
	} else {
		unread(PartContinuousBackups, "point-in-time recovery")
	}
	if s := d.StreamSpecification; s != nil && s.StreamEnabled {
		// The stream comes last of the table's own settings so that the
		// load itself is not streamed: the stream writer backs up the
		// restored table from here on, once its trigger points at the new
		// stream (docs/RESTORE.md).
		spec := &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewType(s.StreamViewType)}
		up, e := api.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(table), StreamSpecification: spec})
		if e != nil {
			errs = append(errs, fmt.Errorf("turn on the stream (%s): %w; by hand: aws dynamodb update-table --table-name %s --stream-specification StreamEnabled=true,StreamViewType=%s", s.StreamViewType, e, table, s.StreamViewType))
		} else if e := waitReady(ctx, api, table, o.Wait); e != nil {
			errs = append(errs, e)
		} else {
			a.Done = append(a.Done, "stream "+s.StreamViewType)
			if up.TableDescription != nil {
				a.StreamArn = aws.ToString(up.TableDescription.LatestStreamArn)
			}
		}
		errs = append(errs, recreateTriggers(ctx, &a, d, o)...)
	}
	if d.ResourcePolicy != "" {
		arn, e := newARN()
		policy := d.PolicyFor(arn)
		if e == nil {
			_, e = api.PutResourcePolicy(ctx, &dynamodb.PutResourcePolicyInput{ResourceArn: aws.String(arn), Policy: aws.String(policy)})
		}
		if e != nil {
			errs = append(errs, fmt.Errorf("put the resource policy: %w", e))
		} else if policy != d.ResourcePolicy {
			a.Done = append(a.Done, "resource policy (naming the new table's ARN)")
		} else {
			a.Done = append(a.Done, "resource policy")
		}
	} else {
		unread(PartResourcePolicy, "resource policy")
	}
	for _, c := range d.ContributorInsights {
		in := &dynamodb.UpdateContributorInsightsInput{TableName: aws.String(table), ContributorInsightsAction: types.ContributorInsightsActionEnable,
			ContributorInsightsMode: types.ContributorInsightsMode(c.ContributorInsightsMode)}
		what := "Contributor Insights on the table"
		if c.IndexName != "" {
			in.IndexName, what = aws.String(c.IndexName), "Contributor Insights on index "+c.IndexName
		}
		if _, e := api.UpdateContributorInsights(ctx, in); e != nil {
			errs = append(errs, fmt.Errorf("turn on %s: %w", what, e))
		} else {
			a.Done = append(a.Done, what)
		}
	}
	if len(d.ContributorInsights) == 0 {
		unread(PartContributors, "Contributor Insights")
	}
	errs = append(errs, recreateScaling(ctx, &a, table, d, o)...)
	if unread(PartKinesis, "Kinesis streaming destinations") {
	} else if !o.KinesisDestinations {
		for _, k := range d.KinesisDataStreamDestinations {
			skip("Kinesis streaming destination %s: not enabled (pass --kinesis-destinations; the source table may still write into it, and two tables in one stream is rarely wanted)", k.StreamArn)
		}
	} else {
		for _, k := range d.KinesisDataStreamDestinations {
			in := &dynamodb.EnableKinesisStreamingDestinationInput{TableName: aws.String(table), StreamArn: aws.String(k.StreamArn)}
			if k.ApproximateCreationDateTimePrecision != "" {
				in.EnableKinesisStreamingConfiguration = &types.EnableKinesisStreamingConfiguration{
					ApproximateCreationDateTimePrecision: types.ApproximateCreationDateTimePrecision(k.ApproximateCreationDateTimePrecision)}
			}
			if _, e := api.EnableKinesisStreamingDestination(ctx, in); e != nil {
				errs = append(errs, fmt.Errorf("enable Kinesis streaming destination %s: %w", k.StreamArn, e))
			} else {
				a.Done = append(a.Done, "Kinesis streaming destination "+k.StreamArn)
			}
		}
	}
	for _, r := range d.Replicas {
		switch {
		case !o.Replicas:
			skip("replica in %s: not created (pass --replicas; each replica is a full copy of the table, billed, and takes minutes to hours to create)", r.RegionName)
			continue
		case r.RegionName == o.Region:
			skip("replica in %s: the restored table is in that region", r.RegionName)
			continue
		}
		// One replica an update: DynamoDB takes one replica create at a
		// time, and the table must be ACTIVE again before the next.
		if _, e := api.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(table),
			ReplicaUpdates: []types.ReplicationGroupUpdate{{Create: r.createAction()}}}); e != nil {
			errs = append(errs, fmt.Errorf("create the replica in %s: %w", r.RegionName, e))
		} else if e := waitReady(ctx, api, table, o.Wait); e != nil {
			errs = append(errs, fmt.Errorf("replica in %s: %w", r.RegionName, e))
		} else {
			a.Done = append(a.Done, "replica in "+r.RegionName)
		}
	}
	return a, errors.Join(errs...)
}

func (r Replica) createAction() *types.CreateReplicationGroupMemberAction {
	c := &types.CreateReplicationGroupMemberAction{RegionName: aws.String(r.RegionName)}
	if r.KMSMasterKeyId != "" {
		c.KMSMasterKeyId = aws.String(r.KMSMasterKeyId)
	}
	if r.ReplicaTableClassSummary != nil {
		c.TableClassOverride = types.TableClass(r.ReplicaTableClassSummary.TableClass)
	}
	if o := r.ProvisionedThroughputOverride; o != nil {
		c.ProvisionedThroughputOverride = &types.ProvisionedThroughputOverride{ReadCapacityUnits: aws.Int64(o.ReadCapacityUnits)}
	}
	if o := r.OnDemandThroughputOverride; o != nil {
		c.OnDemandThroughputOverride = &types.OnDemandThroughputOverride{MaxReadRequestUnits: aws.Int64(o.MaxReadRequestUnits)}
	}
	for _, g := range r.GlobalSecondaryIndexes {
		ri := types.ReplicaGlobalSecondaryIndex{IndexName: aws.String(g.IndexName)}
		if o := g.ProvisionedThroughputOverride; o != nil {
			ri.ProvisionedThroughputOverride = &types.ProvisionedThroughputOverride{ReadCapacityUnits: aws.Int64(o.ReadCapacityUnits)}
		}
		if o := g.OnDemandThroughputOverride; o != nil {
			ri.OnDemandThroughputOverride = &types.OnDemandThroughputOverride{MaxReadRequestUnits: aws.Int64(o.MaxReadRequestUnits)}
		}
		c.GlobalSecondaryIndexes = append(c.GlobalSecondaryIndexes, ri)
	}
	return c
}

// recreateScaling registers the recorded scalable targets and puts their
// target tracking policies, for the new table's name.
func recreateScaling(ctx context.Context, a *Applied, table string, d *Definition, o Recreate) []error {
	as := d.AutoScaling
	billing := d.BillingMode
	if o.BillingMode != "" {
		billing = o.BillingMode
	}
	switch {
	case d.Unread(PartAutoScaling):
		a.Skipped = append(a.Skipped, "auto scaling: not recorded (the backup's writer could not read it), left alone")
		return nil
	case as == nil:
		return nil
	case billing != string(types.BillingModeProvisioned):
		a.Skipped = append(a.Skipped, fmt.Sprintf("auto scaling (%d scalable targets): the restored table is %s", len(as.ScalableTargets), billing))
		return nil
	case o.Scaling == nil:
		a.Skipped = append(a.Skipped, "auto scaling: no Application Auto Scaling client")
		return nil
	}
	var errs []error
	from := d.TableName
	for _, t := range as.ScalableTargets {
		id := retarget(t.ResourceId, from, table)
		in := &aas.RegisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceDynamodb, ResourceId: aws.String(id),
			ScalableDimension: aastypes.ScalableDimension(t.ScalableDimension), MinCapacity: aws.Int32(t.MinCapacity), MaxCapacity: aws.Int32(t.MaxCapacity),
			SuspendedState: t.SuspendedState.sdk()}
		if _, e := o.Scaling.RegisterScalableTarget(ctx, in); e != nil {
			errs = append(errs, fmt.Errorf("register scalable target %s %s: %w", id, t.ScalableDimension, e))
			continue
		}
		a.Done = append(a.Done, fmt.Sprintf("auto scaling %s %s (%d-%d)", id, t.ScalableDimension, t.MinCapacity, t.MaxCapacity))
	}
	for _, p := range as.ScalingPolicies {
		id := retarget(p.ResourceId, from, table)
		if p.PolicyType != string(aastypes.PolicyTypeTargetTrackingScaling) || p.TargetTrackingScalingPolicyConfiguration == nil {
			a.Skipped = append(a.Skipped, fmt.Sprintf("scaling policy %s of %s: type %s, only target tracking is recreated", p.PolicyName, id, p.PolicyType))
			continue
		}
		name := retarget(p.PolicyName, from, table)
		conf, e := p.TargetTrackingScalingPolicyConfiguration.sdk()
		if e != nil {
			errs = append(errs, fmt.Errorf("scaling policy %s: %w", name, e))
			continue
		}
		in := &aas.PutScalingPolicyInput{PolicyName: aws.String(name), ServiceNamespace: aastypes.ServiceNamespaceDynamodb, ResourceId: aws.String(id),
			ScalableDimension: aastypes.ScalableDimension(p.ScalableDimension), PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
			TargetTrackingScalingPolicyConfiguration: conf}
		if _, e := o.Scaling.PutScalingPolicy(ctx, in); e != nil {
			errs = append(errs, fmt.Errorf("put scaling policy %s: %w", name, e))
			continue
		}
		a.Done = append(a.Done, "scaling policy "+name)
	}
	return errs
}

// waitReady waits until the table, its GSIs and its replicas are ACTIVE.
func waitReady(ctx context.Context, api DescribeTableAPI, table string, timeout time.Duration) error {
	return waitFor(ctx, api, table, timeout, true)
}

// WaitIndexes waits until the table and every GSI are ACTIVE.
func WaitIndexes(ctx context.Context, api DescribeTableAPI, table string, timeout time.Duration) error {
	return waitFor(ctx, api, table, timeout, false)
}

func waitFor(ctx context.Context, api DescribeTableAPI, table string, timeout time.Duration, replicas bool) error {
	deadline := time.Now().Add(timeout)
	pause := 100 * time.Millisecond
	for {
		out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("describe table %s: %w", table, err)
		}
		var waiting []string
		if out.Table.TableStatus != types.TableStatusActive {
			waiting = append(waiting, "table "+string(out.Table.TableStatus))
		}
		for _, g := range out.Table.GlobalSecondaryIndexes {
			if g.IndexStatus != types.IndexStatusActive {
				waiting = append(waiting, fmt.Sprintf("index %s %s", aws.ToString(g.IndexName), g.IndexStatus))
			}
		}
		for _, r := range out.Table.Replicas {
			if replicas && r.ReplicaStatus != "" && r.ReplicaStatus != types.ReplicaStatusActive {
				waiting = append(waiting, fmt.Sprintf("replica %s %s", aws.ToString(r.RegionName), r.ReplicaStatus))
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("table %s not active after %s: %s", table, timeout, strings.Join(waiting, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(pause*2, 5*time.Second)
	}
}

// DescribeTableAPI is DescribeTable alone.
type DescribeTableAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Compare lists how table differs from the recorded definition rec in what
// a restore must give back: the key (names, roles, types), each index
// (present, key, projection), the TTL attribute, the billing mode, and the
// settings of settingsDiffs. TTL is compared only when both sides read it.
func Compare(rec, table *Definition) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if a, b := keyString(rec, rec.KeySchema), keyString(table, table.KeySchema); a != b {
		add("key: recorded %s, table %s", a, b)
	}
	out = append(out, indexDiffs("global", rec, table, indexShapes(rec.GlobalSecondaryIndexes), indexShapes(table.GlobalSecondaryIndexes))...)
	out = append(out, indexDiffs("local", rec, table, rec.LocalSecondaryIndexes, table.LocalSecondaryIndexes)...)
	if rec.TimeToLiveDescription != nil && table.TimeToLiveDescription != nil {
		if a, b := rec.TTLAttribute(), table.TTLAttribute(); a != b {
			add("TTL attribute: recorded %s, table %s", orNone(a), orNone(b))
		}
	}
	if rec.BillingMode != table.BillingMode {
		add("billing mode: recorded %s, table %s", rec.BillingMode, table.BillingMode)
	}
	return append(out, settingsDiffs(rec, table)...)
}

func keyString(d *Definition, ks []KeySchemaElement) string {
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s:%s %s", k.AttributeName, d.attrType(k.AttributeName), k.KeyType))
	}
	return strings.Join(parts, ", ")
}

func projString(p Projection) string {
	if p.ProjectionType != string(types.ProjectionTypeInclude) {
		return p.ProjectionType
	}
	a := slices.Clone(p.NonKeyAttributes)
	slices.Sort(a)
	return "INCLUDE " + strings.Join(a, ",")
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// indexDiffs compares the recorded and the table's indexes of one kind
// (global or local) by name, key and projection; a GSI's capacity is
// billing, compared with the billing mode.
func indexDiffs(kind string, rec, table *Definition, recorded, actual []LocalIndex) []string {
	var out []string
	have := map[string]LocalIndex{}
	for _, x := range actual {
		have[x.IndexName] = x
	}
	for _, x := range recorded {
		t, ok := have[x.IndexName]
		delete(have, x.IndexName)
		if !ok {
			out = append(out, fmt.Sprintf("%s secondary index %s: missing from the table", kind, x.IndexName))
			continue
		}
		if a, b := keyString(rec, x.KeySchema), keyString(table, t.KeySchema); a != b {
			out = append(out, fmt.Sprintf("%s secondary index %s: key recorded %s, table %s", kind, x.IndexName, a, b))
		}
		if a, b := projString(x.Projection), projString(t.Projection); a != b {
			out = append(out, fmt.Sprintf("%s secondary index %s: projection recorded %s, table %s", kind, x.IndexName, a, b))
		}
	}
	for _, n := range sortedKeys(have) {
		out = append(out, fmt.Sprintf("%s secondary index %s: on the table, not recorded", kind, n))
	}
	return out
}

// indexShapes keeps what Compare compares of GSIs: name, key, projection.
func indexShapes(gs []GlobalIndex) []LocalIndex {
	out := make([]LocalIndex, len(gs))
	for i, g := range gs {
		out[i] = LocalIndex{IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection}
	}
	return out
}

// ScalingCleanupAPI deregisters scalable targets (a scratch table's).
type ScalingCleanupAPI interface {
	DeregisterScalableTarget(ctx context.Context, in *aas.DeregisterScalableTargetInput, opts ...func(*aas.Options)) (*aas.DeregisterScalableTargetOutput, error)
}

// ReplicaCleanupAPI deletes a table's replicas.
type ReplicaCleanupAPI interface {
	DescribeTableAPI
	UpdateTable(ctx context.Context, in *dynamodb.UpdateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTableOutput, error)
}

// Undo removes what AfterLoad made outside the table itself, before a
// scratch table is deleted: its replicas (DeleteTable would remove one
// region's table only) and its scalable targets (Application Auto Scaling
// keeps them after the table is gone). Either client may be nil.
func Undo(ctx context.Context, api ReplicaCleanupAPI, scaling ScalingCleanupAPI, table string, d *Definition, a Applied, timeout time.Duration) error {
	var errs []error
	for _, r := range d.Replicas {
		if api == nil || !slices.Contains(a.Done, "replica in "+r.RegionName) {
			continue
		}
		_, e := api.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(table),
			ReplicaUpdates: []types.ReplicationGroupUpdate{{Delete: &types.DeleteReplicationGroupMemberAction{RegionName: aws.String(r.RegionName)}}}})
		if e == nil {
			e = waitReady(ctx, api, table, timeout)
		}
		if e != nil {
			errs = append(errs, fmt.Errorf("delete the replica of %s in %s: %w", table, r.RegionName, e))
		}
	}
	if as := d.AutoScaling; as != nil && scaling != nil {
		for _, t := range as.ScalableTargets {
			id := retarget(t.ResourceId, d.TableName, table)
			if !slices.Contains(a.Done, fmt.Sprintf("auto scaling %s %s (%d-%d)", id, t.ScalableDimension, t.MinCapacity, t.MaxCapacity)) {
				continue
			}
			if _, e := scaling.DeregisterScalableTarget(ctx, &aas.DeregisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceDynamodb,
				ResourceId: aws.String(id), ScalableDimension: aastypes.ScalableDimension(t.ScalableDimension)}); e != nil {
				errs = append(errs, fmt.Errorf("deregister scalable target %s %s: %w", id, t.ScalableDimension, e))
			}
		}
	}
	return errors.Join(errs...)
}

// recreateTriggers points the recorded Lambda triggers of the old stream
// at the new one (a.StreamArn).
func recreateTriggers(ctx context.Context, a *Applied, d *Definition, o Recreate) []error {
	var errs []error
	for _, m := range d.EventSourceMappings {
		switch {
		case a.StreamArn == "":
			a.Skipped = append(a.Skipped, "stream trigger "+m.FunctionArn+": the new stream's ARN is unknown")
			continue
		case o.NoTriggers != "":
			a.Skipped = append(a.Skipped, "stream trigger "+m.FunctionArn+": "+o.NoTriggers)
			continue
		case o.Lambda == nil:
			a.Skipped = append(a.Skipped, "stream trigger "+m.FunctionArn+": no Lambda client")
			continue
		}
		in, err := m.createInput(a.StreamArn)
		if err == nil {
			_, err = o.Lambda.CreateEventSourceMapping(ctx, in)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("create the stream trigger %s: %w; by hand: aws lambda create-event-source-mapping --function-name %s --event-source-arn %s --starting-position TRIM_HORIZON",
				m.FunctionArn, err, m.FunctionArn, a.StreamArn))
			continue
		}
		a.Done = append(a.Done, "stream trigger "+m.FunctionArn)
		a.Triggered = true
	}
	if d.Unread(PartTriggers) {
		a.Skipped = append(a.Skipped, "stream triggers: not recorded (the backup's writer could not read them), left alone")
	}
	return errs
}
