package units

import "testing"

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int64{"64MiB": 64 << 20, "1 GiB": 1 << 30, "2KB": 2000, "512": 512, "1.5MiB": 3 << 19} {
		if n, err := ParseSize(s); err != nil || n != want {
			t.Errorf("ParseSize(%q) = %d %v, want %d", s, n, err, want)
		}
	}
	for _, s := range []string{"", "x", "0", "-1MiB", "MiB"} {
		if _, err := ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q): no error", s)
		}
	}
}
