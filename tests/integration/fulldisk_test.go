//go:build linux

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/testutil"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it at cleanup (registered before anything that uses it, so the processes
// using it are killed first; a busy mount is detached). It skips the test
// where mounting is impossible (not root, no CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small-fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a %d-byte tmpfs on %s (%v): this test needs root with mount permission (CI runs as root)", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
	return dir
}

// growTmpfs remounts the tmpfs at dir with a new size (the operator frees
// space).
func growTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("remount %s with size %d: %v", dir, size, err)
	}
}

const diskDim = 256

// diskWriter inserts batches of rows with large vectors through the SDK
// from several goroutines, moving to the next node address when a call
// fails (as a client following the active would), and records the ids of
// every acknowledged batch.
type diskWriter struct {
	coll  string
	addrs []string
	stop  chan struct{}
	wg    sync.WaitGroup

	mu        sync.Mutex
	acked     []int64
	ackedAt   []time.Time // when each batch was acknowledged
	ackedBy   []string    // which address acknowledged it
	lastErr   error
	refusals  int
	errSample []string
}

func startDiskWriter(t *testing.T, coll string, addrs []string, writers, rows int) *diskWriter {
	w := &diskWriter{coll: coll, addrs: addrs, stop: make(chan struct{})}
	clients := map[string]*milvusclient.Client{}
	for _, a := range addrs {
		clients[a] = dialClient(t, a)
	}
	for g := range writers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			r := rand.New(rand.NewPCG(uint64(g)+1, 42))
			next := int64(g) * 1_000_000_000
			at := 0
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				ids := make([]int64, rows)
				vecs := make([][]float32, rows)
				for i := range ids {
					ids[i] = next + int64(i)
					v := make([]float32, diskDim)
					for j := range v {
						v[j] = r.Float32()
					}
					vecs[i] = v
				}
				next += int64(rows)
				addr := addrs[at%len(addrs)]
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				res, err := clients[addr].Insert(ctx, milvusclient.NewColumnBasedInsertOption(coll).
					WithInt64Column("id", ids).WithFloatVectorColumn("vec", diskDim, vecs))
				cancel()
				if err == nil && res.InsertCount != int64(rows) {
					err = fmt.Errorf("insert count %d, want %d", res.InsertCount, rows)
				}
				w.mu.Lock()
				if err == nil {
					w.acked = append(w.acked, ids...)
					w.ackedAt = append(w.ackedAt, time.Now())
					w.ackedBy = append(w.ackedBy, addr)
				} else {
					w.lastErr = err
					w.refusals++
					if len(w.errSample) < 20 {
						w.errSample = append(w.errSample, err.Error())
					}
				}
				w.mu.Unlock()
				if err != nil {
					at++ // try the next node
					select {
					case <-w.stop:
						return
					case <-time.After(50 * time.Millisecond): // retry pacing
					}
				}
			}
		}()
	}
	return w
}

func (w *diskWriter) halt() []int64 {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int64(nil), w.acked...)
}

// ackedSince counts batches acknowledged by addr after t0.
func (w *diskWriter) ackedSince(addr string, t0 time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for i, at := range w.ackedAt {
		if w.ackedBy[i] == addr && at.After(t0) {
			n++
		}
	}
	return n
}

func nodeHTTPStatus(addr string) (map[string]any, error) {
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

var engineFailedLine = regexp.MustCompile(`storage engine failed: resigning`)

// TestFullDiskActiveResigns: the active's data dir is on a 64 MiB tmpfs
// that fills up under SDK write load while its standbys have room (and its
// low-disk guard is off, so the WAL really hits ENOSPC): the active must
// resign (leader key released, member shows broken), a standby takes over,
// every acknowledged write is on the new active, and writes go on there.
// With space freed and a restart, the broken node rejoins as a standby.
func TestFullDiskActiveResigns(t *testing.T) {
	small := mountTmpfs(t, 64<<20)
	ac := startArbiters(t, 1)

	// n1 first, on the small file system, so that it is the active.
	n1 := startHANode(t, "n1", filepath.Join(small, "n1"), ac.Endpoints, "--min-free-disk", "off")
	st := awaitStatus(t, ac.Endpoints, 30*time.Second, "n1 active", func(st *statusJSON) bool { return oneActive(1)(st) && st.Leader == "n1" })
	epoch1 := st.Epoch
	n2 := startHANode(t, "n2", filepath.Join(t.TempDir(), "n2"), ac.Endpoints)
	n3 := startHANode(t, "n3", filepath.Join(t.TempDir(), "n3"), ac.Endpoints)
	nodes := []*haNode{n1, n2, n3}
	awaitStatus(t, ac.Endpoints, 30*time.Second, "both standbys in the sync set", func(st *statusJSON) bool {
		in := 0
		for _, m := range st.Members {
			if m.NodeID != "n1" && m.Role == "standby" && m.InSync {
				in++
			}
		}
		return st.Leader == "n1" && in == 2
	})

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c1 := dialClient(t, n1.Addr)
	schema := entity.NewSchema().WithName("full").
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(diskDim))
	if err := c1.CreateCollection(ctx, milvusclient.NewCreateCollectionOption("full", schema).
		WithIndexOptions(milvusclient.NewCreateIndexOption("full", "vec", index.NewFlatIndex(entity.L2)))); err != nil {
		t.Fatal(err)
	}
	if lt, err := c1.LoadCollection(ctx, milvusclient.NewLoadCollectionOption("full")); err != nil {
		t.Fatal(err)
	} else if err := lt.Await(ctx); err != nil {
		t.Fatal(err)
	}
	mark := n1.NumLines()
	w := startDiskWriter(t, "full", []string{n1.Addr, n2.Addr, n3.Addr}, 2, 256)
	defer func() {
		select {
		case <-w.stop:
		default:
			w.halt()
		}
	}()

	// The WAL hits ENOSPC: n1 resigns and says so.
	_, _, failedAt, err := n1.WaitLine(engineFailedLine, mark, 3*time.Minute)
	if err != nil {
		t.Fatalf("n1 never resigned as broken: %v", err)
	}
	var df syscall.Statfs_t
	if err := syscall.Statfs(small, &df); err == nil {
		t.Logf("n1 broken at %v; the tmpfs has %d bytes available", failedAt.Format(time.TimeOnly), int64(df.Bavail)*df.Bsize)
	}
	st = awaitStatus(t, ac.Endpoints, 30*time.Second, "a standby active, n1 broken", func(st *statusJSON) bool {
		if !oneActive(epoch1+1)(st) || st.Leader == "n1" {
			return false
		}
		for _, m := range st.Members {
			if m.NodeID == "n1" {
				return m.Role == "broken"
			}
		}
		return false
	})
	newActive := byID(nodes, st.Leader)
	t.Logf("new active %s at epoch %d; n1's member key says broken", newActive.ID, st.Epoch)
	if m, _, at, err := newActive.WaitLine(writesOpen, 0, 10*time.Second); err == nil {
		t.Logf("%s open for writes at epoch %s, %v after n1's engine failed", newActive.ID, m[1], at.Sub(failedAt).Round(time.Millisecond))
	}

	// n1 reports why, and refuses clients naming the cause.
	ns, err := nodeHTTPStatus(n1.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	if ns["role"] != "broken" || ns["writes_open"] != false || !strings.Contains(fmt.Sprint(ns["broken"]), "no space left on device") {
		t.Fatalf("n1 /status: role %v writes_open %v broken %v; want broken, closed, ENOSPC", ns["role"], ns["writes_open"], ns["broken"])
	}
	err = c1.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("refused", 4))
	if err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("n1 create collection: %v, want a refusal naming the cause", err)
	}

	// Writes go on at the new active; then every acknowledged id is there.
	t0 := time.Now()
	testutil.Eventually(t, time.Minute, "5 batches acknowledged by the new active", func() bool { return w.ackedSince(newActive.Addr, t0) >= 5 })
	acked := w.halt()
	w.mu.Lock()
	t.Logf("%d rows acknowledged, %d refused calls (e.g. %q)", len(acked), w.refusals, w.errSample)
	w.mu.Unlock()
	checkReadable(ctx, t, dialClient(t, newActive.Addr), "full", acked)

	// Recovery: free space (grow the file system), restart n1: it
	// recovers its WAL and rejoins as a standby.
	n1.Stop()
	growTmpfs(t, small, 512<<20)
	back := startHANode(t, "n1", n1.dir, ac.Endpoints, "--min-free-disk", "off")
	awaitStatus(t, ac.Endpoints, time.Minute, "n1 back as a standby", func(st *statusJSON) bool {
		if st.Leader != newActive.ID {
			return false
		}
		for _, m := range st.Members {
			if m.NodeID == "n1" {
				return m.Role == "standby"
			}
		}
		return false
	})
	_ = back
}

// TestLowDiskRefusesWrites: with the low-disk guard on (--min-free-disk
// 16MiB on a 64 MiB tmpfs), an active under SDK write load refuses new
// writes with a clear "disk nearly full" error before its WAL can break:
// the engine stays healthy (the node stays active), reads go on, /status
// shows the disk low, and the log warned first.
func TestLowDiskRefusesWrites(t *testing.T) {
	small := mountTmpfs(t, 64<<20)
	ac := startArbiters(t, 1)
	n := startHANode(t, "n1", filepath.Join(small, "n1"), ac.Endpoints, "--min-free-disk", "16MiB", "--sync-mode", "async")
	awaitStatus(t, ac.Endpoints, 30*time.Second, "n1 active", oneActive(1))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := dialClient(t, n.Addr)
	schema := entity.NewSchema().WithName("low").
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(diskDim))
	if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption("low", schema).
		WithIndexOptions(milvusclient.NewCreateIndexOption("low", "vec", index.NewFlatIndex(entity.L2)))); err != nil {
		t.Fatal(err)
	}
	if lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption("low")); err != nil {
		t.Fatal(err)
	} else if err := lt.Await(ctx); err != nil {
		t.Fatal(err)
	}
	w := startDiskWriter(t, "low", []string{n.Addr}, 2, 256)
	testutil.Eventually(t, 2*time.Minute, "a write refused for low disk", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.lastErr != nil
	})
	acked := w.halt()
	w.mu.Lock()
	refusal := w.lastErr
	w.mu.Unlock()
	if !strings.Contains(refusal.Error(), "disk nearly full") || !strings.Contains(refusal.Error(), "--min-free-disk") {
		t.Fatalf("refusal %q, want a disk nearly full error", refusal)
	}
	t.Logf("after %d acknowledged rows: %v", len(acked), refusal)
	if _, _, _, err := n.WaitLine(regexp.MustCompile(`disk nearly full`), 0, 5*time.Second); err != nil {
		t.Fatalf("no low-disk warning in the log: %v", err)
	}
	if _, _, _, err := n.WaitLine(regexp.MustCompile(`log failed|storage engine failed`), 0, 0); err == nil {
		t.Fatal("the WAL failed although the guard should have refused first")
	}
	ns, err := nodeHTTPStatus(n.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	disk, _ := ns["disk"].(map[string]any)
	if ns["role"] != "active" || disk["low"] != true || ns["broken"] != nil {
		t.Fatalf("/status: role %v disk %v broken %v; want active, disk low, not broken", ns["role"], disk, ns["broken"])
	}
	t.Logf("/status disk: %v", disk)
	// Still serving: reads work and every acknowledged row is there.
	checkReadable(ctx, t, c, "low", acked)
	err = c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("more", 4))
	if err == nil || !strings.Contains(err.Error(), "disk nearly full") {
		t.Fatalf("create collection on a nearly full disk: %v", err)
	}
}
