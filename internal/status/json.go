package status

import (
	"encoding/json"
	"fmt"
	"io"
)

// maxResult bounds a result or summary read (they are a few KB).
const maxResult = 16 << 20

func decodeJSON(r io.Reader, v any) error {
	body, err := io.ReadAll(io.LimitReader(r, maxResult+1))
	if err != nil {
		return err
	}
	if len(body) > maxResult {
		return fmt.Errorf("over %d bytes: not a result", maxResult)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return nil
}
