package restore

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
)

// liveItem is a table of one item for scope's GetItem.
type liveItem struct{ it item.Item }

func (l liveItem) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{Item: l.it}, nil
}

// TestScope: the rule of a filtered restore for each combination of the
// image at the time and the current item.
func TestScope(t *testing.T) {
	tenant := func(tn string) item.Item {
		return item.Item{"pk": &types.AttributeValueMemberS{Value: "k"}, "tenant": &types.AttributeValueMemberS{Value: tn}}
	}
	isAcme := func(it item.Item) (bool, error) {
		s, ok := it["tenant"].(*types.AttributeValueMemberS)
		return ok && s.Value == "acme", nil
	}
	acme, globex := tenant("acme"), tenant("globex")
	cases := []struct {
		name     string
		atT, cur item.Item
		live     bool
		want     string
	}{
		{"same tenant, changed", acme, acme, true, "write"},
		{"deleted since", acme, nil, true, "write"},
		{"created since", nil, acme, true, "write"},
		{"another tenant's", globex, globex, true, "filtered"},
		{"another tenant's, deleted since", globex, nil, true, "filtered"},
		{"another tenant's, created since", nil, globex, true, "filtered"},
		{"nothing either time", nil, nil, true, "filtered"},
		{"moved to another tenant", acme, globex, true, "conflict"},
		{"moved from another tenant", globex, acme, true, "conflict"},
		{"into an empty table: the image decides", acme, globex, false, "write"},
		{"into an empty table, another tenant's", globex, acme, false, "filtered"},
	}
	for _, c := range cases {
		s := &scoper{opts: VersionsOptions{Schema: pkSchema, Filter: isAcme, Live: liveItem{c.cur}}, table: "t", live: c.live}
		write, err := s.scope(context.Background(), c.atT, item.Item{"pk": &types.AttributeValueMemberS{Value: "k"}})
		got := "write"
		switch {
		case err != nil:
			got = err.Error()
		case s.conflicts.Load() == 1 && !write && len(s.conflictKeys) == 1 && s.conflictKeys[0] == `{"pk":{"S":"k"}}`:
			got = "conflict"
		case s.filtered.Load() == 1 && !write:
			got = "filtered"
		case !write:
			got = "not written, not counted"
		}
		if got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
