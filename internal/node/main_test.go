package node

import (
	"os"
	"testing"

	"github.com/tandem-db/tandem/internal/testutil"
)

// TestMain fails the package if its tests leave goroutines running: every
// node, arbiter member and client a test starts is closed by its cleanup,
// and Node.Close joins the node's goroutines (testutil.CheckLeaks).
func TestMain(m *testing.M) {
	os.Exit(testutil.CheckLeaks(m.Run()))
}
