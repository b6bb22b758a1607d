package cdc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/grpc"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/testutil"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openEngine(t testing.TB) *engine.Engine {
	e, err := engine.Open(engine.Config{DataDir: t.TempDir(), Logger: quiet, Sync: engine.SyncInterval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func insertRows(t testing.TB, e *engine.Engine, first, n, dim int) {
	r := rand.New(rand.NewSource(int64(first)))
	ids := make([]int64, n)
	vecs := make([]float32, n*dim)
	for i := range ids {
		ids[i] = int64(first + i)
	}
	for i := range vecs {
		vecs[i] = r.Float32()
	}
	_, err := e.Insert(context.Background(), "", "c", "", []*schemapb.FieldData{
		{FieldName: "id", Type: schemapb.DataType_Int64, Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}}},
		{FieldName: "vec", Type: schemapb.DataType_FloatVector, Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: int64(dim), Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: vecs}}}}},
	}, n)
	if err != nil {
		t.Fatal(err)
	}
}

// TestStreamSnapshotThenLive: a subscriber gets a snapshot, then live
// records, applies them through the WAL and converges (data digest);
// reconnecting resumes after its position. CDC_SNAPSHOT_ROWS sets the
// preloaded rows (the catch-up figure).
func TestStreamSnapshotThenLive(t *testing.T) {
	const dim = 128
	rows := 5000
	if v, err := strconv.Atoi(os.Getenv("CDC_SNAPSHOT_ROWS")); err == nil {
		rows = v
	}
	src, dst := openEngine(t), openEngine(t)
	ctx := context.Background()
	schema := &schemapb.CollectionSchema{Name: "c", Fields: []*schemapb.FieldSchema{
		{Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: strconv.Itoa(dim)}}},
	}}
	if err := src.CreateCollection(ctx, "", schema, engine.CreateCollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < rows; i += 5000 {
		insertRows(t, src, i, min(5000, rows-i), dim)
	}
	srv := NewServer(src, ServerOptions{Deployment: "L", Group: "g", NodeID: "n1", Heartbeat: 50 * time.Millisecond, Logger: quiet})
	gs := grpc.NewServer()
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	defer gs.Stop()

	run := func() (*Subscriber, context.CancelFunc) {
		sub := NewSubscriber(SubscriberOptions{Target: &StaticTarget{Addrs: []string{lis.Addr().String()}}, Group: "g", Name: "alt",
			Applier: &EngineApplier{Eng: dst}, Heartbeat: 50 * time.Millisecond, Logger: quiet})
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); sub.Run(sctx) }()
		return sub, func() { cancel(); <-done }
	}
	waitPos := func(sub *Subscriber, lsn uint64) {
		t.Helper()
		testutil.Eventually(t, 60*time.Second, fmt.Sprintf("upstream position %d", lsn), func() bool {
			return dst.UpstreamPosition().LSN >= lsn
		})
	}
	digests := func() {
		t.Helper()
		if err := src.WaitDurable(ctx, src.LastLSN()); err != nil {
			t.Fatal(err)
		}
		_, a, _ := src.DataDigest()
		_, b, _ := dst.DataDigest()
		if a != b {
			t.Fatalf("data digests differ")
		}
	}
	start := time.Now()
	sub, stop := run()
	waitPos(sub, src.LastLSN())
	d := time.Since(start)
	mb := float64(rows*(dim*4+8)) / 1e6
	t.Logf("snapshot catch-up: %d rows (%.1f MB raw) in %v: %.0f rows/s, %.1f MB/s", rows, mb, d, float64(rows)/d.Seconds(), mb/d.Seconds())
	digests()
	// Live records, then a reconnect that resumes after the position.
	insertRows(t, src, rows, 100, dim)
	waitPos(sub, src.LastLSN())
	stop()
	if _, err := src.Delete(ctx, "", "c", "", "id < 50"); err != nil {
		t.Fatal(err)
	}
	insertRows(t, src, rows+100, 100, dim)
	sub, stop = run()
	waitPos(sub, src.LastLSN())
	st := sub.Status()
	if st.Snapshots != 0 || st.Connects != 1 {
		t.Fatalf("reconnect did not resume incrementally: %+v", st)
	}
	digests()
	// A stall (no heartbeats) shows rising lag: once nothing was heard for
	// more than two heartbeats (100 ms) the lag is the time since the last
	// message, and it keeps rising.
	gs.Stop()
	stalled := time.Now()
	var lag float64
	testutil.Eventually(t, 30*time.Second, "lag >= 0.2s after the server stopped", func() bool {
		lag = sub.Status().LagSeconds
		return lag >= 0.2
	})
	testutil.Eventually(t, 30*time.Second, "lag rising while stalled", func() bool {
		return sub.Status().LagSeconds > lag
	})
	// Nothing was heard since the stop, so the lag covers the whole stall
	// (stall measured before Status, so no slack is needed).
	stall := time.Since(stalled)
	if st := sub.Status(); st.LastContact.Before(stalled) && st.LagSeconds < stall.Seconds() {
		t.Fatalf("lag %.3fs is less than the stall %v; status %+v", st.LagSeconds, stall, st)
	}
	stop()
	if subs := srv.Subscribers(); len(subs) != 1 || subs[0].Acked.LSN != src.LastLSN() {
		t.Fatalf("server's view: %+v", subs)
	}
	_ = fmt.Sprint()
}
