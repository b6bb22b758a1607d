package replication

import "github.com/tandem-db/tandem/internal/engine"

// normalizeHistory returns h with the implicit epoch 0 at LSN 1 prepended
// when the log's first records precede its first epoch-start record.
func normalizeHistory(h []engine.EpochStart) []engine.EpochStart {
	if len(h) > 0 && h[0].LSN <= 1 {
		return h
	}
	return append([]engine.EpochStart{{Epoch: 0, LSN: 1}}, h...)
}

// epochEnd returns the last LSN of epoch h[i] in a log that ends at last.
func epochEnd(h []engine.EpochStart, i int, last uint64) uint64 {
	if i+1 < len(h) {
		return min(h[i+1].LSN-1, last)
	}
	return last
}

// DivergencePoint returns the last LSN up to which a follower's log (epoch
// history fh, last LSN fLast) agrees with the leader's (lh, lLast), per
// docs/architecture.md §3: take the newest epoch e present in both histories (same
// epoch beginning at the same LSN); the logs agree up to min(end of e in the
// follower, end of e in the leader). 0 means they share nothing. Histories
// are normalized first (normalizeHistory). If the result is < fLast the
// follower must cut its log after it.
func DivergencePoint(fh []engine.EpochStart, fLast uint64, lh []engine.EpochStart, lLast uint64) uint64 {
	fh, lh = normalizeHistory(fh), normalizeHistory(lh)
	for i := len(fh) - 1; i >= 0; i-- {
		if fh[i].LSN > fLast {
			continue // an epoch with no record in the follower's log
		}
		for j := len(lh) - 1; j >= 0; j-- {
			if lh[j].Epoch != fh[i].Epoch {
				continue
			}
			if lh[j].LSN != fh[i].LSN || lh[j].LSN > lLast {
				break // same number, different start: not the same epoch
			}
			return min(epochEnd(fh, i, fLast), epochEnd(lh, j, lLast))
		}
	}
	return 0
}
