package fastget

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the full-object checksum S3 sent with a body (asked for with
// x-amz-checksum-mode), checked as the SDK checks it.
type checksum struct {
	algo string
	want []byte
}

func (c *checksum) set(algo, value []byte) error {
	a := strings.ToLower(string(algo))
	if a == "type" {
		return nil // FULL_OBJECT or COMPOSITE, a property, not a value
	}
	if strings.Contains(string(value), "-") {
		return nil // a composite checksum of parts: not of the body; the SDK skips it too
	}
	switch a {
	case "crc32", "crc32c", "sha1", "sha256":
	default:
		return fmt.Errorf("%w: checksum %s is not one this client verifies", ErrFallback, a)
	}
	want, err := base64.StdEncoding.DecodeString(string(value))
	if err != nil {
		return fmt.Errorf("%w: checksum %s %q is not base64", ErrFallback, a, value)
	}
	c.algo, c.want = a, want
	return nil
}

func (c *checksum) check(body []byte) error {
	var got []byte
	switch c.algo {
	case "":
		return nil
	case "crc32":
		got = binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(body))
	case "crc32c":
		got = binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, castagnoli))
	case "sha1":
		s := sha1.Sum(body)
		got = s[:]
	case "sha256":
		s := sha256.Sum256(body)
		got = s[:]
	}
	if string(got) != string(c.want) {
		// Read again through the SDK, which retries a corrupt transfer.
		return fmt.Errorf("%w: %s checksum of the body does not match the server's", ErrFallback, c.algo)
	}
	return nil
}
