package coord

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/tandem-db/tandem/internal/arbiter"
)

// The package's tests share one in-process etcd member; each test uses its
// own cluster name.
var (
	etcdOnce sync.Once
	etcdM    *arbiter.Member
	etcdErr  error
	etcdDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if etcdM != nil {
		etcdM.Close()
	}
	os.RemoveAll(etcdDir)
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start")); err != nil {
			// etcd's embedded server keeps background goroutines; only
			// report leaks that name this package.
			if strings.Contains(err.Error(), "internal/coord.") {
				os.Stderr.WriteString("goleak: " + err.Error() + "\n")
				code = 1
			}
		}
	}
	os.Exit(code)
}

func testCli(t *testing.T) *clientv3.Client {
	t.Helper()
	etcdOnce.Do(func() {
		etcdDir, etcdErr = os.MkdirTemp("", "coord-test-")
		if etcdErr != nil {
			return
		}
		cfg := arbiter.LocalMemberConfig("coord", etcdDir+"/etcd")
		cfg.HeartbeatInterval = 50 * time.Millisecond
		cfg.ElectionTimeout = 500 * time.Millisecond
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		etcdM, etcdErr = arbiter.StartMember(ctx, cfg)
	})
	if etcdErr != nil {
		t.Fatal(etcdErr)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: etcdM.ClientEndpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// running is a coordinator started by start; stop ends it cleanly.
type running struct {
	*Coordinator
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *running) stop() { r.cancel(); <-r.done }

func start(t *testing.T, cli *clientv3.Client, cluster, id string, roles ...string) *running {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Cluster, cfg.ID = cluster, id
	cfg.SessionTTL = time.Second
	cfg.IDBatch = 100
	if len(roles) > 0 {
		cfg.Roles = roles
	}
	c, err := New(cli, cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Coordinator: c, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); c.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// await waits until c holds role (acquired) or not, and returns the lead.
func await(t *testing.T, c *running, role string, acquired bool) Lead {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, ok := c.Leads()[role]
		if ok == acquired {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: holds role %s = %v after 20s, want %v", c.cfg.ID, role, ok, acquired)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Cluster, ok.ID = "c", "a"
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no cluster", func(c *Config) { c.Cluster = "" }, `Cluster = ""`},
		{"slash id", func(c *Config) { c.ID = "a/b" }, `ID = "a/b"`},
		{"no roles", func(c *Config) { c.Roles = nil }, "Roles is empty"},
		{"bad role", func(c *Config) { c.Roles = []string{"root", "proxy"} }, `unknown role "proxy"`},
		{"dup role", func(c *Config) { c.Roles = []string{"root", "root"} }, `"root" given twice`},
		{"short ttl", func(c *Config) { c.SessionTTL = 500 * time.Millisecond }, "SessionTTL = 500ms"},
		{"batch", func(c *Config) { c.IDBatch = 0 }, "IDBatch = 0"},
		{"window", func(c *Config) { c.TSWindow = time.Millisecond }, "TSWindow = 1ms"},
	}
	for _, tc := range cases {
		c := ok
		c.Roles = append([]string(nil), ok.Roles...)
		tc.mod(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidConfig naming %q", tc.name, err, tc.want)
		}
	}
}

// TestRolesTakenOverOnStop: two coordinators campaign for every role; the
// first holds all four, the second waits; when the first stops, the second
// takes every role over, and the status shows it.
func TestRolesTakenOverOnStop(t *testing.T) {
	cli := testCli(t)
	ctx := ctxT(t)
	c1 := start(t, cli, "stop", "c1")
	for _, r := range AllRoles {
		await(t, c1, r, true)
	}
	c2 := start(t, cli, "stop", "c2")
	// c2 is queued behind c1 in every election once its member key shows.
	var rep *Report
	for deadline := time.Now().Add(20 * time.Second); ; {
		var err error
		rep, err = ReadStatus(ctx, cli, "stop")
		if err != nil {
			t.Fatal(err)
		}
		queued := len(rep.Coordinators) == 2
		for _, rr := range rep.Roles {
			queued = queued && rr.Active == "c1" && len(rr.Standbys) == 1 && rr.Standbys[0] == "c2"
		}
		if queued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("c2 not queued behind c1: %+v", rep)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c1.stop()
	for _, r := range AllRoles {
		await(t, c2, r, true)
	}
	rep, err := ReadStatus(ctx, cli, "stop")
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range rep.Roles {
		if rr.Active != "c2" || len(rr.Standbys) != 0 {
			t.Errorf("after c1 stopped: role %s: %+v", rr.Role, rr)
		}
	}
	if len(rep.Coordinators) != 1 || rep.Coordinators[0].ID != "c2" {
		t.Errorf("coordinators after c1 stopped: %+v", rep.Coordinators)
	}
}

// TestRolesSplit: coordinators with disjoint role lists each hold theirs.
func TestRolesSplit(t *testing.T) {
	cli := testCli(t)
	a := start(t, cli, "split", "a", RoleRoot, RoleData)
	b := start(t, cli, "split", "b", RoleQuery, RoleIndex)
	await(t, a, RoleRoot, true)
	await(t, a, RoleData, true)
	await(t, b, RoleQuery, true)
	await(t, b, RoleIndex, true)
	if _, err := b.Allocator(); !errors.Is(err, ErrNotActive) {
		t.Fatalf("b.Allocator() = %v, want ErrNotActive", err)
	}
}

// TestDuplicateIDRefused: a second coordinator with a live id does not
// campaign.
func TestDuplicateIDRefused(t *testing.T) {
	cli := testCli(t)
	a := start(t, cli, "dup", "same", RoleRoot)
	await(t, a, RoleRoot, true)
	cfg := DefaultConfig()
	cfg.Cluster, cfg.ID, cfg.SessionTTL = "dup", "same", time.Second
	c, err := New(cli, cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	err = c.runSession(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), `id "same" is already live`) {
		t.Fatalf("second coordinator with the same id: %v", err)
	}
}

// TestFencedAfterSessionLoss: the root's active loses its lease (as when
// it is paused past the TTL); a standby takes the role; the old active's
// allocator, still in hand, can reserve nothing: ErrFenced, and the
// high-water mark is the new active's. Ids stay unique and increasing.
func TestFencedAfterSessionLoss(t *testing.T) {
	cli := testCli(t)
	ctx := ctxT(t)
	c1 := start(t, cli, "fence", "c1", RoleRoot)
	ev := await(t, c1, RoleRoot, true)
	old, err := c1.Allocator()
	if err != nil {
		t.Fatal(err)
	}
	first, err := old.IDs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	c2 := start(t, cli, "fence", "c2", RoleRoot)
	// Expire c1's lease as the arbiter would after a pause.
	r, err := cli.Get(ctx, ev.Fence.Key)
	if err != nil || len(r.Kvs) != 1 {
		t.Fatalf("read c1's election key: %v %v", r, err)
	}
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(r.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	await(t, c2, RoleRoot, true)
	nw, err := c2.Allocator()
	if err != nil {
		t.Fatal(err)
	}
	next, err := nw.IDs(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if next <= first+9 {
		t.Fatalf("new active's ids start at %d, not above the old active's batch (%d..%d)", next, first, first+9)
	}
	markBefore, revBefore, _ := readInt(ctx, cli, idKey("fence"))
	// The old allocator's batch (100) has 90 left; ask for more than that
	// so that it must reserve.
	if _, err := old.IDs(ctx, 500); !errors.Is(err, ErrFenced) {
		t.Fatalf("old active reserving after losing the role: %v, want ErrFenced", err)
	}
	if _, err := old.Timestamp(ctx); err != nil {
		// Its timestamp window was reserved while it led: it may still hand
		// out from it (timestamps from a lost window are below the new
		// active's, which starts above the stored mark), or be fenced.
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("old Timestamp: %v", err)
		}
	}
	markAfter, revAfter, _ := readInt(ctx, cli, idKey("fence"))
	if markAfter != markBefore || revAfter != revBefore {
		t.Fatalf("fenced allocator changed alloc/id: %d@%d -> %d@%d", markBefore, revBefore, markAfter, revAfter)
	}
}

// TestTimestampsGrowAcrossTakeover: the new root's clock is 10 s behind;
// its timestamps are still above every one the old root handed out.
func TestTimestampsGrowAcrossTakeover(t *testing.T) {
	cli := testCli(t)
	ctx := ctxT(t)
	c1 := start(t, cli, "ts", "c1", RoleRoot)
	await(t, c1, RoleRoot, true)
	a1, _ := c1.Allocator()
	var last uint64
	for i := 0; i < 1000; i++ {
		ts, err := a1.Timestamp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ts <= last {
			t.Fatalf("timestamp %d after %d", ts, last)
		}
		last = ts
	}
	c2 := start(t, cli, "ts", "c2", RoleRoot)
	c1.stop()
	await(t, c2, RoleRoot, true)
	a2, _ := c2.Allocator()
	a2.now = func() time.Time { return time.Now().Add(-10 * time.Second) }
	ts, err := a2.Timestamp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ts <= last {
		t.Fatalf("new root's first timestamp %d is not above the old root's last %d", ts, last)
	}
}

// TestLogicalOverflow: more than 2^18 timestamps in one millisecond move
// to the next millisecond.
func TestLogicalOverflow(t *testing.T) {
	cli := testCli(t)
	ctx := ctxT(t)
	c := start(t, cli, "logical", "c", RoleRoot)
	await(t, c, RoleRoot, true)
	a, _ := c.Allocator()
	frozen := time.Now()
	a.now = func() time.Time { return frozen }
	var last uint64
	for i := 0; i < 1<<LogicalBits+10; i++ {
		ts, err := a.Timestamp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ts <= last {
			t.Fatalf("timestamp %d after %d at step %d", ts, last, i)
		}
		last = ts
	}
	if phys := int64(last >> LogicalBits); phys != frozen.UnixMilli()+1 {
		t.Fatalf("physical part %d, want %d (one ms past the frozen clock)", phys, frozen.UnixMilli()+1)
	}
}

func TestReadStatusNoCluster(t *testing.T) {
	cli := testCli(t)
	if _, err := ReadStatus(ctxT(t), cli, "nope"); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("ReadStatus(nope) = %v, want ErrNoCluster", err)
	}
	if _, err := ReadStatus(ctxT(t), cli, "a/b"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("ReadStatus(a/b) = %v, want ErrInvalidConfig", err)
	}
}

// TestStandbyEndsDeadActiveSession: the active publishes a side address
// that refuses connections (as after its process died); the standby ends
// its session and takes the role at once; the "dead" one, still running,
// lost the role and queues behind.
func TestStandbyEndsDeadActiveSession(t *testing.T) {
	cli := testCli(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now: connects are refused
	cfg := DefaultConfig()
	cfg.Cluster, cfg.ID, cfg.Roles, cfg.Addr = "deadlease", "c1", []string{RoleRoot}, dead
	cfg.SessionTTL = 10 * time.Second // the takeover must not wait for this
	c1, err := New(cli, cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r1 := &running{Coordinator: c1, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r1.done); c1.Run(ctx) }()
	t.Cleanup(r1.stop)
	await(t, r1, RoleRoot, true)
	start := time.Now()
	c2 := start2(t, cli, "deadlease", "c2")
	await(t, c2, RoleRoot, true)
	d := time.Since(start)
	t.Logf("takeover %v (session TTL 10s)", d)
	if d > 8*time.Second {
		t.Fatalf("takeover took %v, not ended early", d)
	}
	await(t, r1, RoleRoot, false)
}

func start2(t *testing.T, cli *clientv3.Client, cluster, id string) *running {
	return start(t, cli, cluster, id, RoleRoot)
}
