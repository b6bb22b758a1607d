package replication

import (
	"context"
	"math/rand"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/engine"
)

// BenchmarkStream measures inserts on an active streamed to its standbys
// over loopback gRPC (every node in this process, WAL fsync on): one op is
// one insert of rows x 768-dim vectors (1000 rows: one 3 MB record). The
// "none" cases have no standby (the single-node baseline); "async" waits
// for the standbys only at the end (throughput, catch-up included);
// "sync" waits after every insert until both standbys have it durable (the
// engine's AckHook, as sync mode does). cpu-ms/op is the process's CPU
// time (all nodes) per insert.
func BenchmarkStream(b *testing.B) {
	for _, bc := range []struct {
		name     string
		standbys int
		sync     bool
		rows     int
		writers  int
	}{
		{"none/3MB", 0, false, 1000, 1},
		{"async/3MB", 2, false, 1000, 1},
		{"sync/3MB", 2, true, 1000, 1},
		{"sync/3MB/2writers", 2, true, 1000, 2},
		{"none/12KB", 0, false, 4, 1},
		{"async/12KB", 2, false, 4, 1},
		{"sync/12KB/2writers", 2, true, 4, 2},
	} {
		b.Run(bc.name, func(b *testing.B) { benchStream(b, bc.standbys, bc.sync, bc.rows, bc.writers) })
	}
}

func benchStream(b *testing.B, standbys int, sync bool, nrows, writers int) {
	ctx := context.Background()
	const bdim = 768
	active, err := engine.Open(engine.Config{DataDir: b.TempDir(), Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	defer active.Close()
	s := &schemapb.CollectionSchema{Name: "c", Fields: []*schemapb.FieldSchema{
		{Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: strconv.Itoa(bdim)}}},
	}}
	if err := active.CreateCollection(ctx, "", s, engine.CreateCollectionOptions{}); err != nil {
		b.Fatal(err)
	}
	snd := NewSender(active, SenderOptions{Logger: quietLog})
	defer snd.Close()
	srv := startServer(b, snd, "")
	var engines []*engine.Engine
	for i := range standbys {
		e, err := engine.Open(engine.Config{DataDir: b.TempDir(), Logger: quietLog})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		rc := NewReceiver(e, ReceiverOptions{NodeID: "s" + strconv.Itoa(i), Logger: quietLog})
		rc.Follow(ctx, srv.addr, 0)
		defer rc.Stop()
		engines = append(engines, e)
	}
	waitAll := func(lsn uint64) {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := snd.WaitDurableCount(wctx, standbys, lsn); err != nil {
			b.Fatal(err)
		}
	}
	waitAll(active.LastLSN())
	if sync {
		active.SetAckHook(func(ctx context.Context, lsn uint64) error { return snd.WaitDurableCount(ctx, standbys, lsn) })
	}
	r := rand.New(rand.NewSource(1))
	vecs := make([]float32, nrows*bdim)
	for i := range vecs {
		vecs[i] = r.Float32()
	}
	insert := func(w, op int) {
		ids := make([]int64, nrows)
		for i := range ids {
			ids[i] = int64((op*writers+w)*nrows + i)
		}
		fields := []*schemapb.FieldData{
			{Type: schemapb.DataType_Int64, FieldName: "id", Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}}},
			{Type: schemapb.DataType_FloatVector, FieldName: "vec", Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: bdim, Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: vecs}}}}},
		}
		if _, err := active.Insert(ctx, "", "c", "", fields, nrows); err != nil {
			b.Error(err)
		}
	}
	// Warm up (one insert per writer) untimed.
	for w := range writers {
		insert(w, 0)
	}
	waitAll(active.LastLSN())
	b.SetBytes(int64(nrows * bdim * 4))
	cpu0 := cpuTime()
	b.ResetTimer()
	done := make(chan struct{})
	for w := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			for op := 1 + w; op <= b.N; op += writers {
				insert(w, op)
			}
		}()
	}
	for range writers {
		<-done
	}
	waitAll(active.LastLSN())
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
