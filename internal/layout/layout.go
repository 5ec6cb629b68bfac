// Package layout names things in the backup bucket: s3:// locations, the
// object key of an item (<prefix>/<table>/<object id>), and the key ranges a
// scan splits the table's objects into.
package layout

import (
	"fmt"
	"path"
	"strings"
)

// Location is a bucket and a key prefix (no leading or trailing slash).
type Location struct {
	Bucket string
	Prefix string
}

// ParseS3URL parses s3://bucket/prefix. The prefix may be empty.
func ParseS3URL(s string) (Location, error) {
	if !strings.HasPrefix(s, "s3://") {
		return Location{}, fmt.Errorf("%q is not an s3://bucket/prefix URL", s)
	}
	rest := strings.TrimPrefix(s, "s3://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return Location{}, fmt.Errorf("%q has no bucket name", s)
	}
	if strings.ContainsAny(bucket, " ?#") {
		return Location{}, fmt.Errorf("%q: bucket name %q is not valid", s, bucket)
	}
	return Location{Bucket: bucket, Prefix: strings.Trim(prefix, "/")}, nil
}

// IsS3URL reports whether s names an S3 location rather than a local path.
func IsS3URL(s string) bool { return strings.HasPrefix(s, "s3://") }

func (l Location) String() string {
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// Dir is the prefix with a trailing slash, as used to list "inside" it.
func (l Location) Dir() string {
	if l.Prefix == "" {
		return ""
	}
	return l.Prefix + "/"
}

// Key joins names under the location's prefix.
func (l Location) Key(names ...string) string {
	return strings.TrimPrefix(path.Join(append([]string{l.Prefix}, names...)...), "/")
}

// Child is the location of a sub-prefix.
func (l Location) Child(names ...string) Location {
	return Location{Bucket: l.Bucket, Prefix: l.Key(names...)}
}

// Contains reports whether other lies inside l (or is l).
func (l Location) Contains(other Location) bool {
	if l.Bucket != other.Bucket {
		return false
	}
	return l.Prefix == "" || other.Prefix == l.Prefix || strings.HasPrefix(other.Prefix, l.Prefix+"/")
}

// TableLocation is where the stream writer keeps a table's objects:
// <prefix>/<table>. The table name is path-escaped only if it holds a slash,
// which DynamoDB table names cannot.
func TableLocation(bucket, prefix, table string) Location {
	return Location{Bucket: bucket, Prefix: strings.Trim(path.Join(strings.Trim(prefix, "/"), table), "/")}
}

// ObjectKey is the key of an item's object: <table location>/<object id>.
func (l Location) ObjectKey(id string) string { return l.Key(id) }

// Table is the last element of a table location: the table's name.
func (l Location) Table() string { return path.Base("/" + l.Prefix) }
