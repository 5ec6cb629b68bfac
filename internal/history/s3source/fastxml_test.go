package s3source

import (
	"reflect"
	"strings"
	"testing"
)

const sample = `<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/t/</Prefix><KeyMarker></KeyMarker><VersionIdMarker/><NextKeyMarker>p/t/b&amp;c</NextKeyMarker><NextVersionIdMarker>v3</NextVersionIdMarker><MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>
<Version><Key>p/t/a</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-26T10:00:01.000Z</LastModified><ETag>&#34;abc&#34;</ETag><Size>12</Size><Owner><ID>o</ID><DisplayName>d</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Version>
<DeleteMarker><Key>p/t/a</Key><VersionId>v0</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-26T10:00:01Z</LastModified><Owner><ID>o</ID></Owner></DeleteMarker>
<Version><Key>p/t/b&amp;c &lt;&#x263A;&gt;</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-26T10:00:00.000Z</LastModified><Size>0</Size></Version>
</ListVersionsResult>`

func TestFastParserMatchesEncodingXML(t *testing.T) {
	bodies := []string{sample,
		strings.Replace(sample, "<IsTruncated>true</IsTruncated>", "<IsTruncated>false</IsTruncated>", 1),
		`<ListVersionsResult></ListVersionsResult>`,
	}
	for i, b := range bodies {
		slow, err := parseVersions([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		fast, ok, err := parseVersionsFast([]byte(b))
		if !ok || err != nil {
			t.Fatalf("body %d: fast parser declined: %v", i, err)
		}
		if !reflect.DeepEqual(slow, fast) {
			t.Fatalf("body %d differs:\nslow %+v\nfast %+v", i, slow, fast)
		}
	}
	slow, _ := parseVersions([]byte(sample))
	if len(slow.Entries) != 3 || !slow.Entries[1].IsDelete || slow.Entries[2].Key != "p/t/b&c <☺>" || slow.Entries[0].ETag != "abc" {
		t.Fatalf("unexpected parse: %+v", slow.Entries)
	}
	if _, ok, _ := parseVersionsFast([]byte(`<ListVersionsResult><Version><Key><![CDATA[x]]></Key></Version></ListVersionsResult>`)); ok {
		t.Fatal("CDATA should fall back to encoding/xml")
	}
}

// The fast parser never panics, whatever a server sends.
func FuzzFastParser(f *testing.F) {
	f.Add(sample)
	f.Fuzz(func(t *testing.T, b string) {
		parseVersionsFast([]byte(b))
	})
}
