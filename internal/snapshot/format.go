package snapshot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/dynasnap/dynasnap/internal/exportfmt"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/item"
)

// The data file formats. Each has a writer that takes items in object-key
// order and a reader that gives them back; the sidecar is written and read
// beside either, by the part and Each.
const (
	FormatJSONLines = "jsonl"
	FormatParquet   = "parquet"
)

// itemWriter writes the items of one data file.
type itemWriter interface {
	// Write adds one item; body is its compact DynamoDB JSON.
	Write(e history.Entry, body []byte) error
	// Close finishes the file (gzip trailer, Parquet footer) but does not
	// close the underlying writer.
	Close() error
}

// itemReader reads the items of one data file in order.
type itemReader interface {
	// Next returns the next item as compact DynamoDB JSON, or io.EOF.
	Next() (json.RawMessage, error)
}

func outputFormat(format string) (string, error) {
	switch format {
	case FormatJSONLines:
		return "DYNAMODB_JSON", nil
	case FormatParquet:
		return "PARQUET", nil
	}
	return "", fmt.Errorf("format %q: want jsonl or parquet", format)
}

// extension is a data file's: Parquet compresses inside the file, by page.
func extension(format, compression string) string {
	if format == FormatParquet {
		return ".parquet"
	}
	return ".json" + extensions[compression]
}

// sidecarExtension is a sidecar's, JSON lines whatever the data format.
func sidecarExtension(compression string) string {
	return ".json" + extensions[compression]
}

// newDataWriter starts a data file of either format; pq is needed for
// parquet only.
func newDataWriter(format, compression string, w io.Writer, pq *ParquetOptions) (itemWriter, error) {
	if format == FormatParquet {
		return newParquetItemWriter(w, compression, pq)
	}
	return newItemWriter(format, compression, w)
}

// newItemWriter starts a JSON-lines data file.
func newItemWriter(format, compression string, w io.Writer) (itemWriter, error) {
	z, err := compressor(w, compression)
	if err != nil {
		return nil, err
	}
	return &jsonLinesWriter{z: z}, nil
}

// newItemReader reads a data file of the summary's output format.
func newItemReader(outputFormat, compression string, r io.Reader) (itemReader, io.Closer, error) {
	if outputFormat == "PARQUET" {
		return newParquetItemReader(r)
	}
	if outputFormat != "" && outputFormat != "DYNAMODB_JSON" {
		return nil, nil, fmt.Errorf("output format %q is not readable by this version", outputFormat)
	}
	dec, err := decompressor(r, compression)
	if err != nil {
		return nil, nil, err
	}
	return &jsonLinesReader{br: bufio.NewReaderSize(dec, 1<<20)}, dec, nil
}

type jsonLinesWriter struct {
	z    io.WriteCloser
	line []byte
}

func (j *jsonLinesWriter) Write(e history.Entry, body []byte) error {
	j.line = exportfmt.AppendItem(j.line[:0], body)
	_, err := j.z.Write(j.line)
	return err
}

func (j *jsonLinesWriter) Close() error { return j.z.Close() }

type jsonLinesReader struct{ br *bufio.Reader }

func (j *jsonLinesReader) Next() (json.RawMessage, error) {
	raw, err := nextLine(j.br)
	if err != nil {
		return nil, err
	}
	// The lines a snapshot writes hold canonical items: read those
	// directly, the rest through encoding/json.
	if inner, ok := bytes.CutPrefix(raw, []byte(`{"Item":`)); ok && len(inner) > 0 && inner[len(inner)-1] == '}' {
		if _, ok := item.CanonicalSize(inner[:len(inner)-1]); ok {
			return inner[:len(inner)-1], nil
		}
	}
	var l struct {
		Item json.RawMessage `json:"Item"`
	}
	if err := json.Unmarshal(raw, &l); err != nil || len(l.Item) == 0 || l.Item[0] != '{' {
		return nil, fmt.Errorf("not an {\"Item\":{...}} line: %.80s", raw)
	}
	return l.Item, nil
}

// nextLine returns the next non-empty line.
func nextLine(br *bufio.Reader) ([]byte, error) {
	for {
		line, err := br.ReadBytes('\n')
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			return line, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
