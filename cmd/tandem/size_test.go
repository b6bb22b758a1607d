package main

import "testing"

func TestParseMinFreeDisk(t *testing.T) {
	for in, want := range map[string]int64{
		"256MiB": 256 << 20, "1GiB": 1 << 30, "8M": 8 << 20, "4096": 4096, "10 KiB": 10 << 10,
		"off": -1, "0": -1, "OFF": -1,
	} {
		if got, err := parseMinFreeDisk(in); err != nil || got != want {
			t.Errorf("parseMinFreeDisk(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-5MiB", "1.5GiB", "99999999999TiB"} {
		if got, err := parseMinFreeDisk(bad); err == nil {
			t.Errorf("parseMinFreeDisk(%q) = %d, want an error", bad, got)
		}
	}
}
