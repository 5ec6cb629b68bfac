package main

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

type s3ListInput = s3.ListObjectVersionsInput

func countKeys(out *s3.ListObjectVersionsOutput) int {
	keys := map[string]bool{}
	for _, v := range out.Versions {
		keys[aws.ToString(v.Key)] = true
	}
	for _, m := range out.DeleteMarkers {
		keys[aws.ToString(m.Key)] = true
	}
	return len(keys)
}
