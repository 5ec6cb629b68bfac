package fastget

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// emptyHash is the SHA-256 of an empty payload, signed for every GET.
const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// signer computes SigV4 Authorization headers for GET requests without a
// body, with the signing key cached per day and credentials.
type signer struct {
	region string
	owner  string // x-amz-expected-bucket-owner, signed; "" for none

	mu   sync.Mutex
	day  string
	akid string
	sec  string
	key  []byte
}

// signingKey derives (or reuses) the key for day and creds.
func (s *signer) signingKey(day string, creds aws.Credentials) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil && s.day == day && s.akid == creds.AccessKeyID && s.sec == creds.SecretAccessKey {
		return s.key
	}
	k := hmacSHA256([]byte("AWS4"+creds.SecretAccessKey), day)
	k = hmacSHA256(k, s.region)
	k = hmacSHA256(k, "s3")
	k = hmacSHA256(k, "aws4_request")
	s.day, s.akid, s.sec, s.key = day, creds.AccessKeyID, creds.SecretAccessKey, k
	return k
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// authorization returns the Authorization header value for GET host+path
// (already escaped) with the given canonical query, and the X-Amz-Date it
// signs.
func (s *signer) authorization(creds aws.Credentials, host, path, query string, now time.Time) (auth, amzDate string) {
	now = now.UTC()
	amzDate = now.Format("20060102T150405Z")
	day := amzDate[:8]
	signed := "host;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date"
	if s.owner != "" {
		signed += ";x-amz-expected-bucket-owner"
	}
	var b strings.Builder
	b.Grow(256 + len(path) + len(query) + len(creds.SessionToken))
	b.WriteString("GET\n")
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteString("\nhost:")
	b.WriteString(host)
	b.WriteString("\nx-amz-checksum-mode:ENABLED\nx-amz-content-sha256:" + emptyHash + "\nx-amz-date:")
	b.WriteString(amzDate)
	b.WriteByte('\n')
	if s.owner != "" {
		b.WriteString("x-amz-expected-bucket-owner:")
		b.WriteString(s.owner)
		b.WriteByte('\n')
	}
	if creds.SessionToken != "" {
		b.WriteString("x-amz-security-token:")
		b.WriteString(creds.SessionToken)
		b.WriteByte('\n')
		signed += ";x-amz-security-token"
	}
	b.WriteByte('\n')
	b.WriteString(signed)
	b.WriteString("\n" + emptyHash)
	sum := sha256.Sum256([]byte(b.String()))
	scope := day + "/" + s.region + "/s3/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	sig := hex.EncodeToString(hmacSHA256(s.signingKey(day, creds), toSign))
	return "AWS4-HMAC-SHA256 Credential=" + creds.AccessKeyID + "/" + scope + ", SignedHeaders=" + signed + ", Signature=" + sig, amzDate
}

// escape URI-encodes s as SigV4 wants it for S3: every byte but the
// unreserved characters (and '/' when keepSlash), no double encoding.
func escape(s string, keepSlash bool) string {
	const hexUpper = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (keepSlash && c == '/') {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = make([]byte, 0, len(s)+16)
			b = append(b, s[:i]...)
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	if b == nil {
		return s
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
