//go:build !failpoints

package failpoint

import (
	"context"
	"net/http"
)

// Enabled reports whether failpoints are compiled in (build tag failpoints).
const Enabled = false

// Inject evaluates the named point: always nil in a release build.
func Inject(string) error { return nil }

// Enable arms a point; in a release build it does nothing and reports
// that failpoints are not compiled in.
func Enable(name, spec string) error { return errNotBuilt }

// Disable disarms a point (no-op in a release build).
func Disable(string) {}

// Hits returns how many evaluations of the point fired (0 in a release build).
func Hits(string) int { return 0 }

// WaitHit waits until the point fired at least n times; in a release build
// it fails at once.
func WaitHit(ctx context.Context, name string, n int) error { return errNotBuilt }

// Handler returns nil in a release build: there is nothing to serve.
func Handler() http.Handler { return nil }
