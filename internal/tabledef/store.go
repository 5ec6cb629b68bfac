package tabledef

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/layout"
)

// Suffix follows the table folder in the definition object's key:
// PREFIX/TABLE.dynasnap-table-definition.json, beside PREFIX/TABLE/ and never
// inside it, so no listing of the items sees it (docs/DESIGN.md §2.8).
const Suffix = ".dynasnap-table-definition.json"

// MetaHash is the metadata key holding the definition's Hash: the writer
// compares it before storing a new version.
const MetaHash = "dynasnap-definition-sha256"

// ObjectKey is the key of the definition object of the table folder loc.
func ObjectKey(loc layout.Location) string { return loc.Prefix + Suffix }

// S3API is what Record needs.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// CurrentHash is the hash recorded on the current version of the
// definition object ("" when there is none, or it is a delete marker).
func CurrentHash(ctx context.Context, client S3API, loc layout.Location) (string, error) {
	key := ObjectKey(loc)
	out, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(key)})
	if err != nil {
		var re *awshttp.ResponseError
		if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusNotFound || re.HTTPStatusCode() == http.StatusMethodNotAllowed) {
			return "", nil
		}
		return "", fmt.Errorf("head s3://%s/%s: %w", loc.Bucket, key, err)
	}
	for k, v := range out.Metadata {
		if strings.EqualFold(k, MetaHash) {
			return v, nil
		}
	}
	return "", nil
}

// Put stores d as the new version of the definition object.
func Put(ctx context.Context, client S3API, loc layout.Location, d *Definition) error {
	body, err := d.Marshal()
	if err != nil {
		return err
	}
	key := ObjectKey(loc)
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/json"),
		Metadata: map[string]string{MetaHash: d.Hash(), "dynasnap-source": d.Dynasnap.RecordedBy},
		// Object Lock refuses a PUT without an integrity checksum, as for
		// the items' versions (docs/DESIGN.md §2.4).
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", loc.Bucket, key, err)
	}
	return nil
}

// Record stores d unless the current version already holds the same
// definition. It reports whether it wrote a version.
func Record(ctx context.Context, client S3API, loc layout.Location, d *Definition) (bool, error) {
	cur, err := CurrentHash(ctx, client, loc)
	if err != nil {
		return false, err
	}
	if cur == d.Hash() {
		return false, nil
	}
	return true, Put(ctx, client, loc, d)
}

// Recorded is the definition in force at a time, read from the backup.
type Recorded struct {
	Def  *Definition
	Raw  []byte // the version's body, as stored
	Key  string
	From history.Entry // the version chosen
	// Versions is how many versions (and delete markers) the object has;
	// Earliest is the oldest one's time: an At before it has no
	// definition although the backup does record one.
	Versions int
	Earliest time.Time
}

// At reads the definition of the table folder loc as it was at t, by the
// time rule of the items (docs/DESIGN.md §3): the object's versions listed
// newest first and folded with history.StateAt. It returns a Recorded
// with a nil Def when there is none at t (Versions 0: the backup never
// recorded one, as before dynasnap did, or in a mapbox/dynamodb-replicator
// bucket).
func At(ctx context.Context, src history.Source, loc layout.Location, t time.Time) (*Recorded, error) {
	key := ObjectKey(loc)
	entries, err := history.KeyVersions(ctx, src, key)
	if err != nil {
		return nil, fmt.Errorf("list versions of the table definition s3://%s/%s: %w", src.Bucket(), key, err)
	}
	r := &Recorded{Key: key, Versions: len(entries)}
	if len(entries) > 0 {
		r.Earliest = entries[len(entries)-1].LastModified
	}
	e, ok := history.StateAt(entries, t)
	if !ok {
		return r, nil
	}
	var buf bytes.Buffer
	if err := src.Read(ctx, e.Key, e.VersionID, &buf); err != nil {
		return nil, fmt.Errorf("read the table definition s3://%s/%s version %s: %w", src.Bucket(), key, e.VersionID, err)
	}
	d, err := Parse(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("s3://%s/%s version %s: %w", src.Bucket(), key, e.VersionID, err)
	}
	r.Def, r.Raw, r.From = d, bytes.Clone(buf.Bytes()), e
	return r, nil
}

// Missing explains why r holds no definition, for messages.
func (r *Recorded) Missing(loc layout.Location, t time.Time) string {
	where := fmt.Sprintf("s3://%s/%s", loc.Bucket, ObjectKey(loc))
	if r == nil || r.Versions == 0 {
		return fmt.Sprintf("the backup records no table definition (no %s: written before dynasnap recorded one, or by another tool such as mapbox/dynamodb-replicator)", where)
	}
	if !r.Earliest.IsZero() && r.Earliest.After(t) {
		return fmt.Sprintf("the backup's table definition %s was first recorded at %s, after %s", where, r.Earliest.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("the table definition %s was deleted at %s", where, t.UTC().Format(time.RFC3339))
}
