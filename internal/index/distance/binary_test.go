package distance

import (
	"math/rand"
	"testing"
)

func TestBinaryKernels(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for _, n := range []int{1, 2, 7, 8, 9, 16, 17, 64, 100} {
		for trial := 0; trial < 50; trial++ {
			a, b := make([]byte, n), make([]byte, n)
			r.Read(a)
			r.Read(b)
			if trial == 0 {
				clear(a)
				clear(b)
			}
			if got, want := HammingDistance(a, b), hammingGeneric(a, b); got != want {
				t.Fatalf("n=%d hamming %v, want %v", n, got, want)
			}
			if got, want := JaccardDistance(a, b), jaccardGeneric(a, b); got != want {
				t.Fatalf("n=%d jaccard %v, want %v", n, got, want)
			}
		}
	}
	a := []byte{0b1111_0000}
	b := []byte{0b1100_1100}
	if j := JaccardDistance(a, b); HammingDistance(a, b) != 4 || j < 0.6666 || j > 0.6667 {
		t.Fatalf("hand case: %v %v", HammingDistance(a, b), JaccardDistance(a, b))
	}
	if BinaryDistance(Jaccard, a, a) != 0 || BinaryDistance(Hamming, a, a) != 0 {
		t.Fatal("self distance")
	}
}

func TestParseBinaryMetrics(t *testing.T) {
	for s, want := range map[string]Metric{"hamming": Hamming, "JACCARD": Jaccard} {
		m, err := ParseMetric(s)
		if err != nil || m != want || !m.Binary() || m.HigherIsBetter() {
			t.Fatalf("%s: %v %v", s, m, err)
		}
	}
}
