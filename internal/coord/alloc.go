package coord

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// LogicalBits is the width of a hybrid timestamp's logical counter
// (Milvus: physical milliseconds << 18 | logical).
const LogicalBits = 18

// Allocator hands out ids and timestamps for the root role's active. Its
// reservations in etcd are fenced writes, so an allocator whose fence was
// lost cannot reserve more; what it had reserved before is never handed out
// by a later active (the later one starts above the stored marks).
type Allocator struct {
	cli      *clientv3.Client
	cluster  string
	fence    Fence
	batch    int64
	tsWindow time.Duration
	now      func() time.Time

	mu       sync.Mutex
	next     int64 // next id to hand out; guarded by mu
	end      int64 // last id reserved (next > end: none left); guarded by mu
	phys     int64 // physical ms of the last timestamp; guarded by mu
	logical  int64 // logical counter of the last timestamp; guarded by mu
	tsLimit  int64 // physical ms reserved up to (inclusive); guarded by mu
	tsLoaded bool  // phys has been raised above the stored mark; guarded by mu
}

// NewAllocator returns an allocator writing under fence (the root role's).
func NewAllocator(cli *clientv3.Client, cluster string, fence Fence, batch int64, tsWindow time.Duration) *Allocator {
	return &Allocator{cli: cli, cluster: cluster, fence: fence, batch: batch, tsWindow: tsWindow, now: time.Now, next: 1, end: 0}
}

// IDs reserves n consecutive ids and returns the first. n must be >= 1.
func (a *Allocator) IDs(ctx context.Context, n int64) (int64, error) {
	if n < 1 {
		return 0, fmt.Errorf("coord: allocate %d ids: count must be >= 1", n)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.end-a.next+1 < n {
		// Not enough left: skip the rest, reserve a fresh range.
		cur, rev, err := readInt(ctx, a.cli, idKey(a.cluster))
		if err != nil {
			return 0, err
		}
		size := max(a.batch, n)
		newEnd := cur + size
		ok, err := a.fence.Txn(ctx, a.cli, []clientv3.Cmp{modRevIs(idKey(a.cluster), rev)},
			clientv3.OpPut(idKey(a.cluster), strconv.FormatInt(newEnd, 10)))
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("coord: id high-water mark changed under the root's active (another writer?)")
		}
		a.next, a.end = cur+1, newEnd
	}
	first := a.next
	a.next += n
	return first, nil
}

// Timestamp returns a hybrid timestamp greater than every one handed out
// before by this or an earlier active.
func (a *Allocator) Timestamp(ctx context.Context) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now().UnixMilli()
	phys, logical := a.phys, a.logical+1
	if now > phys {
		phys, logical = now, 0
	}
	if logical >= 1<<LogicalBits {
		phys, logical = phys+1, 0
	}
	if !a.tsLoaded || phys > a.tsLimit {
		stored, rev, err := readInt(ctx, a.cli, tsKey(a.cluster))
		if err != nil {
			return 0, err
		}
		if phys <= stored {
			phys, logical = stored+1, 0
		}
		limit := phys + a.tsWindow.Milliseconds()
		ok, err := a.fence.Txn(ctx, a.cli, []clientv3.Cmp{modRevIs(tsKey(a.cluster), rev)},
			clientv3.OpPut(tsKey(a.cluster), strconv.FormatInt(limit, 10)))
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("coord: timestamp mark changed under the root's active (another writer?)")
		}
		a.tsLimit, a.tsLoaded = limit, true
	}
	a.phys, a.logical = phys, logical
	return uint64(phys)<<LogicalBits | uint64(logical), nil
}

// readInt reads a decimal key (0 when absent) and its mod revision (0 when
// absent).
func readInt(ctx context.Context, cli *clientv3.Client, key string) (int64, int64, error) {
	r, err := cli.Get(ctx, key)
	if err != nil {
		return 0, 0, fmt.Errorf("coord: read %s: %w", key, err)
	}
	if len(r.Kvs) == 0 {
		return 0, 0, nil
	}
	v, err := strconv.ParseInt(string(r.Kvs[0].Value), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("coord: %s holds %q: %w", key, r.Kvs[0].Value, err)
	}
	return v, r.Kvs[0].ModRevision, nil
}

// modRevIs compares key's mod revision (0: the key is absent).
func modRevIs(key string, rev int64) clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(key), "=", rev)
}
