package awserr

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
)

func opErr(service, op string, inner error) error {
	return &smithy.OperationError{ServiceID: service, OperationName: op, Err: inner}
}

func TestText(t *testing.T) {
	cases := []struct {
		err  error
		want []string
	}{
		{fmt.Errorf("describe table orders: %w", opErr("DynamoDB", "DescribeTable", &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "Requested resource not found"})),
			[]string{"describe table orders: the table does not exist in this region"}},
		{fmt.Errorf("read versioning of bucket b: %w", opErr("S3", "GetBucketVersioning", &smithy.GenericAPIError{Code: "NoSuchBucket"})),
			[]string{"read versioning of bucket b: the bucket does not exist"}},
		{fmt.Errorf("describe table x: %w", opErr("DynamoDB", "DescribeTable", &smithy.GenericAPIError{Code: "ValidationException", Message: "TableName must be at most 255 characters long"})),
			[]string{"describe table x: DynamoDB refused the request as invalid: TableName must be at most 255"}},
		{errors.Join(fmt.Errorf("a: %w", opErr("S3", "GetObject", &smithy.GenericAPIError{Code: "AccessDenied"})),
			fmt.Errorf("b: %w", opErr("S3", "PutObject", &smithy.GenericAPIError{Code: "SlowDown"}))),
			[]string{"a: access denied", "b: S3 kept throttling PutObject"}},
		{errors.New("plain"), []string{"plain"}},
	}
	for _, c := range cases {
		got := Text(c.err)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("Text(%v) = %q, want %q", c.err, got, w)
			}
		}
		if strings.Contains(got, "operation error") {
			t.Errorf("Text(%v) = %q: SDK text left", c.err, got)
		}
	}
}
