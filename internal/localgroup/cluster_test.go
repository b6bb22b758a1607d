package localgroup

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestCluster runs a real group (the tandem binary, built here): start,
// write through the proxy, SIGKILL the active, see another take over with
// every acknowledged row, restart the killed node, and Close leaves no
// process and no directory behind.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tandem binary")
	}
	bin := filepath.Join(t.TempDir(), "tandem")
	build := exec.Command("go", "build", "-tags", "failpoints", "-o", bin, "github.com/tandem-db/tandem/cmd/tandem")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build tandem: %v\n%s", err, out)
	}
	QuietSDK()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lg, err := Start(ctx, Options{Binary: bin, Group: "t", Nodes: 3, Proxies: 1, Progress: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	st, err := lg.AwaitStatus(ctx, "a settled group", Settled(3, 1))
	if err != nil {
		t.Fatal(err)
	}
	src := FixedAddr(lg.Proxies[0].Addr)
	defer src.Close()
	c, err := src.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := CreateCollection(ctx, c, "c", 4); err != nil {
		t.Fatal(err)
	}
	w := StartUpserts(ctx, src, LoadConfig{Collection: "c", Dim: 4, Timeout: 15 * time.Second, Pause: 2 * time.Millisecond,
		Vector: func(id int64) []float32 { return []float32{float32(id), 1, 2, 3} }})
	defer w.Halt()
	if err := w.AwaitOK(ctx, 20, time.Time{}); err != nil {
		t.Fatal(err)
	}
	k, err := lg.KillLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k.Node.ID != st.Leader || k.Node.Running() {
		t.Fatalf("killed %s (running %v), the leader was %s", k.Node.ID, k.Node.Running(), st.Leader)
	}
	o, err := lg.AwaitWritesOpen(ctx, k.Marks, k.Node.ID, k.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AwaitOK(ctx, 20, k.Dead); err != nil {
		t.Fatal(err)
	}
	ops := w.Halt()
	first, _ := FirstOKAfter(ops, "upsert", k.Dead, 50*time.Millisecond)
	t.Logf("killed %s at epoch %d; %s open for writes at epoch %d after %v; first ack through the proxy after %v",
		k.Node.ID, k.Epoch, o.Node.ID, o.Epoch, o.Line.Logged.Sub(k.At), first.Sub(k.At))
	missing, err := MissingIDs(ctx, c, "c", AckedIDs(ops))
	if err != nil || len(missing) > 0 {
		t.Fatalf("acknowledged rows missing: %v (%v)", missing, err)
	}
	if err := k.Node.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := lg.AwaitStatus(ctx, "the group whole again", Settled(3, o.Epoch)); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, n := range lg.Nodes {
		pids = append(pids, n.Proc().Pid())
	}
	pids = append(pids, lg.Proxies[0].Pid(), lg.Arbiters[0].Pid())
	dir := lg.Dir
	lg.Close()
	for _, pid := range pids {
		if s := procState(pid); s != "" && s != "Z" {
			t.Errorf("pid %d still running after Close (state %s)", pid, s)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Close: %v", dir, err)
	}
}
