package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
)

// Digest returns a hash of the replicated state as of the visible LSN:
// the catalog encoding (including the request table of recent request
// ids, request.go), then per collection (ID order) every visible live row
// in primary-key order with all its field values. Two engines that
// applied the same records return equal digests at equal LSNs; segment
// layout and local IDs do not enter it.
func (e *Engine) Digest() (string, error) {
	_, d, err := e.DigestLSN()
	return d, err
}

// DigestLSN is Digest together with the LSN it is taken at (the visible
// LSN: every record up to it is applied and durable, none after it is
// seen).
func (e *Engine) DigestLSN() (lsn uint64, digest string, err error) {
	return e.digestLSN(false)
}

// digestLSN is DigestLSN; dataOnly leaves the epoch history, the upstream
// position and the request table out of the catalog (DataDigest,
// upstream.go): they are this log's own history.
func (e *Engine) digestLSN(dataOnly bool) (lsn uint64, digest string, err error) {
	if err := e.check(); err != nil {
		return 0, "", err
	}
	vis := e.visibleLSN()
	e.mu.RLock()
	w := &enc{}
	cat := e.cat
	if dataOnly {
		cc := *cat
		cc.epochs, cc.upstream, cc.requests = nil, UpstreamPos{}, nil
		cat = &cc
	}
	if err := cat.encode(w); err != nil {
		e.mu.RUnlock()
		return 0, "", err
	}
	type collSnap struct {
		c     *collection
		snaps []segSnap
	}
	var colls []collSnap
	for _, c := range e.cat.sortedColls() {
		colls = append(colls, collSnap{c: c, snaps: e.snapshotLocked(c, nil, vis)})
	}
	e.mu.RUnlock()

	h := sha256.New()
	h.Write(w.b)
	for _, cs := range colls {
		var rows []rowRef
		for si := range cs.snaps {
			ss := &cs.snaps[si]
			for r := 0; r < ss.n; r++ {
				if ss.live(r) {
					rows = append(rows, rowRef{snap: int32(si), row: int32(r)})
				}
			}
		}
		pk := cs.c.pk
		sort.Slice(rows, func(i, j int) bool {
			a, b := rows[i], rows[j]
			switch v := cs.snaps[a.snap].cols[pk].data.(type) {
			case []int64:
				return v[a.row] < cs.snaps[b.snap].cols[pk].data.([]int64)[b.row]
			case []string:
				return v[a.row] < cs.snaps[b.snap].cols[pk].data.([]string)[b.row]
			}
			return false
		})
		rw := &enc{}
		rw.i64(cs.c.id)
		rw.uv(uint64(len(rows)))
		for _, r := range rows {
			ss := &cs.snaps[r.snap]
			for fi := range ss.cols {
				sc := &ss.cols[fi]
				if sc.isBin() {
					rw.b = append(rw.b, sc.binVector(ss.chunkRows, int(r.row))...)
				} else if sc.dim > 0 {
					rw.f32s(sc.vector(ss.chunkRows, int(r.row)))
				} else {
					encodeValue(rw, sc.data, int(r.row))
					if sc.valid != nil {
						rw.bool(sc.valid[r.row])
					}
				}
			}
			if len(rw.b) > 1<<16 {
				h.Write(rw.b)
				rw.b = rw.b[:0]
			}
		}
		h.Write(rw.b)
	}
	return vis, hex.EncodeToString(h.Sum(nil)), nil
}
