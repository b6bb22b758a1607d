package main

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/tandem-db/tandem/internal/engine"
)

func TestStorageFlagsRefuseOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" = accepted
	}{
		{nil, ""},
		{[]string{"--segment-rows", "-5"}, "--segment-rows = -5"},
		{[]string{"--segment-rows", "0"}, "--segment-rows = 0"},
		{[]string{"--segment-rows", "99999999"}, "--segment-rows = 99999999"},
		{[]string{"--wal-sync-interval", "0s"}, "--wal-sync-interval = 0s"},
		{[]string{"--compaction-interval", "-1s"}, "--compaction-interval = -1s"},
		{[]string{"--compaction-interval", "0s"}, ""},
		{[]string{"--wal-sync", "never"}, `--wal-sync = "never"`},
		// Deprecated names set the same variables.
		{[]string{"--sync-interval", "0s"}, "--wal-sync-interval = 0s"},
		{[]string{"--sync", "never"}, `--wal-sync = "never"`},
		{[]string{"--data-dir", ""}, "--data-dir"},
	} {
		f := pflag.NewFlagSet("t", pflag.ContinueOnError)
		s := addStorageFlags(f, true)
		if err := f.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		_, err := s.engineConfig(nil)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: refused: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one naming %q", tc.args, err, tc.want)
		}
	}
}

func TestLogFlags(t *testing.T) {
	if _, err := newLogger("info", "json"); err != nil {
		t.Fatal(err)
	}
	if _, err := newLogger("loud", "text"); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Fatalf("bad level: %v", err)
	}
	if _, err := newLogger("info", "xml"); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Fatalf("bad format: %v", err)
	}
}

func TestEnvErrorNamesTheVariable(t *testing.T) {
	f := pflag.NewFlagSet("t", pflag.ContinueOnError)
	addStorageFlags(f, false)
	t.Setenv("TANDEM_SEGMENT_ROWS", "many")
	if err := applyEnv(f); err == nil || !strings.Contains(err.Error(), "TANDEM_SEGMENT_ROWS") {
		t.Fatalf("env error %v does not name the variable", err)
	}
}

// --min-sync-standbys 0 in sync mode is refused naming the flag (it used
// to mean 1 silently), and nothing is created.
func TestWindow10MinSyncStandbysZeroRefused(t *testing.T) {
	dir := t.TempDir() + "/data"
	cmd := newNodeCmd()
	cmd.SetArgs([]string{"--node-id", "n1", "--data-dir", dir, "--min-sync-standbys", "0"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "--min-sync-standbys 0") {
		t.Fatalf("node --min-sync-standbys 0: %v", err)
	}
	if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
		t.Fatalf("the refused node created its data dir: %v", serr)
	}
}

// TestFlagAliases: the deprecated flag names (--sync, --sync-interval,
// --batch, --load-batch, --M, --no-anchor) still work, set the same
// variables as the new ones, are hidden from --help, and the environment
// never overrides a command line that used either name.
func TestFlagAliases(t *testing.T) {
	newFS := func() *pflag.FlagSet {
		f := pflag.NewFlagSet("t", pflag.ContinueOnError)
		f.SetOutput(io.Discard)
		return f
	}
	f := newFS()
	s := addStorageFlags(f, false)
	if err := f.Parse([]string{"--sync", "interval", "--sync-interval", "5ms"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := s.engineConfig(nil)
	if err != nil || cfg.Sync != engine.SyncInterval || cfg.SyncInterval != 5*time.Millisecond {
		t.Fatalf("old names: %+v, %v", cfg, err)
	}
	var usage strings.Builder
	f.SetOutput(&usage)
	f.PrintDefaults()
	if u := usage.String(); strings.Contains(u, "--sync ") || strings.Contains(u, "--sync-interval") || !strings.Contains(u, "--wal-sync ") {
		t.Errorf("help shows the deprecated names or lacks the new:\n%s", u)
	}

	for _, old := range []string{"batch", "load-batch"} {
		f := newFS()
		var n int
		addBatchRowsFlag(f, &n, 7, "rows", old)
		if err := f.Parse([]string{"--" + old, "3"}); err != nil || n != 3 {
			t.Fatalf("--%s 3: %d, %v", old, n, err)
		}
	}
	f = newFS()
	var m int
	addHNSWMFlag(f, &m, 16)
	if err := f.Parse([]string{"--M", "32"}); err != nil || m != 32 {
		t.Fatalf("--M 32: %d, %v", m, err)
	}
	for _, tc := range []struct {
		args []string
		want bool
	}{{nil, true}, {[]string{"--no-anchor"}, false}, {[]string{"--anchor=false"}, false}, {[]string{"--anchor"}, true}} {
		f := newFS()
		var anchor bool
		apply := addAnchorFlag(f, &anchor, "anchor", true)
		if err := f.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if apply(); anchor != tc.want {
			t.Errorf("%v: anchor %v, want %v", tc.args, anchor, tc.want)
		}
	}

	// Environment: the new name wins over the old; neither overrides the
	// command line, whichever name it used.
	t.Setenv("TANDEM_SYNC", "interval")
	t.Setenv("TANDEM_WAL_SYNC", "fsync")
	for _, tc := range []struct {
		args []string
		want string
	}{{nil, "fsync"}, {[]string{"--sync", "interval"}, "interval"}, {[]string{"--wal-sync", "interval"}, "interval"}} {
		f := newFS()
		s := addStorageFlags(f, false)
		if err := f.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := applyEnv(f); err != nil {
			t.Fatal(err)
		}
		if s.sync != tc.want {
			t.Errorf("%v with TANDEM_SYNC=interval TANDEM_WAL_SYNC=fsync: %q, want %q", tc.args, s.sync, tc.want)
		}
	}
}
