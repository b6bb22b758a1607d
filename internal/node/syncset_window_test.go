//go:build failpoints

package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/grpc"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/failpoint"
	"github.com/tandem-db/tandem/internal/replication"
)

// syncRig is an active's engine, replication sender and sync-set manager
// against an embedded arbiter, with standbys streaming from it: the sync
// set protocol without the rest of a node.
type syncRig struct {
	t     *testing.T
	g     *arbiter.Group
	sess  *arbiter.Session
	epoch uint64
	eng   *engine.Engine
	snd   *replication.Sender
	addr  string
	set   *syncSet
	sbs   map[string]*engine.Engine
	recvs map[string]*replication.Receiver
}

func openTestEngine(t *testing.T, dir string) *engine.Engine {
	t.Helper()
	e, err := engine.Open(engine.Config{DataDir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// newSyncRig starts the arbiter, wins the leader key as "a" and serves
// a's log; put (nil: the node's putSyncSet) writes the sync set.
func newSyncRig(t *testing.T, ctx context.Context,
	put func(ctx context.Context, g *arbiter.Group, s *arbiter.Session, epoch uint64, nodes []string) error) *syncRig {
	t.Helper()
	eps := startArbiter(t)
	cli, err := arbiter.Dial(ctx, eps, arbiter.DialOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	r := &syncRig{t: t, g: cli.Group("g1"), sbs: map[string]*engine.Engine{}, recvs: map[string]*replication.Receiver{}}
	if r.sess, err = r.g.NewSession(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	won, epoch, err := r.g.Campaign(ctx, r.sess, arbiter.Leader{NodeID: "a"}, arbiter.Candidate{})
	if err != nil || !won {
		t.Fatalf("campaign: won %v, %v", won, err)
	}
	r.epoch = epoch
	r.eng = openTestEngine(t, filepath.Join(t.TempDir(), "a"))
	r.snd = replication.NewSender(r.eng, replication.SenderOptions{Group: "g1", Logger: testLogger(t),
		Epoch: func() uint64 { return epoch }})
	t.Cleanup(r.snd.Close)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	r.snd.Register(gs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	r.addr = lis.Addr().String()
	if put == nil {
		put = putSyncSet
	}
	r.set = newSyncSet("a", 1, SyncStrict, 300*time.Millisecond, time.Minute, r.snd, r.eng, testLogger(t),
		func(ctx context.Context, epoch uint64, nodes []string) error {
			return put(ctx, r.g, r.sess, epoch, nodes)
		})
	r.eng.SetAckHook(r.set.ack)
	t.Cleanup(r.set.deactivate)
	return r
}

// follow starts standby id streaming from the active.
func (r *syncRig) follow(id string) {
	e := openTestEngine(r.t, filepath.Join(r.t.TempDir(), id))
	rc := replication.NewReceiver(e, replication.ReceiverOptions{Group: "g1", NodeID: id, Logger: testLogger(r.t)})
	r.t.Cleanup(rc.Stop)
	rc.Follow(context.Background(), r.addr, r.epoch)
	r.sbs[id], r.recvs[id] = e, rc
}

// awaitSet waits until the manager's status satisfies cond.
func (r *syncRig) awaitSet(ctx context.Context, what string, cond func(*SyncStatus) bool) {
	r.t.Helper()
	for {
		r.set.mu.Lock()
		ch := r.set.changed
		r.set.mu.Unlock()
		if st := r.set.status(); cond(st) {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			r.t.Fatalf("sync set never %s: %+v", what, r.set.status())
		}
	}
}

// awaitGone waits until the sender no longer lists standby id.
func (r *syncRig) awaitGone(ctx context.Context, id string) {
	r.t.Helper()
	for {
		if _, ok := r.snd.Peer(id); !ok {
			return
		}
		select {
		case <-time.After(time.Millisecond): // Sender exposes no change channel
		case <-ctx.Done():
			r.t.Fatalf("standby %s still connected", id)
		}
	}
}

var collSeq atomic.Int64

// write commits one write (a new collection) on the active and returns
// its LSN once acknowledged.
func (r *syncRig) write(ctx context.Context) (uint64, error) {
	name := "c" + strconv.FormatInt(collSeq.Add(1), 10)
	s := &schemapb.CollectionSchema{Name: name, Fields: []*schemapb.FieldSchema{
		{Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: "4"}}},
	}}
	err := r.eng.CreateCollection(ctx, "", s, engine.CreateCollectionOptions{})
	return r.eng.LastLSN(), err
}

// checkAcked fails the test if the arbiter's S lists a standby lacking
// the acknowledged write at lsn: that standby could win an election and
// lose the write.
func (r *syncRig) checkAcked(ctx context.Context, lsn uint64) {
	r.t.Helper()
	set, err := r.g.SyncSet(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, id := range set.Nodes {
		if e := r.sbs[id]; e != nil && e.DurableLSN() < lsn {
			r.t.Fatalf("write at lsn %d acknowledged, but the arbiter's sync set %v lists %s, which has lsn %d durable: "+
				"%s could be promoted without it (local view %+v)", lsn, set.Nodes, id, e.DurableLSN(), id, r.set.status())
		}
	}
}

// TestWindow1AmbiguousSyncSetJoin: the write of S ∪ {x} for x's join
// commits in the arbiter but reports an error; then x disconnects. The
// active must keep waiting for x until a write of S without x succeeds:
// no write may be acknowledged without x while the arbiter's S lists x.
func TestWindow1AmbiguousSyncSetJoin(t *testing.T) {
	ctx := ctxT(t, 60*time.Second)
	// Puts after the ambiguous one fail without writing (the arbiter is
	// unreachable) until released.
	var down atomic.Bool
	downCalls := make(chan struct{}, 1000)
	put := func(ctx context.Context, g *arbiter.Group, s *arbiter.Session, epoch uint64, nodes []string) error {
		if down.Load() {
			select {
			case downCalls <- struct{}{}:
			default:
			}
			return fmt.Errorf("test: arbiter unreachable: %w", context.DeadlineExceeded)
		}
		err := putSyncSet(ctx, g, s, epoch, nodes)
		if errors.Is(err, failpoint.ErrInjected) {
			down.Store(true)
		}
		return err
	}
	r := newSyncRig(t, ctx, put)
	r.follow("y")
	r.set.activate(r.epoch)
	r.awaitSet(ctx, "lists y", func(st *SyncStatus) bool { return slices.Equal(st.Standbys, []string{"y"}) })
	lsn, err := r.write(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.checkAcked(ctx, lsn)

	// x joins; the write of {a, x, y} commits but the active gets an error.
	hits := failpoint.Hits("syncset/put-after-commit") // counted since start-up
	if err := failpoint.Enable("syncset/put-after-commit", "1*error(timeout after commit)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { failpoint.Disable("syncset/put-after-commit") })
	r.follow("x")
	if err := failpoint.WaitHit(ctx, "syncset/put-after-commit", hits+1); err != nil {
		t.Fatal(err)
	}
	if set, err := r.g.SyncSet(ctx); err != nil || !slices.Equal(set.Nodes, []string{"a", "x", "y"}) {
		t.Fatalf("arbiter sync set %+v (%v), want the ambiguous write's [a x y]", set, err)
	}
	// x disconnects; the active notices and gives the join up.
	r.recvs["x"].Stop()
	r.awaitGone(ctx, "x")
	r.awaitSet(ctx, "gives x's join up", func(st *SyncStatus) bool { return !slices.Contains(st.Joining, "x") })

	// A write now must not be acknowledged while the arbiter may list x.
	for len(downCalls) > 0 {
		<-downCalls
	}
	type res struct {
		lsn uint64
		err error
	}
	done := make(chan res, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { l, err := r.write(wctx); done <- res{l, err} }()
	settling := make(chan struct{})
	go func() {
		// The manager retries the settling write (backing off) meanwhile.
		for range 3 {
			select {
			case <-downCalls:
			case <-ctx.Done():
			}
		}
		close(settling)
	}()
	select {
	case w := <-done:
		if w.err == nil {
			r.checkAcked(ctx, w.lsn)
		}
		t.Fatalf("write returned while S was unknown: lsn %d, %v (status %+v)", w.lsn, w.err, r.set.status())
	case <-settling:
	}
	if st := r.set.status(); !slices.Equal(st.Uncertain, []string{"x"}) {
		t.Fatalf("status %+v: want x uncertain", st)
	}

	// The arbiter is back: S is settled without x, and the write is
	// acknowledged.
	down.Store(false)
	w := <-done
	if w.err != nil {
		t.Fatalf("write after the settling write: %v", w.err)
	}
	r.checkAcked(ctx, w.lsn)
	if set, err := r.g.SyncSet(ctx); err != nil || !slices.Equal(set.Nodes, []string{"a", "y"}) {
		t.Fatalf("arbiter sync set %+v (%v), want [a y]", set, err)
	}
	if st := r.set.status(); len(st.Uncertain) != 0 || !slices.Equal(st.Standbys, []string{"y"}) {
		t.Fatalf("status %+v", st)
	}
}

// TestSyncSetActivationGuard: a manager replaced by a newer activation at
// the same epoch (activate, deactivate, activate) must not apply the
// outcome of a write it was making: here its stale first write (S = {a},
// no standby) would overwrite the new manager's view of S = {a, x, y},
// and acknowledgements would stop waiting for x and y while the arbiter
// lists them. (k = 0: nothing else holds acknowledgements back.)
func TestSyncSetActivationGuard(t *testing.T) {
	ctx := ctxT(t, 60*time.Second)
	first := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int64
	var hold atomic.Bool
	unhold := make(chan struct{})
	put := func(ctx context.Context, g *arbiter.Group, s *arbiter.Session, epoch uint64, nodes []string) error {
		if hold.Load() {
			<-unhold // later writes wait until the check below is done
		}
		err := putSyncSet(ctx, g, s, epoch, nodes)
		if calls.Add(1) == 1 {
			close(first)
			<-release // the old manager stalls after its write committed
		}
		return err
	}
	r := newSyncRig(t, ctx, put)
	r.set.k = 0
	r.set.activate(r.epoch)
	<-first
	if set, err := r.g.SyncSet(ctx); err != nil || !slices.Equal(set.Nodes, []string{"a"}) {
		t.Fatalf("arbiter sync set %+v (%v), want [a]", set, err)
	}
	r.set.mu.Lock()
	oldDone := r.set.done
	r.set.mu.Unlock()
	r.set.deactivate()
	r.set.activate(r.epoch) // writes reopened at the same epoch
	r.follow("x")
	r.follow("y")
	r.awaitSet(ctx, "lists x and y", func(st *SyncStatus) bool { return slices.Equal(st.Standbys, []string{"x", "y"}) })
	set, err := r.g.SyncSet(ctx)
	if err != nil || !slices.Equal(set.Nodes, []string{"a", "x", "y"}) {
		t.Fatalf("arbiter sync set %+v (%v), want [a x y]", set, err)
	}
	hold.Store(true)
	close(release)
	<-oldDone // the old manager has recorded (or not) its write's outcome
	st := r.set.status()
	waited := append(append(append([]string{"a"}, st.Standbys...), st.Joining...), st.Uncertain...)
	for _, id := range set.Nodes {
		if !slices.Contains(waited, id) {
			t.Fatalf("the arbiter's sync set lists %s but acknowledgements do not wait for it (status %+v): "+
				"the replaced manager applied its stale write", id, st)
		}
	}
	close(unhold)
	lsn, err := r.write(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.checkAcked(ctx, lsn)
}
