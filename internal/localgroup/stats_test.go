package localgroup

import (
	"testing"
	"time"
)

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func TestPercentileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 20; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, ms(float64(i*100)))
	}
	cases := []struct {
		p    float64
		want time.Duration
	}{
		{50, ms(1000)},  // rank ceil(10) = 10
		{90, ms(1800)},  // rank 18
		{95, ms(1900)},  // rank 19
		{99, ms(2000)},  // rank ceil(19.8) = 20: the max, never interpolated below it
		{100, ms(2000)}, // max
		{1, ms(100)},    // rank ceil(0.2) = 1
		{0, ms(100)},    // min
	}
	for _, c := range cases {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if ds[0] != ms(2000) {
		t.Fatal("Percentile sorted its input")
	}
	if got := Percentile(nil, 99); got != 0 {
		t.Fatalf("p99 of nothing = %v", got)
	}
	if got := Percentile([]time.Duration{ms(7)}, 50); got != ms(7) {
		t.Fatalf("p50 of one = %v", got)
	}
	// 200 samples: p99 is rank 198, not the max.
	ds = nil
	for i := 1; i <= 200; i++ {
		ds = append(ds, ms(float64(i)))
	}
	if got := Percentile(ds, 99); got != ms(198) {
		t.Fatalf("p99 of 1..200 = %v, want 198ms", got)
	}
}

func TestSummarize(t *testing.T) {
	d := Summarize([]time.Duration{ms(3), ms(1), ms(2), ms(10)})
	want := Dist{N: 4, Min: 1, P50: 2, P90: 10, P99: 10, Max: 10, Mean: 4}
	if d != want {
		t.Fatalf("Summarize = %+v, want %+v", d, want)
	}
	if (Summarize(nil) != Dist{}) {
		t.Fatal("Summarize(nil) is not zero")
	}
	if got := Ms(1500 * time.Microsecond); got != 1.5 {
		t.Fatalf("Ms(1.5ms) = %v", got)
	}
}

// TestPercentileSortedScale: the generic helper the benches use takes p on
// the same 0..100 scale as Percentile and agrees with it.
func TestPercentileSortedScale(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {0, 1}} {
		if got := PercentileSorted(xs, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
}
