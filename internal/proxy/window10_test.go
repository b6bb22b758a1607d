//go:build failpoints

package proxy

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/api/milvus"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/failpoint"
)

// Window 10 (HA safety issue, hardening item 10): the proxy re-sent a
// non-idempotent write after an ambiguous outcome (the node applied it but
// the answer was lost). Between the two attempts another client wrote the
// same key, and the retry destroyed that write: a retried delete removed
// the other client's row, a retried upsert overwrote the newer value (a
// register read 1, 2, then 1 again). The proxy now sends every write with
// a request id and the node answers a known id with the original result
// without applying anything.

// realNode serves a real engine through the Milvus API on loopback.
type realNode struct {
	addr string
	eng  *engine.Engine
}

func startRealNode(t *testing.T) *realNode {
	t.Helper()
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := milvus.NewServer(eng, milvus.Options{Logger: quietLogger(), ServerVersion: "test"})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		<-done
		eng.Close()
	})
	return &realNode{addr: lis.Addr().String(), eng: eng}
}

func sdkDial(t *testing.T, addr string) *milvusclient.Client {
	t.Helper()
	c, err := milvusclient.New(ctxT(t, 30*time.Second), &milvusclient.ClientConfig{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// window10Setup starts a real node led by the test, a proxy in front of
// it, and a collection "reg" (pk id, int64 val, 2-dim vector) loaded and
// holding row id=1 val=1. It returns a client of the proxy and one of the
// node directly (the "other client").
func window10Setup(t *testing.T) (viaProxy, direct *milvusclient.Client) {
	t.Helper()
	n := startRealNode(t)
	name, g := testGroup(t)
	lead(t, g, "a", n.addr)
	p := startProxy(t, name, nil)
	awaitActive(t, p, "a")
	direct = sdkDial(t, n.addr)
	ctx := ctxT(t, 60*time.Second)
	schema := entity.NewSchema().
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("val").WithDataType(entity.FieldTypeInt64)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(2))
	if err := direct.CreateCollection(ctx, milvusclient.NewCreateCollectionOption("reg", schema)); err != nil {
		t.Fatal(err)
	}
	task, err := direct.CreateIndex(ctx, milvusclient.NewCreateIndexOption("reg", "vec", index.NewFlatIndex(entity.L2)))
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Await(ctx); err != nil {
		t.Fatal(err)
	}
	lt, err := direct.LoadCollection(ctx, milvusclient.NewLoadCollectionOption("reg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := lt.Await(ctx); err != nil {
		t.Fatal(err)
	}
	upsertVal(t, direct, 1, 1)
	return sdkDial(t, p.Addr()), direct
}

func regRow(id, val int64) milvusclient.UpsertOption {
	return milvusclient.NewColumnBasedInsertOption("reg",
		column.NewColumnInt64("id", []int64{id}),
		column.NewColumnInt64("val", []int64{val}),
		column.NewColumnFloatVector("vec", 2, [][]float32{{float32(val), 1}}))
}

func upsertVal(t *testing.T, c *milvusclient.Client, id, val int64) {
	t.Helper()
	if _, err := c.Upsert(ctxT(t, 30*time.Second), regRow(id, val)); err != nil {
		t.Fatalf("upsert id=%d val=%d: %v", id, val, err)
	}
}

// readVal returns the val of row id (strong consistency), or -1 if absent.
func readVal(t *testing.T, c *milvusclient.Client, id int64) int64 {
	t.Helper()
	rs, err := c.Query(ctxT(t, 30*time.Second), milvusclient.NewQueryOption("reg").
		WithFilter("id == "+strconv.FormatInt(id, 10)).WithOutputFields("val").WithConsistencyLevel(entity.ClStrong))
	if err != nil {
		t.Fatalf("query id=%d: %v", id, err)
	}
	col := rs.GetColumn("val")
	if col == nil || col.Len() == 0 {
		return -1
	}
	v, err := col.GetAsInt64(0)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// loseAnswerThen arms the proxy to drop the node's answer to the next
// write and to pause before retrying it; it runs write in the background,
// then, once the proxy holds the retry, runs between (the other client's
// write), releases the retry and returns write's error.
func loseAnswerThen(t *testing.T, write func() error, between func()) error {
	t.Helper()
	if err := failpoint.Enable("proxy/drop-reply", "1*error"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { failpoint.Disable("proxy/drop-reply") })
	// Not "1*pause": a counted point disarms itself as it fires, and then
	// Disable cannot resume the paused goroutine.
	if err := failpoint.Enable("proxy/before-retry", "pause"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { failpoint.Disable("proxy/before-retry") })
	hits := failpoint.Hits("proxy/before-retry")
	errc := make(chan error, 1)
	go func() { errc <- write() }()
	if err := failpoint.WaitHit(ctxT(t, 30*time.Second), "proxy/before-retry", hits+1); err != nil {
		t.Fatalf("the proxy never retried the write: %v", err)
	}
	between()
	failpoint.Disable("proxy/before-retry")
	select {
	case err := <-errc:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("the write did not return")
	}
	return nil
}

func TestWindow10RetriedDeleteDeduplicated(t *testing.T) {
	viaProxy, direct := window10Setup(t)
	var res milvusclient.DeleteResult
	err := loseAnswerThen(t, func() error {
		var err error
		res, err = viaProxy.Delete(ctxT(t, 30*time.Second), milvusclient.NewDeleteOption("reg").WithInt64IDs("id", []int64{1}))
		return err
	}, func() {
		// The delete was applied; another client writes the key anew.
		if v := readVal(t, direct, 1); v != -1 {
			t.Fatalf("before the retry: id 1 has val %d, want deleted", v)
		}
		upsertVal(t, direct, 1, 2)
	})
	if err != nil {
		t.Fatalf("delete through the proxy: %v", err)
	}
	if res.DeleteCount != 1 {
		t.Errorf("delete answered %d rows deleted, want the original answer 1", res.DeleteCount)
	}
	if v := readVal(t, direct, 1); v != 2 {
		t.Fatalf("after the retried delete id 1 has val %d, want 2 (the other client's row); -1 = the retry deleted it again", v)
	}
}

func TestWindow10RetriedUpsertDeduplicated(t *testing.T) {
	viaProxy, direct := window10Setup(t)
	err := loseAnswerThen(t, func() error {
		_, err := viaProxy.Upsert(ctxT(t, 30*time.Second), regRow(1, 10))
		return err
	}, func() {
		if v := readVal(t, direct, 1); v != 10 {
			t.Fatalf("before the retry: id 1 has val %d, want 10", v)
		}
		upsertVal(t, direct, 1, 20)
	})
	if err != nil {
		t.Fatalf("upsert through the proxy: %v", err)
	}
	if v := readVal(t, direct, 1); v != 20 {
		t.Fatalf("after the retried upsert id 1 has val %d, want 20 (the newer value); 10 = the retry overwrote it", v)
	}
}

// TestRequestIDHeaderMatchesNode: the proxy sets the metadata key the node
// reads.
func TestRequestIDHeaderMatchesNode(t *testing.T) {
	if requestIDHeader != milvus.RequestIDHeader {
		t.Fatalf("proxy sends %q, node reads %q", requestIDHeader, milvus.RequestIDHeader)
	}
	if err := engine.ValidateRequestID(newRequestID()); err != nil {
		t.Fatal(err)
	}
}
