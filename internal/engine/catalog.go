package engine

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/expr"
	"github.com/tandem-db/tandem/internal/index/distance"
)

// catalog is the replicated metadata: every field of it is changed only by
// apply, from record contents, so two nodes applying the same log hold equal
// catalogs. Guarded by Engine.mu (apply holds mu.Lock; readers mu.RLock;
// writers holding Engine.writeMu may read without mu).
type catalog struct {
	// nextID is the next free collection/partition/index ID. Writers
	// allocate IDs from it and put them in records; apply advances it past
	// every ID it sees.
	nextID int64
	colls  map[int64]*collection
	// byName maps nameKey(db, name) to the collection (database.go).
	byName map[string]*collection
	// dbs are the databases by name; "default" is always there.
	dbs map[string]*database
	// aliases maps nameKey(db, alias) to a collection ID.
	aliases map[string]int64
	// epochs is the epoch history: the LSN at which each epoch began.
	epochs []epochMark
	// upstream is the last upstream record applied (upstream.go); zero
	// on a deployment that never subscribed.
	upstream UpstreamPos
	// users maps a user name to its password hash (credential.go).
	users map[string]string
	// requests is the request table of recent tagged writes (request.go);
	// nil until the first one.
	requests *requestTable
}

// epochMark records that epoch Epoch began at LSN LSN.
type epochMark struct{ Epoch, LSN uint64 }

func newCatalog() *catalog {
	return &catalog{
		nextID: 1, colls: map[int64]*collection{}, byName: map[string]*collection{},
		dbs:     map[string]*database{DefaultDB: {id: DefaultDBID, name: DefaultDB}},
		aliases: map[string]int64{},
	}
}

// sortedColls returns the collections in ID order.
func (c *catalog) sortedColls() []*collection {
	out := make([]*collection, 0, len(c.colls))
	for _, col := range c.colls {
		out = append(out, col)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (c *catalog) bumpID(id int64) {
	if id >= c.nextID {
		c.nextID = id + 1
	}
}

// collection is one collection's catalog entry and row index. The schema
// and the derived field list are immutable after creation; partitions,
// indexes and loaded change by apply under Engine.mu.
type collection struct {
	id          int64
	db          string // its database (changed by a rename, database.go)
	name        string
	createdAt   int64 // unix nanoseconds, from the create record
	schema      *schemapb.CollectionSchema
	shards      int32
	consistency commonpb.ConsistencyLevel
	props       []*commonpb.KeyValuePair

	fields     []fieldInfo // parallel to schema.Fields
	pk         int         // index of the primary key in fields
	dyn        int         // index of the "$meta" field, -1 if none
	exprSchema *expr.Schema

	partitions []*partition // creation order; replaced (copy-on-write) on change
	indexes    []*indexMeta // creation order; replaced on change
	loaded     bool
	// autoIDNext is the next auto-generated primary key (auto_id only).
	autoIDNext int64

	// Row index: primary key -> location of its one live row (applied, not
	// necessarily visible). Only writers (under Engine.writeMu) use it.
	pkInt    map[int64]rowLoc
	pkStr    map[string]rowLoc
	liveRows int64 // live rows applied (not necessarily visible)
}

// rowLoc locates a row: segment and row number within it.
type rowLoc struct {
	seg *segment
	row int32
}

// fieldInfo is the engine's digest of one schema field.
type fieldInfo struct {
	id       int64
	name     string
	typ      schemapb.DataType
	elem     schemapb.DataType // Array element type
	dim      int               // vector dimension (elements; bits for BinaryVector)
	maxLen   int               // VarChar (and VarChar array element) max bytes
	maxCap   int               // Array max capacity
	isPK     bool
	autoID   bool
	isDyn    bool
	isVector bool
	nullable bool
	def      *schemapb.ValueField // default value, or nil
}

// partition is a named set of segments.
type partition struct {
	id        int64
	name      string
	createdAt int64 // unix nanoseconds
	// segs are in creation order; only the last may be growing. Replaced
	// or appended under Engine.mu.Lock; readers copy it under RLock.
	segs []*segment
}

// indexMeta is an index recorded on a field. params is immutable.
type indexMeta struct {
	id      int64
	name    string
	fieldID int64
	params  map[string]string
	metric  distance.Metric // vector indexes only
}

// newCollection builds a collection entry from a normalized schema (field
// IDs assigned, "$meta" appended when dynamic).
func newCollection(id int64, name string, createdAt int64, schema *schemapb.CollectionSchema) (*collection, error) {
	c := &collection{
		id: id, db: DefaultDB, name: name, createdAt: createdAt, schema: schema,
		pk: -1, dyn: -1,
		autoIDNext: autoIDBase(createdAt),
	}
	es := &expr.Schema{}
	for i, f := range schema.GetFields() {
		fi := fieldInfo{
			id: f.GetFieldID(), name: f.GetName(), typ: f.GetDataType(), elem: f.GetElementType(),
			isPK: f.GetIsPrimaryKey(), autoID: f.GetAutoID(), isDyn: f.GetIsDynamic(),
			isVector: isVectorType(f.GetDataType()),
			nullable: f.GetNullable(), def: f.GetDefaultValue(),
		}
		for _, kv := range f.GetTypeParams() {
			n, _ := strconv.Atoi(kv.GetValue())
			switch kv.GetKey() {
			case "dim":
				fi.dim = n
			case "max_length":
				fi.maxLen = n
			case "max_capacity":
				fi.maxCap = n
			}
		}
		if fi.isPK {
			c.pk = i
		}
		if fi.isDyn {
			c.dyn = i
			es.DynamicField = fi.name
		} else {
			es.Fields = append(es.Fields, expr.Field{Name: fi.name, Type: fi.typ, ElementType: fi.elem, IsPrimary: fi.isPK})
		}
		c.fields = append(c.fields, fi)
	}
	if c.pk < 0 {
		return nil, fmt.Errorf("engine: collection %q has no primary key", name)
	}
	c.exprSchema = es
	if c.fields[c.pk].typ == schemapb.DataType_Int64 {
		c.pkInt = map[int64]rowLoc{}
	} else {
		c.pkStr = map[string]rowLoc{}
	}
	return c, nil
}

// autoIDBase is the first auto-generated primary key of a collection
// created at createdAt (unix ns): like Milvus's TSO-based IDs, the physical
// milliseconds shifted left by 18 bits, so IDs are large, increasing and
// deterministic.
func autoIDBase(createdAt int64) int64 {
	ms := createdAt / int64(time.Millisecond)
	if ms < 0 {
		ms = 0
	}
	return ms << 18
}

func (c *collection) field(name string) (int, bool) {
	for i := range c.fields {
		if c.fields[i].name == name && !c.fields[i].isDyn {
			return i, true
		}
	}
	return -1, false
}

func (c *collection) fieldByID(id int64) (int, bool) {
	for i := range c.fields {
		if c.fields[i].id == id {
			return i, true
		}
	}
	return -1, false
}

func (c *collection) partition(name string) *partition {
	for _, p := range c.partitions {
		if p.name == name {
			return p
		}
	}
	return nil
}

func (c *collection) partitionByID(id int64) *partition {
	for _, p := range c.partitions {
		if p.id == id {
			return p
		}
	}
	return nil
}

// indexOn returns the index on field id, or nil.
func (c *collection) indexOn(fieldID int64) *indexMeta {
	for _, ix := range c.indexes {
		if ix.fieldID == fieldID {
			return ix
		}
	}
	return nil
}

// vectorFields returns the indexes (into fields) of the vector fields.
func (c *collection) vectorFields() []int {
	var out []int
	for i := range c.fields {
		if c.fields[i].isVector {
			out = append(out, i)
		}
	}
	return out
}

// info converts c to the public CollectionInfo (caller holds Engine.mu).
func (c *collection) info() *CollectionInfo {
	ci := &CollectionInfo{
		ID: c.id, DB: c.db, Name: c.name, Schema: c.schema,
		CreatedAt: time.Unix(0, c.createdAt), ShardsNum: c.shards,
		ConsistencyLevel: c.consistency, Properties: c.props, Loaded: c.loaded,
	}
	for _, p := range c.partitions {
		ci.Partitions = append(ci.Partitions, p.info())
	}
	return ci
}

func (p *partition) info() PartitionInfo {
	return PartitionInfo{ID: p.id, Name: p.name, CreatedAt: time.Unix(0, p.createdAt)}
}

// Catalog encoding (in the manifest, and hashed by the state digest):
//
//	u32 version (1), i64 nextID,
//	uv n × (u64 epoch, u64 lsn)                          epoch history
//	uv n × collection, in ID order:
//	  i64 id, str name, i64 createdAt, bytes schema (deterministic proto),
//	  u32 shards, u32 consistency, uv n × (str key, str value) properties,
//	  bool loaded, i64 autoIDNext,
//	  uv n × (i64 id, str name, i64 createdAt)            partitions
//	  uv n × (i64 id, str name, i64 fieldID,
//	          uv n × (str key, str value) sorted by key)  indexes
//
// Version 2 (only when the upstream position is set, upstream.go) appends
// str source, u64 epoch, u64 lsn. Versions 3 and 4 are 1 and 2 followed
// by the users (only when there are users, credential.go): uv n ×
// (str user, str hash), sorted by user. Versions 5 to 8 are 1 to 4
// followed by the request table (only when it has entries, request.go).
// So version-1 is a bit set: 1 upstream, 2 users, 4 requests; 32
// (catalogDBFlag) appends the databases and aliases after everything
// else (database.go).
const catalogVersion = 1

// catalogUsersFlag is added to the version when users follow.
const catalogUsersFlag = 2

// catalogRequestsFlag is added to the version when the request table
// follows.
const catalogRequestsFlag = 4

func (c *catalog) encode(w *enc) error {
	v := uint32(catalogVersion)
	if !c.upstream.IsZero() {
		v++
	}
	if len(c.users) > 0 {
		v += catalogUsersFlag
	}
	if c.requests.len() > 0 {
		v += catalogRequestsFlag
	}
	if c.hasDBSection() {
		v += catalogDBFlag
	}
	w.u32(v)
	w.i64(c.nextID)
	w.uv(uint64(len(c.epochs)))
	for _, e := range c.epochs {
		w.u64(e.Epoch)
		w.u64(e.LSN)
	}
	colls := c.sortedColls()
	w.uv(uint64(len(colls)))
	for _, col := range colls {
		w.i64(col.id)
		w.str(col.name)
		w.i64(col.createdAt)
		sb, err := proto.MarshalOptions{Deterministic: true}.Marshal(col.schema)
		if err != nil {
			return fmt.Errorf("engine: encode schema of %q: %w", col.name, err)
		}
		w.bytes(sb)
		w.u32(uint32(col.shards))
		w.u32(uint32(col.consistency))
		encodeKVs(w, col.props)
		w.bool(col.loaded)
		w.i64(col.autoIDNext)
		w.uv(uint64(len(col.partitions)))
		for _, p := range col.partitions {
			w.i64(p.id)
			w.str(p.name)
			w.i64(p.createdAt)
		}
		w.uv(uint64(len(col.indexes)))
		for _, ix := range col.indexes {
			w.i64(ix.id)
			w.str(ix.name)
			w.i64(ix.fieldID)
			encodeParams(w, ix.params)
		}
	}
	if !c.upstream.IsZero() {
		w.str(c.upstream.Source)
		w.u64(c.upstream.Epoch)
		w.u64(c.upstream.LSN)
	}
	if len(c.users) > 0 {
		encodeUsers(w, c.users)
	}
	if c.requests.len() > 0 {
		encodeRequests(w, c.requests)
	}
	if c.hasDBSection() {
		c.encodeDBSection(w)
	}
	return nil
}

func encodeKVs(w *enc, kvs []*commonpb.KeyValuePair) {
	w.uv(uint64(len(kvs)))
	for _, kv := range kvs {
		w.str(kv.GetKey())
		w.str(kv.GetValue())
	}
}

func decodeKVs(r *dec) []*commonpb.KeyValuePair {
	n := r.count(2)
	var out []*commonpb.KeyValuePair
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, &commonpb.KeyValuePair{Key: r.str(), Value: r.str()})
	}
	return out
}

func encodeParams(w *enc, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.uv(uint64(len(keys)))
	for _, k := range keys {
		w.str(k)
		w.str(m[k])
	}
}

func decodeParams(r *dec) map[string]string {
	n := r.count(2)
	m := make(map[string]string, n)
	for i := 0; i < n && r.err == nil; i++ {
		k := r.str()
		m[k] = r.str()
	}
	return m
}

// decodeCatalog reads what encode wrote. Collections have no segments and
// empty row indexes.
func decodeCatalog(r *dec) (*catalog, error) {
	c := newCatalog()
	v := r.u32()
	if r.err == nil && (v < catalogVersion || (v-catalogVersion)&^uint32(1|catalogUsersFlag|catalogRequestsFlag|catalogDBFlag) != 0) {
		return nil, fmt.Errorf("engine: catalog version %d not supported", v)
	}
	flags := v - catalogVersion
	dbSection := flags&catalogDBFlag != 0
	users := flags&catalogUsersFlag != 0
	requests := flags&catalogRequestsFlag != 0
	upstream := flags&1 != 0
	c.nextID = r.i64()
	ne := r.count(16)
	for i := 0; i < ne && r.err == nil; i++ {
		c.epochs = append(c.epochs, epochMark{Epoch: r.u64(), LSN: r.u64()})
	}
	nc := r.count(8)
	for i := 0; i < nc && r.err == nil; i++ {
		id, name, createdAt := r.i64(), r.str(), r.i64()
		sb := r.bytes()
		if r.err != nil {
			break
		}
		schema := &schemapb.CollectionSchema{}
		if err := proto.Unmarshal(sb, schema); err != nil {
			return nil, fmt.Errorf("engine: decode schema of %q: %w", name, err)
		}
		col, err := newCollection(id, name, createdAt, schema)
		if err != nil {
			return nil, err
		}
		col.shards = int32(r.u32())
		col.consistency = commonpb.ConsistencyLevel(r.u32())
		col.props = decodeKVs(r)
		col.loaded = r.bool()
		col.autoIDNext = r.i64()
		np := r.count(8)
		for j := 0; j < np && r.err == nil; j++ {
			col.partitions = append(col.partitions, &partition{id: r.i64(), name: r.str(), createdAt: r.i64()})
		}
		ni := r.count(8)
		for j := 0; j < ni && r.err == nil; j++ {
			ix := &indexMeta{id: r.i64(), name: r.str(), fieldID: r.i64(), params: decodeParams(r)}
			ix.metric, _ = distance.ParseMetric(ix.params[paramMetricType])
			col.indexes = append(col.indexes, ix)
		}
		c.colls[col.id] = col
		c.byName[nameKey(col.db, col.name)] = col
	}
	if upstream {
		c.upstream = UpstreamPos{Source: r.str(), Epoch: r.u64(), LSN: r.u64()}
	}
	if users {
		c.users = decodeUsers(r)
	}
	if requests {
		c.requests = decodeRequests(r)
	}
	if dbSection {
		if err := c.decodeDBSection(r); err != nil {
			return nil, err
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("engine: decode catalog: %w", r.err)
	}
	return c, nil
}
