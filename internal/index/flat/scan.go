package flat

import (
	"github.com/tandem-db/tandem/internal/index/distance"
)

// chunkRows is how many rows ScanBlock scores per kernel call, so that the
// scores are still in L1 when they are filtered into the heap.
const chunkRows = 512

// ScanBlock scores query q against n vectors stored contiguously in block
// (n*dim floats, n = len(block)/dim) and pushes them into t with IDs
// baseID+i.
//
// For Cosine, qNorm is Norm(q) and norms[i] is Norm of vector i (norms may be
// nil for L2/IP; if nil for Cosine the norms are computed on the fly); a zero
// norm scores 0. skip, if non-nil (len >= n), excludes rows with
// skip[i] == true. scratch is a caller-owned buffer of len >= min(n, 512)
// (nil or shorter: allocate).
//
// m must be one of L2, IP, Cosine (it panics otherwise: metrics come from
// ParseMetric) and should be t's metric. A score is offered to t only if
// it can enter it: it is compared with the current worst kept hit first.
func ScanBlock(m distance.Metric, q []float32, qNorm float32, block []float32, dim int, norms []float32, skip []bool, baseID int64, t *TopK, scratch []float32) {
	if dim <= 0 || t.k == 0 {
		return
	}
	n := len(block) / dim
	if n == 0 {
		return
	}
	if len(scratch) < min(n, chunkRows) {
		scratch = make([]float32, min(n, chunkRows))
	}
	q = q[:dim]
	for lo := 0; lo < n; lo += chunkRows {
		hi := min(lo+chunkRows, n)
		out := scratch[:hi-lo]
		var sk []bool
		if skip != nil {
			sk = skip[lo:hi]
			if allTrue(sk) {
				continue
			}
		}
		rows := block[lo*dim : hi*dim]
		switch m {
		case distance.L2:
			distance.L2SquaredBatch(q, rows, dim, out)
			pushScores(t, out, sk, baseID+int64(lo))
		case distance.IP:
			distance.DotBatch(q, rows, dim, out)
			pushScores(t, out, sk, baseID+int64(lo))
		case distance.Cosine:
			distance.DotBatch(q, rows, dim, out)
			for i := range out {
				var vn float32
				if norms != nil {
					vn = norms[lo+i]
				} else {
					vn = distance.Norm(rows[i*dim : (i+1)*dim])
				}
				if d := qNorm * vn; d != 0 {
					out[i] /= d
				} else {
					out[i] = 0
				}
			}
			pushScores(t, out, sk, baseID+int64(lo))
		default:
			panic("flat: ScanBlock: unsupported metric " + m.String())
		}
	}
}

func allTrue(s []bool) bool {
	for _, b := range s {
		if !b {
			return false
		}
	}
	return true
}

// pushScores offers scores[i] with ID base+i to t, skipping masked rows and,
// without touching the heap, rows that cannot beat t's current worst hit.
func pushScores(t *TopK, scores []float32, skip []bool, base int64) {
	for i, s := range scores {
		if skip != nil && skip[i] {
			continue
		}
		k := t.key(s)
		if len(t.h) == t.k && k > t.h[0].key {
			continue
		}
		t.push(entry{key: k, score: s, id: base + int64(i)})
	}
}
