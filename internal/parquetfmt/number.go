package parquetfmt

import (
	"math/big"
	"strconv"
	"strings"
)

// decNum is a DynamoDB number as sign, digits × 10^exp, with the digits
// free of leading and trailing zeros (empty for zero). Working on the text
// keeps all 38 significant digits, which float64 would not.
type decNum struct {
	neg    bool
	digits string
	exp    int
}

func parseNumber(s string) (decNum, bool) {
	var d decNum
	if s == "" {
		return d, false
	}
	switch s[0] {
	case '-':
		d.neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	mant, expText := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, expText = s[:i], s[i+1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return d, false
	}
	if expText != "" {
		e, err := strconv.Atoi(expText)
		if err != nil || e > 1000 || e < -1000 {
			return d, false
		}
		d.exp = e
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	d.exp -= len(frac)
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		d.exp++
	}
	if digits == "" {
		return decNum{}, true
	}
	d.digits = digits
	return d, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// scale is the number of digits after the decimal point.
func (d decNum) scale() int { return max(0, -d.exp) }

// intDigits is the number of digits before the decimal point.
func (d decNum) intDigits() int { return max(0, len(d.digits)+d.exp) }

// int64 returns the number if it is an integer that fits.
func (d decNum) int64() (int64, bool) {
	if d.digits == "" {
		return 0, true
	}
	if d.exp < 0 || len(d.digits)+d.exp > 19 {
		return 0, false
	}
	s := d.digits + strings.Repeat("0", d.exp)
	if d.neg {
		s = "-" + s
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

var twoTo128 = new(big.Int).Lsh(big.NewInt(1), 128)

// decimal16 returns the unscaled value for DECIMAL(precision, scale) as 16
// big-endian two's-complement bytes, if the number fits without rounding.
func (d decNum) decimal16(precision, scale int) ([]byte, bool) {
	out := make([]byte, 16)
	if d.digits == "" {
		return out, true
	}
	if d.scale() > scale {
		return nil, false
	}
	unscaled := d.digits + strings.Repeat("0", d.exp+scale)
	if len(unscaled) > precision {
		return nil, false
	}
	v, ok := new(big.Int).SetString(unscaled, 10)
	if !ok {
		return nil, false
	}
	if d.neg {
		v.Sub(twoTo128, v)
	}
	v.FillBytes(out)
	return out, true
}

// isJSONNumber tells whether s may be written into JSON text as it is.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == start || (s[start] == '0' && i-start > 1) {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		f := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == f {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		f := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == f {
			return false
		}
	}
	return i == len(s)
}
