package version

import (
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	in := Get()
	if in.Version == "" || in.GoVersion == "" || !strings.Contains(in.Platform, "/") {
		t.Fatalf("incomplete build info %+v", in)
	}
	if s := in.String(); !strings.HasPrefix(s, in.Version) || !strings.Contains(s, in.GoVersion) {
		t.Fatalf("String() = %q", s)
	}
}
