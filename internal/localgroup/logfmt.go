package localgroup

import (
	"strconv"
	"strings"
	"time"
)

// ParseLogfmt parses one log line in log/slog's text format (key=value
// pairs separated by spaces; a value with spaces or quotes is a Go quoted
// string) into a map. Malformed parts are skipped; a key without "=" is
// ignored.
func ParseLogfmt(line string) map[string]string {
	out := map[string]string{}
	s := line
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return out
		}
		eq := strings.IndexByte(s, '=')
		sp := strings.IndexByte(s, ' ')
		if eq < 0 || (sp >= 0 && sp < eq) {
			// A bare word: skip it.
			if sp < 0 {
				return out
			}
			s = s[sp:]
			continue
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				// Unterminated quote: take the rest as is.
				out[key] = strings.TrimPrefix(s, `"`)
				return out
			}
			val, _ = strconv.Unquote(q)
			s = s[len(q):]
		} else if sp := strings.IndexByte(s, ' '); sp >= 0 {
			val, s = s[:sp], s[sp:]
		} else {
			val, s = s, ""
		}
		out[key] = val
	}
}

// LogTime returns the time= field of a slog text line.
func LogTime(line string) (time.Time, bool) {
	if !strings.HasPrefix(line, "time=") {
		return time.Time{}, false
	}
	v := line[len("time="):]
	if sp := strings.IndexByte(v, ' '); sp >= 0 {
		v = v[:sp]
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
