package engine

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"
)

// benchEnvInt reads an integer knob of BenchmarkCompaction.
func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkCompaction: a node that took many small upserts (the issue's
// "1M small upserts", scaled down: TANDEM_BENCH_UPSERTS batches of 10
// rows over TANDEM_BENCH_KEYS keys, a flush every 200 batches as a busy
// node's checkpoints do), then one compaction. Prints one machine-readable
// line: sealed segments, rows held, and exact (FLAT) search QPS before and
// after, and the compaction's duration. Run with -benchtime=1x:
//
//	go test -run '^$' -bench BenchmarkCompaction -benchtime=1x ./internal/engine/
func BenchmarkCompaction(b *testing.B) {
	const dim, per, flushEvery, queries = 32, 10, 200, 200
	upserts := benchEnvInt("TANDEM_BENCH_UPSERTS", 20000)
	keys := benchEnvInt("TANDEM_BENCH_KEYS", 50000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := openTest(b, b.TempDir(), func(c *Config) {
			c.SegmentMaxRows = 0 // default 65536
			c.Sync = SyncInterval
			c.CompactionInterval = -1
		})
		if err := e.CreateCollection(bg, "", vecSchema("u", dim), CreateCollectionOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := e.CreateIndex(bg, "", "u", "vec", "", map[string]string{"index_type": "FLAT", "metric_type": "L2"}); err != nil {
			b.Fatal(err)
		}
		if err := e.LoadCollection(bg, "", "u"); err != nil {
			b.Fatal(err)
		}
		r := rand.New(rand.NewSource(1))
		// Every key once, then small upserts of random keys.
		for k := 0; k < keys; k += 1000 {
			if _, err := e.Insert(bg, "", "u", "", vecBatch(r, k, min(1000, keys-k), dim), min(1000, keys-k)); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		for u := 0; u < upserts; u++ {
			fd := vecBatch(r, 0, per, dim)
			ids := fd[0].GetScalars().GetLongData().GetData()
			for j := range ids {
				ids[j] = int64(r.Intn(keys))
			}
			if _, err := e.Upsert(bg, "", "u", "", fd, per); err != nil {
				b.Fatal(err)
			}
			if (u+1)%flushEvery == 0 {
				if err := e.Flush(bg, "", nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := e.Flush(bg, "", nil); err != nil {
			b.Fatal(err)
		}
		writeSecs := time.Since(start).Seconds()
		qs := make([][]float32, queries)
		for i := range qs {
			qs[i] = make([]float32, dim)
			for j := range qs[i] {
				qs[i][j] = r.Float32()
			}
		}
		held := func() int {
			e.mu.RLock()
			defer e.mu.RUnlock()
			n := 0
			for _, p := range e.cat.byName[nameKey(normDB(""), "u")].partitions {
				for _, s := range p.segs {
					n += s.rows
				}
			}
			return n
		}
		answers := func() string {
			var out string
			for _, q := range qs[:50] {
				res, err := e.Search(bg, &SearchRequest{Collection: "u", Vectors: [][]float32{q}, TopK: 10, RoundDecimal: -1})
				if err != nil {
					b.Fatal(err)
				}
				out += fmt.Sprint(res.GetIds().GetIntId().GetData())
			}
			return out
		}
		qps := func() float64 {
			for _, q := range qs[:20] { // warm-up
				if _, err := e.Search(bg, &SearchRequest{Collection: "u", Vectors: [][]float32{q}, TopK: 10, RoundDecimal: -1}); err != nil {
					b.Fatal(err)
				}
			}
			t0 := time.Now()
			for _, q := range qs {
				if _, err := e.Search(bg, &SearchRequest{Collection: "u", Vectors: [][]float32{q}, TopK: 10, RoundDecimal: -1}); err != nil {
					b.Fatal(err)
				}
			}
			return float64(len(qs)) / time.Since(t0).Seconds()
		}
		segsBefore, rowsBefore, qpsBefore, ansBefore := sealedSegs(e), held(), qps(), answers()
		b.StartTimer()
		t0 := time.Now()
		plans := e.CompactNow(false)
		compactSecs := time.Since(t0).Seconds()
		b.StopTimer()
		segsAfter, rowsAfter, qpsAfter := sealedSegs(e), held(), qps()
		if answers() != ansBefore {
			b.Fatal("search answers changed by compaction")
		}
		fmt.Printf("compaction_bench upserts=%d rows_per_upsert=%d keys=%d dim=%d index=FLAT write_s=%.2f segments_before=%d segments_after=%d rows_before=%d rows_after=%d plans=%d compact_s=%.3f qps_before=%.1f qps_after=%.1f speedup=%.2f\n",
			upserts, per, keys, dim, writeSecs, segsBefore, segsAfter, rowsBefore, rowsAfter, len(plans), compactSecs, qpsBefore, qpsAfter, qpsAfter/qpsBefore)
		b.ReportMetric(float64(segsBefore), "segs_before")
		b.ReportMetric(float64(segsAfter), "segs_after")
		b.ReportMetric(qpsBefore, "qps_before")
		b.ReportMetric(qpsAfter, "qps_after")
		e.Close()
	}
}
