package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/wal"
)

// Leading / alternative deployments (docs/architecture.md §4, package cdc).
//
// An alternative deployment's active re-logs every record of the leading
// deployment's change stream as one NEW local record of type RecUpstream
// (its own epoch and LSN), which wraps the upstream record and its
// upstream position:
//
//	str source (the leading deployment's name), u64 upstream epoch,
//	u64 upstream lsn, u8 inner type, bytes inner payload
//
// apply applies the inner record exactly as a local one (same apply, at
// the wrapper's local LSN) and then sets the catalog's upstream position
// to (source, epoch, lsn). The position is thus part of the replicated
// state: checkpoints persist it (catalog version 2), the alternative's
// standbys replicate it like any record, and after a failover of either
// side the subscriber resumes after UpstreamPosition() — exactly once.
//
// Inner types: every engine record type (an inner RecEpochStart only
// moves the position: the upstream's epochs are not this log's), plus two
// that exist only inside a wrapper:
//
//	RecUpstreamReset  payload = a catalog encoding (no epoch history):
//	                  replace the whole replicated state by that catalog
//	                  with no rows (the start of a snapshot)
//	RecUpstreamMark   empty payload: only moves the position (the end of
//	                  a snapshot)
//
// A snapshot arrives as Reset, then the live rows as RecInsert records,
// then Mark; all but the Mark carry upstream lsn 0 ("inside a snapshot"),
// so a subscriber interrupted mid-snapshot resumes from an empty position
// and gets a new snapshot.
const (
	RecUpstream      wal.RecordType = 13
	RecUpstreamReset wal.RecordType = 14
	RecUpstreamMark  wal.RecordType = 15
)

// UpstreamPos is a position in a leading deployment's change stream: the
// leading deployment's name and the (epoch, lsn) of a record of its log.
// LSN 0 means none (or inside a snapshot).
type UpstreamPos struct {
	Source string `json:"source"`
	Epoch  uint64 `json:"epoch"`
	LSN    uint64 `json:"lsn"`
}

// IsZero reports whether p is the empty position.
func (p UpstreamPos) IsZero() bool { return p == UpstreamPos{} }

// recUpstream is a RecUpstream record (see above). inner is nil for
// RecUpstreamMark.
type recUpstream struct {
	pos     UpstreamPos
	typ     wal.RecordType
	payload []byte
	inner   recBody
}

func (b *recUpstream) encode(w *enc) error {
	w.str(b.pos.Source)
	w.u64(b.pos.Epoch)
	w.u64(b.pos.LSN)
	w.u8(uint8(b.typ))
	w.bytes(b.payload)
	return nil
}

// recUpstreamReset is an inner RecUpstreamReset.
type recUpstreamReset struct{ cat *catalog }

func (b *recUpstreamReset) encode(w *enc) error {
	return fmt.Errorf("engine: upstream reset is inner only")
}

// decodeUpstream reads a RecUpstream body from r (after the version byte).
func decodeUpstream(r *dec) (recBody, error) {
	b := &recUpstream{pos: UpstreamPos{Source: r.str(), Epoch: r.u64(), LSN: r.u64()}}
	b.typ = wal.RecordType(r.u8())
	b.payload = r.bytes()
	if r.err != nil {
		return nil, r.err
	}
	inner, err := decodeInner(b.typ, b.payload)
	if err != nil {
		return nil, err
	}
	b.inner = inner
	return b, nil
}

// decodeInner decodes the inner record of a wrapper.
func decodeInner(typ wal.RecordType, payload []byte) (recBody, error) {
	switch typ {
	case RecUpstream:
		return nil, fmt.Errorf("engine: nested upstream record")
	case RecUpstreamMark:
		return nil, nil
	case RecUpstreamReset:
		cat, err := decodeCatalog(&dec{b: payload})
		if err != nil {
			return nil, err
		}
		return &recUpstreamReset{cat: cat}, nil
	}
	return decodeRecord(typ, payload)
}

// applyUpstream applies a RecUpstream record at lsn. Caller as apply.
func (e *Engine) applyUpstream(lsn uint64, b *recUpstream) error {
	switch in := b.inner.(type) {
	case nil, *recEpochStart:
	case *recUpstreamReset:
		nc := in.cat
		nc.epochs, nc.requests = e.cat.epochs, e.cat.requests // this log's own history
		e.cat = nc
		e.ix.kick()
	default:
		if err := e.apply(lsn, in); err != nil {
			return err
		}
	}
	e.cat.upstream = b.pos
	return nil
}

// upstreamState is the engine's leading/alternative state that is not
// replicated: whether client writes are refused.
type upstreamState struct {
	readOnly atomic.Pointer[func() error]
}

// refuse returns why client writes are refused (nil: allowed).
func (u *upstreamState) refuse() error {
	if f := u.readOnly.Load(); f != nil {
		if err := (*f)(); err != nil {
			return err
		}
	}
	return nil
}

// SetReadOnly makes every client write (DDL and DML) fail with why()'s
// error (a merr error) while why returns non-nil; nil removes the check.
// Upstream records (ApplyUpstream), replicated records and epoch starts
// are not affected.
func (e *Engine) SetReadOnly(why func() error) {
	if why == nil {
		e.upstream.readOnly.Store(nil)
		return
	}
	e.upstream.readOnly.Store(&why)
}

// UpstreamPosition returns the catalog's upstream position: the last
// upstream record applied (zero if none).
func (e *Engine) UpstreamPosition() UpstreamPos {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.cat.upstream
}

// UpstreamRecord is one record to apply from an upstream change stream.
type UpstreamRecord struct {
	Pos     UpstreamPos
	Type    wal.RecordType
	Payload []byte
}

// ErrUpstreamDuplicate is returned (wrapped) by ApplyUpstream for a record
// at or before the current upstream position of the same source.
var ErrUpstreamDuplicate = errors.New("engine: upstream record already applied")

// ApplyUpstream appends and applies recs as RecUpstream records (one each,
// in order) and returns the local LSN of the last. A record whose
// position is not after the current upstream position of its source
// (both non-zero) is a duplicate: nothing is written from it on and the
// error wraps ErrUpstreamDuplicate. It does not wait for durability. A
// record that does not decode is refused before anything is written; an
// apply failure fails the engine (the states diverged).
func (e *Engine) ApplyUpstream(ctx context.Context, recs []UpstreamRecord) (uint64, error) {
	if err := e.check(); err != nil {
		return 0, err
	}
	bodies := make([]*recUpstream, len(recs))
	payloads := make([][]byte, len(recs))
	for i, r := range recs {
		inner, err := decodeInner(r.Type, r.Payload)
		if err != nil {
			return 0, fmt.Errorf("engine: upstream record %+v type %d: %w", r.Pos, r.Type, err)
		}
		b := &recUpstream{pos: r.Pos, typ: r.Type, payload: r.Payload, inner: inner}
		p, err := encodeRecord(b, len(r.Payload)+len(r.Pos.Source)+32)
		if err != nil {
			return 0, err
		}
		bodies[i], payloads[i] = b, p
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	var lsn uint64
	for i, b := range bodies {
		if err := ctx.Err(); err != nil {
			return lsn, err
		}
		e.mu.RLock()
		cur := e.cat.upstream
		e.mu.RUnlock()
		if b.pos.LSN != 0 && cur.LSN != 0 && cur.Source == b.pos.Source && b.pos.LSN <= cur.LSN {
			return lsn, fmt.Errorf("%w: %+v, at %+v", ErrUpstreamDuplicate, b.pos, cur)
		}
		l, err := e.commitPayloadLocked(RecUpstream, payloads[i], b)
		if err != nil {
			return lsn, err
		}
		lsn = l
	}
	return lsn, nil
}

// UnwrapUpstream returns the inner type and payload of a RecUpstream
// payload, and its upstream position.
func UnwrapUpstream(payload []byte) (UpstreamPos, wal.RecordType, []byte, error) {
	r := &dec{b: payload}
	if v := r.u8(); r.err == nil && v != recordVersion {
		return UpstreamPos{}, 0, nil, fmt.Errorf("engine: record version %d not supported", v)
	}
	pos := UpstreamPos{Source: r.str(), Epoch: r.u64(), LSN: r.u64()}
	typ := wal.RecordType(r.u8())
	p := r.bytes()
	if err := r.done(); err != nil {
		return pos, 0, nil, err
	}
	return pos, typ, p, nil
}

// LogicalSnapshot is the replicated state at one LSN in record form: a
// catalog (RecUpstreamReset payload) and the live rows as RecInsert
// payloads. It holds segment snapshots, not files.
type LogicalSnapshot struct {
	// LSN is the applied LSN the snapshot is taken at (not necessarily
	// durable or committed yet: wait for it before serving).
	LSN uint64
	// Catalog is the RecUpstreamReset payload.
	Catalog []byte
	// Rows is the number of live rows.
	Rows  int64
	parts []snapPart
}

type snapPart struct {
	c      *collection
	partID int64
	snaps  []segSnap
}

// OpenLogicalSnapshot snapshots the state at the applied LSN (writers
// wait for a moment).
func (e *Engine) OpenLogicalSnapshot() (*LogicalSnapshot, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	e.mu.RLock()
	defer e.mu.RUnlock()
	s := &LogicalSnapshot{LSN: e.applied.Load()}
	cc := *e.cat
	cc.epochs, cc.upstream, cc.requests = nil, UpstreamPos{}, nil // this log's own history
	w := &enc{}
	if err := cc.encode(w); err != nil {
		return nil, err
	}
	s.Catalog = w.b
	for _, c := range e.cat.sortedColls() {
		for _, p := range c.partitions {
			sp := snapPart{c: c, partID: p.id, snaps: e.snapshotLocked(c, []*partition{p}, s.LSN)}
			for i := range sp.snaps {
				ss := &sp.snaps[i]
				for r := 0; r < ss.n; r++ {
					if ss.live(r) {
						s.Rows++
					}
				}
			}
			s.parts = append(s.parts, sp)
		}
	}
	return s, nil
}

// Inserts calls fn with RecInsert payloads holding every live row of the
// snapshot, at most batchRows rows each, in collection, partition and
// segment order.
func (s *LogicalSnapshot) Inserts(batchRows int, fn func(payload []byte, rows int) error) error {
	if batchRows <= 0 {
		batchRows = 1024
	}
	for _, sp := range s.parts {
		c := sp.c
		for si := range sp.snaps {
			ss := &sp.snaps[si]
			var rows []int
			flush := func() error {
				if len(rows) == 0 {
					return nil
				}
				b := &recInsert{collID: c.id, partID: sp.partID, rows: len(rows)}
				for fi := range c.fields {
					f := &c.fields[fi]
					sc := &ss.cols[fi]
					cd := colData{fieldID: f.id, typ: f.typ, dim: f.dim}
					if f.isVector && f.typ != schemapb.DataType_FloatVector {
						v := make([]byte, 0, len(rows)*vecRowBytes(f.typ, f.dim))
						for _, r := range rows {
							v = sc.appendRowBytes(v, ss.chunkRows, r)
						}
						cd.data = v
					} else if f.isVector {
						v := make([]float32, 0, len(rows)*f.dim)
						for _, r := range rows {
							v = append(v, sc.vector(ss.chunkRows, r)...)
						}
						cd.data = v
					} else {
						var d any = emptyData(f.typ)
						for _, r := range rows {
							d = appendData(d, sc.data, r, r+1)
						}
						cd.data = d
						if sc.valid != nil {
							for _, r := range rows {
								cd.valid = append(cd.valid, sc.valid[r])
							}
						}
					}
					b.cols = append(b.cols, cd)
				}
				p, err := encodeRecord(b, b.encodedSize())
				if err != nil {
					return err
				}
				n := len(rows)
				rows = rows[:0]
				return fn(p, n)
			}
			for r := 0; r < ss.n; r++ {
				if !ss.live(r) {
					continue
				}
				rows = append(rows, r)
				if len(rows) >= batchRows {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// DataDigest is DigestLSN over the data only: the catalog without the
// epoch history and the upstream position (which differ between a
// leading deployment and its alternative), and every live row. A leading
// deployment and an alternative that applied its stream up to the same
// upstream position have equal data digests.
func (e *Engine) DataDigest() (lsn uint64, digest string, err error) {
	return e.digestLSN(true)
}

// WriteBarrier waits for the client writes already appended to finish
// their append and apply, and returns the last applied LSN. After
// SetReadOnly, no client record is appended past it.
func (e *Engine) WriteBarrier() uint64 {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	return e.applied.Load()
}

// EmptyCatalogPayload is a RecUpstreamReset payload that empties the
// state (a deployment rejoining as the alternative of a new leading one).
func EmptyCatalogPayload() []byte {
	w := &enc{}
	_ = newCatalog().encode(w)
	return w.b
}
