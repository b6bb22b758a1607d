package localgroup

import (
	"reflect"
	"testing"
	"time"
)

func TestParseLogfmt(t *testing.T) {
	line := `time=2026-11-26T02:04:42.205Z level=INFO msg="tandem node serving" group=g1 listen=127.0.0.1:4000 peer=127.0.0.1:4001 http=127.0.0.1:4002 err="a \"quoted\" thing" empty= standbys="[n1 n2]"`
	got := ParseLogfmt(line)
	want := map[string]string{
		"time": "2026-11-26T02:04:42.205Z", "level": "INFO", "msg": "tandem node serving", "group": "g1",
		"listen": "127.0.0.1:4000", "peer": "127.0.0.1:4001", "http": "127.0.0.1:4002",
		"err": `a "quoted" thing`, "empty": "", "standbys": "[n1 n2]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseLogfmt:\n got %v\nwant %v", got, want)
	}
	// Not logfmt at all, bare words, an unterminated quote: no panic.
	for _, s := range []string{"", "panic: boom", "a b=c d", `k="unterminated`, "=x", "[2026/11/26] [WARN] x=1"} {
		ParseLogfmt(s)
	}
	if got := ParseLogfmt("panic: boom x=1"); got["x"] != "1" || len(got) != 1 {
		t.Fatalf("bare words: %v", got)
	}
	if got := ParseLogfmt(`k="unterminated`); got["k"] != "unterminated" {
		t.Fatalf("unterminated quote: %v", got)
	}
}

func TestLogTime(t *testing.T) {
	got, ok := LogTime(`time=2026-11-26T02:04:42.205Z level=INFO msg="writes open" epoch=2`)
	if !ok || !got.Equal(time.Date(2026, 11, 26, 2, 4, 42, 205e6, time.UTC)) {
		t.Fatalf("LogTime = %v %v", got, ok)
	}
	got, ok = LogTime(`time=2026-11-26T03:04:42.205+01:00 level=INFO`)
	if !ok || !got.Equal(time.Date(2026, 11, 26, 2, 4, 42, 205e6, time.UTC)) {
		t.Fatalf("LogTime with offset = %v %v", got, ok)
	}
	for _, s := range []string{"", "level=INFO time=2026-11-26T02:04:42Z", "time=yesterday x=1", "[2026/11/26 02:04:45.961 +00:00] [WARN]"} {
		if _, ok := LogTime(s); ok {
			t.Errorf("LogTime(%q) ok", s)
		}
	}
	if m := WritesOpenRe.FindStringSubmatch(`time=2026-11-26T02:04:42.205Z level=INFO msg="writes open" node=n2 epoch=12`); m == nil || m[1] != "12" {
		t.Fatalf("WritesOpenRe: %v", m)
	}
	m := nodeReady.FindStringSubmatch(`time=2026-11-26T02:04:00.486Z level=INFO msg="tandem node serving" group=g listen=127.0.0.1:1 peer=127.0.0.1:2 http=127.0.0.1:3 advertise=127.0.0.1:1`)
	if m == nil || m[1] != "127.0.0.1:1" || m[2] != "127.0.0.1:3" {
		t.Fatalf("nodeReady: %v", m)
	}
	m = proxyReady.FindStringSubmatch(`time=2026-11-26T02:04:37.265Z level=INFO msg="tandem proxy serving" group=demo listen=127.0.0.1:39183 http=127.0.0.1:33523 arbiter=x`)
	if m == nil || m[1] != "127.0.0.1:39183" || m[2] != "127.0.0.1:33523" {
		t.Fatalf("proxyReady: %v", m)
	}
}
