// Package units reads the sizes flags take.
package units

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize reads a byte size: a number with an optional KiB, MiB, GiB
// (powers of two) or KB, MB, GB (powers of ten) suffix, e.g. 64MiB.
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q: want a size such as 64MiB or 1GiB", s)
	}
	return int64(n * float64(mult)), nil
}

// Size is a byte-size flag value (pflag.Value): 64MiB, 1GiB, 1048576.
type Size int64

func (s *Size) Set(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

func (s *Size) String() string { return strconv.FormatInt(int64(*s), 10) }
func (s *Size) Type() string   { return "size" }
