package engine

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/tandem-db/tandem/internal/merr"
)

// Request ids: write deduplication (HA safety issue, hardening item 10).
//
// A client write (Insert, Upsert, Delete) may carry a request id
// (WithRequestID; the Milvus API takes it from the gRPC metadata key or
// HTTP header "tandem-request-id"). tandem proxy attaches one to every
// write it forwards, generated once per client call, so that it can re-send
// the write after an ambiguous outcome (the node may have applied it but
// the answer was lost) without applying it twice.
//
// The id is carried in the write's WAL record with a fingerprint of the
// request (reqTag; record.go, record version 2), so the active, every
// standby and a new active after a failover know it from the log. Apply
// records each tagged write in the catalog's request table (id -> the
// original result: LSN, kind, row count, first auto-id). A write whose id
// is in the table is not applied again: it waits until the original record
// is acknowledged as a new write would (durable, sync standbys) and returns
// the original result. A known id with a different fingerprint (another
// payload, another kind of write, another collection) is refused with
// ErrRequestIDReused and changes nothing. Writes without an id behave as
// before (SDK clients connected directly).
//
// The table is bounded: it holds the ids of the last RequestTableSize
// tagged records (first in, first out in LSN order, so every member evicts
// the same entries). An id evicted from the table is forgotten: a write
// re-sent with it is applied again. The proxy re-sends a write only within
// its hold (default 5 s), so the bound is safe while fewer than
// RequestTableSize tagged writes are applied within one hold.
//
// A write that applied nothing is not recorded: a delete that matched no
// row writes no record, and a write refused before its record was appended
// left nothing; re-sending either is a new attempt.
//
// The table is replicated state: checkpoints persist it (in the catalog
// encoding, catalog.go) and Digest hashes it, so members that applied the
// same records have equal tables and a divergence shows in the digest.
// DataDigest and logical snapshots (which compare with or seed another
// deployment, whose log differs) leave it out.
const (
	// RequestTableSize is how many request ids the table remembers.
	RequestTableSize = 65536
	// MaxRequestIDLen is the longest valid request id, in bytes.
	MaxRequestIDLen = 64
)

// ErrRequestIDReused: a request id the engine knows came with a different
// write. A merr.ErrParameterInvalid.
var ErrRequestIDReused = merr.Wrapf(merr.ErrParameterInvalid, "request id reused for a different write")

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request id of a write ("" = none).
func WithRequestID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, requestIDKey{}, id)
}

// requestIDOf returns the request id ctx carries ("" = none).
func requestIDOf(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// ValidateRequestID checks a request id: 1 to MaxRequestIDLen bytes of
// ASCII letters, digits and "-_.:". The error is a merr.ErrParameterInvalid.
func ValidateRequestID(id string) error {
	if id == "" || len(id) > MaxRequestIDLen {
		return merr.Wrapf(merr.ErrParameterInvalid, "request id must be 1 to %d characters, got %d", MaxRequestIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return merr.Wrapf(merr.ErrParameterInvalid, "request id %q: invalid character %q (allowed: letters, digits, - _ . :)", id, c)
		}
	}
	return nil
}

// reqKind is the kind of write a request id was used for.
type reqKind uint8

const (
	reqInsert reqKind = 1
	reqUpsert reqKind = 2
	reqDelete reqKind = 3
)

func (k reqKind) String() string {
	switch k {
	case reqInsert:
		return "insert"
	case reqUpsert:
		return "upsert"
	case reqDelete:
		return "delete"
	}
	return fmt.Sprintf("kind %d", uint8(k))
}

// reqTag is the request id a write record carries, with the fingerprint of
// the request (see fingerprint).
type reqTag struct {
	id string
	fp [16]byte
}

// fingerprint hashes what identifies a request: its kind, database,
// collection and partition names, then parts (the engine's canonical
// encoding of the rows, or the delete expression). SHA-256, first 16 bytes.
func fingerprint(kind reqKind, db, coll, part string, parts ...[]byte) [16]byte {
	h := sha256.New()
	w := &enc{}
	w.u8(uint8(kind))
	w.str(db)
	w.str(coll)
	w.str(part)
	h.Write(w.b)
	for _, p := range parts {
		h.Write(p)
	}
	var fp [16]byte
	copy(fp[:], h.Sum(nil))
	return fp
}

// reqEntry is the original result of a tagged write.
type reqEntry struct {
	id   string
	fp   [16]byte
	kind reqKind
	lsn  uint64 // the write's record
	// count is the rows inserted/upserted or deleted.
	count int64
	// autoFirst is the first auto-generated primary key of an insert (0 =
	// the keys were in the request).
	autoFirst int64
}

// requestTable maps the request ids of the last RequestTableSize tagged
// records to their results. Part of the catalog: changed only by apply
// (under Engine.mu.Lock and writeMu); read by writers under writeMu.
type requestTable struct {
	byID map[string]*reqEntry
	// ring holds the entries in LSN order starting at head once full
	// (len == RequestTableSize); before that, in order from 0.
	ring []*reqEntry
	head int
}

func (t *requestTable) len() int {
	if t == nil {
		return 0
	}
	return len(t.ring)
}

func (t *requestTable) get(id string) *reqEntry {
	if t == nil {
		return nil
	}
	return t.byID[id]
}

// add records e, evicting the oldest entry when full. An id already
// present (possible only in a log written without the check, or after the
// original was evicted and re-sent) is replaced by the newer entry.
func (t *requestTable) add(e *reqEntry, limit int) {
	if old := t.byID[e.id]; old != nil {
		for i, x := range t.ring {
			if x == old {
				t.ring[i] = e
				break
			}
		}
		t.byID[e.id] = e
		return
	}
	if len(t.ring) < limit {
		t.ring = append(t.ring, e)
	} else {
		delete(t.byID, t.ring[t.head].id)
		t.ring[t.head] = e
		t.head = (t.head + 1) % len(t.ring)
	}
	t.byID[e.id] = e
}

// each calls f for the entries, oldest first.
func (t *requestTable) each(f func(*reqEntry)) {
	if t == nil {
		return
	}
	for i := range t.ring {
		f(t.ring[(t.head+i)%len(t.ring)])
	}
}

// record adds the result of a tagged write applied at lsn (apply).
func (cat *catalog) recordRequest(tag *reqTag, kind reqKind, lsn uint64, count, autoFirst int64, limit int) {
	if tag == nil {
		return
	}
	if cat.requests == nil {
		cat.requests = &requestTable{byID: map[string]*reqEntry{}}
	}
	cat.requests.add(&reqEntry{id: tag.id, fp: tag.fp, kind: kind, lsn: lsn, count: count, autoFirst: autoFirst}, limit)
}

// knownRequest looks tag up in the request table (caller holds writeMu):
// nil if unknown, the entry if it is the same write, ErrRequestIDReused if
// the id came with another write.
func (e *Engine) knownRequest(tag *reqTag, kind reqKind) (*reqEntry, error) {
	if tag == nil {
		return nil, nil
	}
	ent := e.cat.requests.get(tag.id)
	if ent == nil {
		return nil, nil
	}
	if ent.fp != tag.fp || ent.kind != kind {
		return nil, fmt.Errorf("engine: %w: id %q was used by the %s at lsn %d, this is a %s with other contents",
			ErrRequestIDReused, tag.id, ent.kind, ent.lsn, kind)
	}
	return ent, nil
}

// requestTag returns the tag for a write with ctx's request id and the
// fingerprint parts, nil without an id, or the validation error.
func requestTag(ctx context.Context, kind reqKind, db, coll, part string, parts ...[]byte) (*reqTag, error) {
	id := requestIDOf(ctx)
	if id == "" {
		return nil, nil
	}
	if err := ValidateRequestID(id); err != nil {
		return nil, err
	}
	return &reqTag{id: id, fp: fingerprint(kind, db, coll, part, parts...)}, nil
}

// Request table encoding (catalog, after the users; catalog flag 4):
//
//	uv n × (str id, 16 bytes fingerprint, u8 kind, u64 lsn, i64 count,
//	        i64 autoFirst), oldest first
func encodeRequests(w *enc, t *requestTable) {
	w.uv(uint64(t.len()))
	t.each(func(e *reqEntry) {
		w.str(e.id)
		w.b = append(w.b, e.fp[:]...)
		w.u8(uint8(e.kind))
		w.u64(e.lsn)
		w.i64(e.count)
		w.i64(e.autoFirst)
	})
}

func decodeRequests(r *dec) *requestTable {
	n := r.count(1 + 16 + 1 + 24)
	t := &requestTable{byID: make(map[string]*reqEntry, n)}
	for i := 0; i < n && r.err == nil; i++ {
		e := &reqEntry{id: r.str()}
		copy(e.fp[:], r.raw(16))
		e.kind = reqKind(r.u8())
		e.lsn = r.u64()
		e.count = r.i64()
		e.autoFirst = r.i64()
		t.add(e, RequestTableSize)
	}
	return t
}
