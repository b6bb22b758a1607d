// Package flat implements exact (brute-force) vector search: a bounded
// top-k collector and a block scanner built on the distance kernels.
//
// Invariants:
//   - A TopK keeps at most k hits, the best ones seen so far under its
//     metric; ties on score are broken by the smaller ID, so results do not
//     depend on the order in which hits are pushed.
//   - NaN scores rank below every other score.
//   - ScanBlock never retains its arguments; with a caller-provided scratch
//     buffer it does not allocate.
package flat

import (
	"math"
	"slices"

	"github.com/tandem-db/tandem/internal/index/distance"
)

// Hit is one search result: Score is the metric's value (L2 squared
// distance, IP, or cosine similarity).
type Hit struct {
	ID    int64
	Score float32
}

// entry is a heap element. key is the score oriented so that smaller is
// better (score for L2, -score for IP/Cosine; NaN becomes +Inf).
type entry struct {
	key   float32
	score float32
	id    int64
}

// worse reports whether a ranks below b.
func worse(a, b entry) bool {
	if a.key != b.key {
		return a.key > b.key
	}
	return a.id > b.id
}

// TopK keeps the best k hits for a metric. Ties on score are broken by
// smaller ID first (deterministic). The zero value is not usable; create one
// with NewTopK. A TopK is not safe for concurrent use.
type TopK struct {
	k      int
	higher bool    // metric's HigherIsBetter
	h      []entry // max-heap on worse(): h[0] is the worst kept hit

	// A range search (SetRange) keeps only hits whose key is in
	// [minKey, maxKey); bounded is false otherwise.
	bounded        bool
	minKey, maxKey float32
}

// NewTopK returns a collector of the best k hits under metric m. k <= 0
// gives a collector that keeps nothing.
func NewTopK(k int, m distance.Metric) *TopK {
	t := &TopK{higher: m.HigherIsBetter()}
	t.Reset(k)
	return t
}

// Reset empties t and sets its capacity to k, keeping its metric and, when
// large enough, its storage.
func (t *TopK) Reset(k int) {
	if k < 0 {
		k = 0
	}
	t.k = k
	t.bounded = false
	if cap(t.h) < k {
		t.h = make([]entry, 0, k)
	}
	t.h = t.h[:0]
}

// SetRange makes t a range-search collector (until the next Reset): it
// keeps only hits inside Milvus's range for its metric. Lower-is-better
// metrics (L2) keep rangeFilter <= score < radius; higher-is-better
// metrics (IP, COSINE) keep radius < score <= rangeFilter. Without a range
// filter (hasFilter false) only the radius bounds the range. NaN scores
// are never kept.
func (t *TopK) SetRange(radius, rangeFilter float32, hasFilter bool) {
	t.bounded = true
	t.maxKey = t.key(radius)
	t.minKey = float32(math.Inf(-1))
	if hasFilter {
		t.minKey = t.key(rangeFilter)
	}
}

// Len returns the number of hits kept, at most k.
func (t *TopK) Len() int { return len(t.h) }

// key orients score so that smaller is better.
func (t *TopK) key(score float32) float32 {
	if score != score {
		return float32(math.Inf(1))
	}
	if t.higher {
		return -score
	}
	return score
}

// Push offers a hit; it is kept if it is among the best k seen so far.
func (t *TopK) Push(id int64, score float32) {
	t.push(entry{key: t.key(score), score: score, id: id})
}

func (t *TopK) push(e entry) {
	if t.bounded && !(e.key < t.maxKey && e.key >= t.minKey) {
		return
	}
	if len(t.h) < t.k {
		t.h = append(t.h, e)
		t.up(len(t.h) - 1)
		return
	}
	if t.k == 0 || !worse(t.h[0], e) {
		return
	}
	t.h[0] = e
	t.down(0)
}

func (t *TopK) up(i int) {
	h := t.h
	e := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !worse(e, h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

func (t *TopK) down(i int) {
	h := t.h
	n := len(h)
	e := h[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && worse(h[r], h[c]) {
			c = r
		}
		if !worse(h[c], e) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = e
}

// Results returns the kept hits, best first. It does not consume t: t is
// unchanged and more hits may be pushed afterwards. The returned slice is
// newly allocated and owned by the caller.
func (t *TopK) Results() []Hit {
	es := slices.Clone(t.h)
	slices.SortFunc(es, func(a, b entry) int {
		switch {
		case worse(b, a):
			return -1
		case worse(a, b):
			return 1
		}
		return 0
	})
	out := make([]Hit, len(es))
	for i, e := range es {
		out[i] = Hit{ID: e.id, Score: e.score}
	}
	return out
}
