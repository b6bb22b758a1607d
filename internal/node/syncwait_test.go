package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// httpGet returns the body of GET http://addr/path.
func httpGet(ctx context.Context, t *testing.T, addr, path string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// selfMember returns n's own entry in the arbiter's member list it sees.
func selfMember(n *Node, st Status) (MemberStatus, bool) {
	i := slices.IndexFunc(st.Members, func(m MemberStatus) bool { return m.NodeID == n.cfg.NodeID })
	if i < 0 {
		return MemberStatus{}, false
	}
	return st.Members[i], true
}

// TestSyncWaitingWritesVisible: in sync mode (strict policy) a write held
// back because the sync set lacks a standby is visible in /status
// (waiting_writes, waiting_since), in the member status published to the
// arbiter (what `tandem status` shows) and in the metric
// tandem_replication_sync_waiting_writes; all of it clears once the
// standby is back and the write is acknowledged.
func TestSyncWaitingWritesVisible(t *testing.T) {
	eps := startArbiter(t)
	base := t.TempDir()
	cfgs := map[string]Config{}
	var nodes []*Node
	for _, id := range []string{"n1", "n2"} {
		cfg := nodeConfig(t, id, filepath.Join(base, id), eps)
		cfg.SyncMode = SyncSync
		cfg.SyncPolicy = SyncStrict
		cfgs[id] = cfg
		nodes = append(nodes, startNode(t, cfg))
	}
	ctx := ctxT(t, 90*time.Second)
	active, st := awaitAny(ctx, t, nodes, writable)
	standby := others(nodes, active)[0]
	awaitFollowers(ctx, t, []*Node{standby}, active.cfg.NodeID, st.Epoch)
	c := sdk(t, active.Addr())
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	if err := insertRows(ctx, c, "c", 0, 10); err != nil {
		t.Fatal(err)
	}
	metric := fmt.Sprintf(`tandem_replication_sync_waiting_writes{node=%q}`, active.cfg.NodeID)
	metricValue := func() string {
		for _, l := range strings.Split(httpGet(ctx, t, active.HTTPAddr(), "/metrics"), "\n") {
			if v, ok := strings.CutPrefix(l, metric+" "); ok {
				return v
			}
		}
		return ""
	}

	// The standby stops: once it is dropped from S, a write waits.
	if err := standby.Close(ctx); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- insertRows(ctx, c, "c", 1000, 1) }()
	waiting, err := active.Await(ctx, func(st Status) bool {
		m, ok := selfMember(active, st)
		s := st.Replication.Sync
		return s != nil && s.WaitingWrites == 1 && s.WaitingSince != nil && ok && m.WaitingSinceUnixMs != 0
	})
	if err != nil {
		t.Fatalf("the waiting write is not visible: %v: %+v", err, waiting.Replication.Sync)
	}
	if m, _ := selfMember(active, waiting); m.WaitingSinceUnixMs != waiting.Replication.Sync.WaitingSince.UnixMilli() {
		t.Errorf("published waiting since %d, status says %v", m.WaitingSinceUnixMs, waiting.Replication.Sync.WaitingSince)
	}
	if body := httpGet(ctx, t, active.HTTPAddr(), "/status"); !strings.Contains(body, `"waiting_writes":1`) || !strings.Contains(body, `"waiting_since":`) {
		t.Errorf("/status lacks the waiting write: %s", body)
	}
	if v := metricValue(); v != "1" {
		t.Errorf("%s = %q, want 1", metric, v)
	}
	select {
	case err := <-errc:
		t.Fatalf("write returned while no standby is in the sync set: %v", err)
	default:
	}

	// The standby returns: the write is acknowledged and the marks clear.
	back := startNode(t, cfgs[standby.cfg.NodeID])
	if err := <-errc; err != nil {
		t.Fatalf("the waiting write failed after the standby returned: %v", err)
	}
	if lsn, d := active.Engine().LastLSN(), back.Engine().DurableLSN(); d < lsn {
		t.Fatalf("write at lsn %d acknowledged while the standby has only %d durable", lsn, d)
	}
	cleared, err := active.Await(ctx, func(st Status) bool {
		m, ok := selfMember(active, st)
		s := st.Replication.Sync
		return s != nil && s.WaitingWrites == 0 && s.WaitingSince == nil && ok && m.WaitingSinceUnixMs == 0
	})
	if err != nil {
		t.Fatalf("the waiting marks do not clear: %v: %+v", err, cleared.Replication.Sync)
	}
	if v := metricValue(); v != "0" {
		t.Errorf("%s = %q, want 0", metric, v)
	}
}
