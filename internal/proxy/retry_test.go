package proxy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
)

func TestClassify(t *testing.T) {
	want := map[string]methodClass{
		"Search": classRead, "HybridSearch": classRead, "Query": classRead, "Connect": classRead,
		"DescribeCollection": classRead, "HasCollection": classRead, "ShowCollections": classRead,
		"ListDatabases": classRead, "GetLoadState": classRead, "GetCollectionStatistics": classRead,
		"CheckHealth": classRead, "GetVersion": classRead, "SelectUser": classRead, "GetComponentStates": classRead,
		"Upsert": classDedup, "Delete": classDedup, "Insert": classDedup,
		"CreateCollection": classOther, "DropCollection": classOther,
		"CreateIndex": classOther, "LoadCollection": classOther, "ReleaseCollection": classOther,
		"Flush": classOther, "CreateAlias": classOther, "AlterCollection": classOther,
		"Import": classOther, "ManualCompaction": classOther, "CreateDatabase": classOther,
		"OperatePrivilege": classOther, "RenameCollection": classOther, "TransferNode": classOther,
	}
	for name, c := range want {
		if got := classify(name); got != c {
			t.Errorf("classify(%s) = %v, want %v", name, got, c)
		}
	}
	// Every method that looks like a write by name is not a read.
	for _, mi := range methods {
		for _, w := range []string{"Create", "Drop", "Alter", "Add", "Remove", "Operate", "Update", "Load", "Release", "Flush", "Restore"} {
			if strings.HasPrefix(mi.name, w) && mi.class != classOther {
				t.Errorf("%s is classified %v", mi.name, mi.class)
			}
		}
	}
	// A prefix must end at a word boundary.
	if classify("Getaway") != classOther || classify("Listen") != classOther {
		t.Error("prefix matched inside a word")
	}
}

func TestRetryable(t *testing.T) {
	safe := []outcome{outcomeNoActive, outcomeNotSent, outcomeRefused}
	unsafe := []outcome{outcomeNotAcked, outcomeBroken}
	for _, c := range []methodClass{classRead, classDedup, classOther} {
		for _, o := range safe {
			if !retryable(c, o) {
				t.Errorf("%v after %v: not retried; it applied nothing", c, o)
			}
		}
		for _, o := range unsafe {
			if got, want := retryable(c, o), c != classOther; got != want {
				t.Errorf("retryable(%v, %v) = %v, want %v", c, o, got, want)
			}
		}
		if retryable(c, outcomeDone) {
			t.Errorf("%v: a final answer is retried", c)
		}
	}
	if retryable(classify("CreateCollection"), outcomeBroken) || retryable(classify("CreateCollection"), outcomeNotAcked) {
		t.Fatal("a DDL that may have been applied would be retried")
	}
}

func TestBackoff(t *testing.T) {
	got := []time.Duration{}
	for n := 1; n <= 6; n++ {
		got = append(got, backoff(25*time.Millisecond, 400*time.Millisecond, n))
	}
	want := []time.Duration{25, 50, 100, 200, 400, 400}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("backoff = %v", got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Group = "a/b" }, `Group = "a/b"`},
		{func(c *Config) { c.Arbiter = []string{" ", ""} }, "Arbiter"},
		{func(c *Config) { c.Hold = -time.Second }, "Hold = -1s"},
		{func(c *Config) { c.RetryBackoff = time.Second }, "RetryBackoff = 1s"},
		{func(c *Config) { c.MaxMsgBytes = -1 }, "MaxMsgBytes = -1"},
		{func(c *Config) { c.Listen = "off" }, "Listen"},
		{func(c *Config) { c.Dial = arbiter.DialOptions{DialTimeout: -1} }, "DialTimeout"},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.mut(&c)
		err := c.Validate()
		if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "proxy: ") {
			t.Errorf("Validate() = %v, want an ErrInvalidConfig naming %q", err, tc.want)
		}
	}
}
