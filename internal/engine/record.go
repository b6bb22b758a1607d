package engine

import (
	"encoding/binary"
	"fmt"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/wal"
)

// WAL record types written by the engine. Every state change is exactly
// one record; the payload formats are documented on the record bodies
// below. All integers are little-endian (see enc).
const (
	RecEpochStart       wal.RecordType = 1
	RecCreateCollection wal.RecordType = 2
	RecDropCollection   wal.RecordType = 3
	RecCreatePartition  wal.RecordType = 4
	RecDropPartition    wal.RecordType = 5
	RecCreateIndex      wal.RecordType = 6
	RecDropIndex        wal.RecordType = 7
	RecLoad             wal.RecordType = 8
	RecRelease          wal.RecordType = 9
	RecInsert           wal.RecordType = 10
	RecUpsert           wal.RecordType = 11
	RecDelete           wal.RecordType = 12
)

// recordVersion is the first byte of every payload: 1, or
// recordVersionTagged for an Insert, Upsert or Delete record that carries
// a request id (request.go). A tagged payload is the version-1 payload
// followed by the tag:
//
//	str request id, 16 bytes request fingerprint
//
// Version-1 records (every record written before request ids existed)
// decode as before and carry no id.
const (
	recordVersion       = 1
	recordVersionTagged = 2
)

// tagged is a record body that may carry a request id.
type tagged interface{ tag() *reqTag }

func encodeTag(w *enc, t *reqTag) {
	w.str(t.id)
	w.b = append(w.b, t.fp[:]...)
}

func decodeTag(r *dec) *reqTag {
	t := &reqTag{id: r.str()}
	copy(t.fp[:], r.raw(16))
	return t
}

// recBody is a decoded record payload.
type recBody interface {
	encode(w *enc) error
}

// recEpochStart: u64 epoch. Marks the first record of an epoch.
type recEpochStart struct{ epoch uint64 }

func (b *recEpochStart) encode(w *enc) error { w.u64(b.epoch); return nil }

// recCreateCollection: i64 id, str name, i64 createdAt (unix ns),
// bytes schema (deterministic proto, field IDs assigned, "$meta" present
// when dynamic), u32 shards, u32 consistency, kvs properties,
// i64 default partition ID.
type recCreateCollection struct {
	id, createdAt int64
	db            string // "" or "default": version 1; else version 3 (database.go)
	name          string
	schema        *schemapb.CollectionSchema
	shards        int32
	consistency   commonpb.ConsistencyLevel
	props         []*commonpb.KeyValuePair
	defaultPartID int64
}

func (b *recCreateCollection) encode(w *enc) error {
	w.i64(b.id)
	w.str(b.name)
	w.i64(b.createdAt)
	sb, err := proto.MarshalOptions{Deterministic: true}.Marshal(b.schema)
	if err != nil {
		return fmt.Errorf("engine: encode schema: %w", err)
	}
	w.bytes(sb)
	w.u32(uint32(b.shards))
	w.u32(uint32(b.consistency))
	encodeKVs(w, b.props)
	w.i64(b.defaultPartID)
	return nil
}

// recDropCollection: i64 collection ID.
type recDropCollection struct{ collID int64 }

func (b *recDropCollection) encode(w *enc) error { w.i64(b.collID); return nil }

// recCreatePartition: i64 collection ID, i64 partition ID, str name,
// i64 createdAt.
type recCreatePartition struct {
	collID, partID, createdAt int64
	name                      string
}

func (b *recCreatePartition) encode(w *enc) error {
	w.i64(b.collID)
	w.i64(b.partID)
	w.str(b.name)
	w.i64(b.createdAt)
	return nil
}

// recDropPartition: i64 collection ID, i64 partition ID.
type recDropPartition struct{ collID, partID int64 }

func (b *recDropPartition) encode(w *enc) error { w.i64(b.collID); w.i64(b.partID); return nil }

// recCreateIndex: i64 collection ID, i64 index ID, str name, i64 field ID,
// params (uv n × (str, str), sorted by key).
type recCreateIndex struct {
	collID, indexID, fieldID int64
	name                     string
	params                   map[string]string
}

func (b *recCreateIndex) encode(w *enc) error {
	w.i64(b.collID)
	w.i64(b.indexID)
	w.str(b.name)
	w.i64(b.fieldID)
	encodeParams(w, b.params)
	return nil
}

// recDropIndex: i64 collection ID, i64 index ID.
type recDropIndex struct{ collID, indexID int64 }

func (b *recDropIndex) encode(w *enc) error { w.i64(b.collID); w.i64(b.indexID); return nil }

// recLoad (types RecLoad and RecRelease): i64 collection ID.
type recLoad struct {
	collID int64
	load   bool // from the record type
}

func (b *recLoad) encode(w *enc) error { w.i64(b.collID); return nil }

// recInsert (types RecInsert and RecUpsert):
//
//	i64 collection ID, i64 partition ID, u32 rows, i64 autoFirst,
//	uv ncols, ncols × column (see colData)
//	[tag, in a version-2 record]
//
// autoFirst != 0 means the primary key is auto-generated: row i gets
// autoFirst+i and the pk column is absent. autoFirst sits at a fixed
// offset (insertAutoFirstOffset) so that a writer can encode the payload
// before taking the write lock and patch the IDs in under it.
//
// Apply semantics (both types): each row supersedes the live row with the
// same primary key, if any (its delete LSN becomes this record's LSN);
// within one record a later row supersedes an earlier one.
type recInsert struct {
	collID, partID int64
	rows           int
	autoFirst      int64
	cols           []colData
	upsert         bool    // from the record type
	req            *reqTag // nil: no request id
}

func (b *recInsert) tag() *reqTag { return b.req }

// insertAutoFirstOffset is the payload offset of recInsert.autoFirst
// (after the version byte, two i64s and a u32).
const insertAutoFirstOffset = 1 + 8 + 8 + 4

// encodedSize bounds the encoded body's size.
func (b *recInsert) encodedSize() int {
	size := 8 + 8 + 4 + 8 + binary.MaxVarintLen64
	for _, c := range b.cols {
		size += encodedColSize(c, b.rows)
	}
	return size
}

func (b *recInsert) encode(w *enc) error {
	w.i64(b.collID)
	w.i64(b.partID)
	w.u32(uint32(b.rows))
	w.i64(b.autoFirst)
	w.uv(uint64(len(b.cols)))
	for _, c := range b.cols {
		if err := encodeCol(w, c, b.rows); err != nil {
			return err
		}
	}
	return nil
}

// recDelete: i64 collection ID, i64 partition ID (0 = any), u8 key kind
// (0 int64, 1 string), uv n, n keys (i64 or str), [tag, in a version-2
// record]. Apply deletes the live row of each key (restricted to the
// partition when given).
type recDelete struct {
	collID, partID int64
	ints           []int64
	strs           []string
	isStr          bool
	req            *reqTag // nil: no request id
}

func (b *recDelete) tag() *reqTag { return b.req }

func (b *recDelete) encode(w *enc) error {
	w.i64(b.collID)
	w.i64(b.partID)
	if b.isStr {
		w.u8(1)
		w.uv(uint64(len(b.strs)))
		for _, s := range b.strs {
			w.str(s)
		}
	} else {
		w.u8(0)
		w.uv(uint64(len(b.ints)))
		for _, v := range b.ints {
			w.i64(v)
		}
	}
	return nil
}

// encodeRecord returns the payload of body: the version byte, the body,
// and the request tag if body carries one.
func encodeRecord(body recBody, sizeHint int) ([]byte, error) {
	w := &enc{b: make([]byte, 0, sizeHint+64+MaxRequestIDLen+32)}
	var t *reqTag
	if tb, ok := body.(tagged); ok {
		t = tb.tag()
	}
	cc, _ := body.(*recCreateCollection)
	withDB := cc != nil && normDB(cc.db) != DefaultDB
	switch {
	case t != nil:
		w.u8(recordVersionTagged)
	case withDB:
		w.u8(recordVersionDB)
	default:
		w.u8(recordVersion)
	}
	if err := body.encode(w); err != nil {
		return nil, err
	}
	if t != nil {
		encodeTag(w, t)
	}
	if withDB {
		w.str(cc.db)
	}
	return w.b, nil
}

// appendTag turns the untagged payload of an Insert, Upsert or Delete
// record into the tagged payload carrying t (payload's capacity, from
// encodeRecord, leaves room for it).
func appendTag(payload []byte, t *reqTag) []byte {
	w := &enc{b: payload}
	w.b[0] = recordVersionTagged
	encodeTag(w, t)
	return w.b
}

// decodeRecord parses a payload of type typ. Vector data in the result may
// alias payload.
func decodeRecord(typ wal.RecordType, payload []byte) (recBody, error) {
	r := &dec{b: payload}
	v := r.u8()
	switch {
	case r.err != nil, v == recordVersion:
	case v == recordVersionTagged && (typ == RecInsert || typ == RecUpsert || typ == RecDelete):
	case v == recordVersionDB && typ == RecCreateCollection:
	default:
		return nil, fmt.Errorf("engine: record version %d not supported for type %d", v, typ)
	}
	var body recBody
	switch typ {
	case RecEpochStart:
		body = &recEpochStart{epoch: r.u64()}
	case RecCreateCollection:
		b := &recCreateCollection{id: r.i64(), name: r.str(), createdAt: r.i64()}
		sb := r.bytes()
		if r.err == nil {
			b.schema = &schemapb.CollectionSchema{}
			if err := proto.Unmarshal(sb, b.schema); err != nil {
				return nil, fmt.Errorf("engine: decode create collection schema: %w", err)
			}
		}
		b.shards = int32(r.u32())
		b.consistency = commonpb.ConsistencyLevel(r.u32())
		b.props = decodeKVs(r)
		b.defaultPartID = r.i64()
		if v == recordVersionDB {
			b.db = r.str()
		}
		body = b
	case RecDropCollection:
		body = &recDropCollection{collID: r.i64()}
	case RecCreatePartition:
		body = &recCreatePartition{collID: r.i64(), partID: r.i64(), name: r.str(), createdAt: r.i64()}
	case RecDropPartition:
		body = &recDropPartition{collID: r.i64(), partID: r.i64()}
	case RecCreateIndex:
		body = &recCreateIndex{collID: r.i64(), indexID: r.i64(), name: r.str(), fieldID: r.i64(), params: decodeParams(r)}
	case RecDropIndex:
		body = &recDropIndex{collID: r.i64(), indexID: r.i64()}
	case RecLoad, RecRelease:
		body = &recLoad{collID: r.i64(), load: typ == RecLoad}
	case RecInsert, RecUpsert:
		b := &recInsert{collID: r.i64(), partID: r.i64(), rows: int(r.u32()), autoFirst: r.i64(), upsert: typ == RecUpsert}
		nc := r.count(9)
		for i := 0; i < nc && r.err == nil; i++ {
			b.cols = append(b.cols, decodeCol(r, b.rows))
		}
		if v == recordVersionTagged {
			b.req = decodeTag(r)
		}
		body = b
	case RecDelete:
		b := &recDelete{collID: r.i64(), partID: r.i64()}
		b.isStr = r.u8() == 1
		if b.isStr {
			n := r.count(1)
			b.strs = make([]string, 0, n)
			for i := 0; i < n && r.err == nil; i++ {
				b.strs = append(b.strs, r.str())
			}
		} else {
			n := r.count(8)
			b.ints = make([]int64, 0, n)
			for i := 0; i < n && r.err == nil; i++ {
				b.ints = append(b.ints, r.i64())
			}
		}
		if v == recordVersionTagged {
			b.req = decodeTag(r)
		}
		body = b
	case RecCredential:
		body = decodeCredential(r) // credential.go
	case RecCompact:
		body = &recCompact{collID: r.i64()} // compact.go
	case RecAlterCollection:
		b, err := decodeAlterCollection(r) // schemachange.go
		if err != nil {
			return nil, err
		}
		body = b
	case RecUpstream:
		b, err := decodeUpstream(r) // upstream.go
		if err != nil {
			return nil, fmt.Errorf("engine: decode upstream record: %w", err)
		}
		body = b
	default:
		b, ok := decodeDBRecord(typ, r) // database.go
		if !ok {
			return nil, fmt.Errorf("engine: unknown record type %d", typ)
		}
		body = b
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("engine: decode record type %d: %w", typ, err)
	}
	return body, nil
}
