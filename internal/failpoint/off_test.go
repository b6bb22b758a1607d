//go:build !failpoints

package failpoint

import "testing"

func TestReleaseBuildIsInert(t *testing.T) {
	if Enabled || Enable("x", "error") == nil || Inject("x") != nil || Handler() != nil {
		t.Fatal("a release build must not arm failpoints")
	}
}
