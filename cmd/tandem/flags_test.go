package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
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
		{[]string{"--sync-interval", "0s"}, "--sync-interval = 0s"},
		{[]string{"--sync", "never"}, `--sync = "never"`},
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
