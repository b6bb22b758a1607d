package testutil

import (
	"fmt"
	"os"

	"go.uber.org/goleak"
)

// leakIgnores are goroutines of third-party packages that outlive every
// test on purpose (process-wide background workers); each says why.
// Goroutines of Tandem's own packages are never ignored: a leak of ours is
// a bug to fix.
var leakIgnores = []goleak.Option{
	// The Milvus packages (milvus/pkg, via the SDK and our API server)
	// create process-wide ants worker pools during package init; each pool
	// purges stale workers in a goroutine that runs for the life of the
	// process (started in goroutine 1, before any test).
	goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
	goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
}

// CheckLeaks reports (on stderr) goroutines still running that a package's
// tests started and did not stop, after retrying for a few seconds so that
// goroutines that are already ending can finish. Call it at the end of
// TestMain, after the package's shared fixtures (e.g. an embedded etcd)
// were closed, and only when the tests passed (a failed test may leave
// goroutines behind). It returns the exit code to use: code, or 1 on a
// leak.
func CheckLeaks(code int) int {
	if code != 0 {
		return code
	}
	if err := goleak.Find(leakIgnores...); err != nil {
		fmt.Fprintf(os.Stderr, "goleak: goroutines leaked by this package's tests:\n%v\n", err)
		return 1
	}
	return code
}
