package distance

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDotU8MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 100, 784} {
		w := make([]float32, n)
		c := make([]byte, n)
		for i := range w {
			w[i] = r.Float32()*2 - 1
			c[i] = byte(r.IntN(256))
		}
		got, want := DotU8(w, c), dotU8Ref(w, c)
		if math.Abs(float64(got-want)) > 1e-3*(1+math.Abs(float64(want))) {
			t.Fatalf("n=%d: DotU8=%v want %v", n, got, want)
		}
	}
}

func TestSumLookup(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, m := range []int{1, 3, 4, 5, 16, 98} {
		ksub := 256
		table := make([]float32, m*ksub)
		for i := range table {
			table[i] = r.Float32()
		}
		code := make([]byte, m)
		var want float64
		for j := range code {
			code[j] = byte(r.IntN(256))
			want += float64(table[j*ksub+int(code[j])])
		}
		if got := SumLookup(table, ksub, code); math.Abs(float64(got)-want) > 1e-3 {
			t.Fatalf("m=%d: %v want %v", m, got, want)
		}
	}
}
