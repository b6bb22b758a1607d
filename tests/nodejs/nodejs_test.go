// Package nodejs runs the official Milvus Node.js SDK against Tandem: the
// node:test suite in this directory (compat.test.mjs), with the SDK version
// pinned by package.json and package-lock.json, against a freshly built
// `tandem standalone`. It needs Node.js (20 or later) and npm, and npm must
// reach its registry (npm ci installs the SDK into node_modules here).
package nodejs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestNodeSDK installs the pinned SDK (npm ci) and runs `node --test` with
// TANDEM_BIN naming a tandem binary built from this tree. It is skipped,
// saying so, only when npm or node is not on PATH.
func TestNodeSDK(t *testing.T) {
	for _, tool := range []string{"npm", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIPPED: %s is not on PATH; the Node.js SDK compatibility suite needs Node.js 20+ and npm", tool)
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Clean(filepath.Join(dir, "..", ".."))
	bin := filepath.Join(t.TempDir(), "tandem")
	run(t, repo, 10*time.Minute, nil, "go", "build", "-o", bin, "./cmd/tandem")
	run(t, dir, 10*time.Minute, nil, "npm", "ci", "--no-audit", "--no-fund")
	out := run(t, dir, 10*time.Minute, []string{"TANDEM_BIN=" + bin}, "node", "--test", "--test-reporter=tap")
	t.Logf("node --test:\n%s", out)
}

// run runs name with args in dir (env added to the environment) and fails
// the test, showing the output, if it fails or outlives timeout.
func run(t *testing.T, dir string, timeout time.Duration, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v (in %s): %v\n%s", name, args, dir, err, out.String())
	}
	return out.String()
}
