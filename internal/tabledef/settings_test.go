package tabledef

import "testing"

// The recorded ARN becomes the new one where it names the table, its
// indexes or streams, never inside a longer table name.
func TestPolicyFor(t *testing.T) {
	d := &Definition{TableArn: "arn:aws:dynamodb:eu-west-1:1:table/orders",
		ResourcePolicy: `{"Resource":["arn:aws:dynamodb:eu-west-1:1:table/orders","arn:aws:dynamodb:eu-west-1:1:table/orders/index/*","arn:aws:dynamodb:eu-west-1:1:table/orders2"]}`}
	want := `{"Resource":["arn:aws:dynamodb:us-east-1:2:table/copy","arn:aws:dynamodb:us-east-1:2:table/copy/index/*","arn:aws:dynamodb:eu-west-1:1:table/orders2"]}`
	if got := d.PolicyFor("arn:aws:dynamodb:us-east-1:2:table/copy"); got != want {
		t.Errorf("PolicyFor\n got %s\nwant %s", got, want)
	}
	if got := d.PolicyFor(d.TableArn); got != d.ResourcePolicy {
		t.Errorf("same ARN changed the policy: %s", got)
	}
}

func TestRetarget(t *testing.T) {
	for in, want := range map[string]string{
		"table/orders":                                  "table/copy",
		"table/orders/index/byCustomer":                 "table/copy/index/byCustomer",
		"table/orders2":                                 "table/orders2",
		"DynamoDBReadCapacityUtilization:table/orders":  "DynamoDBReadCapacityUtilization:table/copy",
		"DynamoDBReadCapacityUtilization:table/orders2": "DynamoDBReadCapacityUtilization:table/orders2",
		"my-policy":                                     "my-policy",
	} {
		if got := retarget(in, "orders", "copy"); got != want {
			t.Errorf("retarget(%q) = %q, want %q", in, got, want)
		}
	}
}
