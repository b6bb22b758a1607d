package main

import (
	"fmt"
	"strconv"
	"strings"
)

// minFreeDiskHelp is the --min-free-disk flag's help text.
const minFreeDiskHelp = "refuse new writes (Milvus \"disk limit exceeded\", naming the free space) while the data dir's file system has less than this free, so a full disk never breaks the WAL; warns below twice this. A size in bytes with an optional unit (KiB, MiB, GiB, TiB; K, M, G, T are the same binary units), or \"off\""

// parseMinFreeDisk parses --min-free-disk into engine.Config's
// MinFreeDiskBytes: "off" (or "0") turns the guard off (-1).
func parseMinFreeDisk(s string) (int64, error) {
	switch strings.TrimSpace(strings.ToLower(s)) {
	case "off", "0", "0b":
		return -1, nil
	}
	n, err := parseBytes(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--min-free-disk = %q: want a size such as 256MiB or 1GiB, or \"off\"", s)
	}
	return n, nil
}

// parseBytes parses a byte count with an optional binary unit suffix.
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1}}
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, u := range units {
		if strings.HasSuffix(lower, u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * mult, nil
}
