package expr

import (
	"fmt"
	"testing"
)

// benchSource is n rows with age, color, score and a small JSON document.
func benchSource(n int) *mapSource {
	r := newRand(1)
	age := make([]int64, n)
	color := make([]string, n)
	score := make([]float64, n)
	meta := make([][]byte, n)
	colors := []string{"red", "green", "blue", "yellow", "black"}
	for i := 0; i < n; i++ {
		age[i] = int64(r.Intn(80))
		color[i] = colors[r.Intn(len(colors))]
		score[i] = r.Float64()
		meta[i] = fmt.Appendf(nil, `{"k": %d, "s": "v%d", "arr": [1, 2, %d]}`, r.Intn(100), r.Intn(10), r.Intn(10))
	}
	return &mapSource{n: n, cols: map[string]any{"age": age, "color": color, "score": score, "meta": meta}}
}

func benchEval(b *testing.B, src *mapSource, expr string) {
	e, err := Parse(expr, testSchema())
	if err != nil {
		b.Fatal(err)
	}
	out := make([]bool, src.Len())
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		if err := e.Eval(src, out); err != nil {
			b.Fatal(err)
		}
	}
	rows := float64(b.N) * float64(src.Len())
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/rows, "ns/row")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/rows, "cpu-ns/row")
	}
}

func BenchmarkEval(b *testing.B) {
	big := benchSource(1 << 20)
	small := benchSource(1 << 16)
	for _, c := range []struct {
		name string
		src  *mapSource
		expr string
	}{
		{"AgeAndColorIn_1M", big, `age > 30 and color in ["red","blue"]`},
		{"IntCmp_1M", big, `age > 30`},
		{"Range_1M", big, `10 <= age < 30`},
		{"StrIn20_1M", big, `color in ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q","r","red","s"]`},
		{"LikePrefix_1M", big, `color like "bl%"`},
		{"Arith_1M", big, `age % 3 == 0 or score * 2 > 1.5`},
		{"JSONCmp_64K", small, `meta["k"] > 50`},
		{"JSONContains_64K", small, `array_contains(meta["arr"], 7)`},
	} {
		b.Run(c.name, func(b *testing.B) { benchEval(b, c.src, c.expr) })
	}
}

func BenchmarkParse(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := Parse(`age > 30 and color in ["red","blue"] or meta["a"]["b"] like "x%"`, testSchema()); err != nil {
			b.Fatal(err)
		}
	}
}
