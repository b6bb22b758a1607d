package wal

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchDir returns a fresh directory for a benchmark log: under
// $TANDEM_WAL_BENCH_DIR if set (to measure a given disk), else b.TempDir().
func benchDir(b *testing.B) string {
	root := os.Getenv("TANDEM_WAL_BENCH_DIR")
	if root == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(root, "walbench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// BenchmarkAppendDurable measures appended payload throughput (MB/s) with
// fsync on: each writer appends a record and waits for it to be durable.
// It also reports fsyncs per record (group commit sharing).
func BenchmarkAppendDurable(b *testing.B) {
	for _, size := range []int{4 << 10, 3 << 20} {
		for _, writers := range []int{1, 2} {
			b.Run(fmt.Sprintf("size=%dKiB/writers=%d", size>>10, writers), func(b *testing.B) {
				benchAppendDurable(b, size, writers)
			})
		}
	}
}

func benchAppendDurable(b *testing.B, size, writers int) {
	var fsyncs atomic.Int64
	o := DefaultOptions(benchDir(b))
	o.Logger = quietLogger
	o.OnFsync = func(time.Duration) { fsyncs.Add(1) }
	l, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	payloads := make([][]byte, writers)
	rng := rand.New(rand.NewSource(1))
	for i := range payloads {
		payloads[i] = make([]byte, size)
		rng.Read(payloads[i])
	}
	var next atomic.Int64 // ops handed out
	var wg sync.WaitGroup
	b.SetBytes(int64(size))
	b.ResetTimer()
	base := fsyncs.Load()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for next.Add(1) <= int64(b.N) {
				lsn, err := l.Append(1, 1, payloads[w])
				if err == nil {
					err = l.WaitDurable(ctx, lsn)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(fsyncs.Load()-base)/float64(b.N), "fsyncs/op")
}

// BenchmarkIterate measures reading the log back (replay / replication).
func BenchmarkIterate(b *testing.B) {
	for _, size := range []int{4 << 10, 3 << 20} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			o := DefaultOptions(benchDir(b))
			o.Logger = quietLogger
			l, err := Open(o)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			p := make([]byte, size)
			n := max(1, (64<<20)/size)
			for range n {
				if _, err := l.Append(1, 1, p); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(n * size))
			b.ResetTimer()
			for range b.N {
				if err := l.Iterate(1, func(Record) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
