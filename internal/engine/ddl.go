package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/merr"
)

// now is the wall clock used for creation times (resolved by writers and
// stored in records, never read by apply).
var now = func() int64 { return time.Now().UnixNano() }

// lookupLocked returns the collection called name, or aliased name, in
// database db (caller holds mu or writeMu).
func (e *Engine) lookupLocked(db, name string) (*collection, error) {
	if _, err := e.cat.db(db); err != nil {
		return nil, err
	}
	k := nameKey(normDB(db), name)
	c, ok := e.cat.byName[k]
	if !ok {
		id, isAlias := e.cat.aliases[k]
		if c, ok = e.cat.colls[id]; !isAlias || !ok {
			return nil, merr.CollectionNotFound(name)
		}
	}
	return c, nil
}

// CreateCollection creates a collection with the default partition.
// Creating an existing collection with an identical schema and options
// succeeds without a change; a different one fails.
func (e *Engine) CreateCollection(ctx context.Context, db string, schema *schemapb.CollectionSchema, opts CreateCollectionOptions) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	db = normDB(db)
	name := schema.GetName()
	if err := validateName("collection name", name); err != nil {
		return err
	}
	norm, err := normalizeSchema(name, schema)
	if err != nil {
		return err
	}
	shards := opts.ShardsNum
	if shards <= 0 {
		shards = 1
	}
	e.writeMu.Lock()
	if _, err := e.cat.db(db); err != nil {
		e.writeMu.Unlock()
		return err
	}
	if _, ok := e.cat.aliases[nameKey(db, name)]; ok {
		e.writeMu.Unlock()
		return merr.WithMessage(merr.ErrUnexpected, fmt.Sprintf("collection name [%s] conflicts with an existing alias, please choose a unique name", name))
	}
	if old, ok := e.cat.byName[nameKey(db, name)]; ok {
		same := proto.Equal(old.schema, norm) && sameKVs(old.props, opts.Properties)
		e.writeMu.Unlock()
		if same {
			return nil
		}
		return merr.Wrapf(merr.ErrParameterInvalid, "create duplicate collection with different parameters, collection: %s", name)
	}
	id := e.cat.nextID
	var props []*commonpb.KeyValuePair
	for _, kv := range opts.Properties {
		props = append(props, &commonpb.KeyValuePair{Key: kv.GetKey(), Value: kv.GetValue()})
	}
	body := &recCreateCollection{
		id: id, db: db, name: name, createdAt: now(), schema: norm, shards: shards,
		consistency: opts.ConsistencyLevel, props: props, defaultPartID: id + 1,
	}
	lsn, err := e.commitLocked(RecCreateCollection, body, 512)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// DropCollection drops a collection and its data. Dropping a collection
// that does not exist (or in a database that does not exist) succeeds
// (as in Milvus); an alias, or a collection that still has aliases, is
// refused.
func (e *Engine) DropCollection(ctx context.Context, db, name string) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	e.writeMu.Lock()
	if _, ok := e.cat.aliases[nameKey(normDB(db), name)]; ok {
		e.writeMu.Unlock()
		return merr.WithMessage(merr.ErrUnexpected, "cannot drop the collection via alias = "+name)
	}
	c, err := e.lookupLocked(db, name)
	if err != nil {
		e.writeMu.Unlock()
		if c := merr.Code(err); c == merr.ErrCollectionNotFound.Code || c == merr.ErrDatabaseNotFound.Code {
			return nil
		}
		return err
	}
	if aliases := e.cat.aliasesOf(c.id); len(aliases) > 0 {
		e.writeMu.Unlock()
		return merr.WithMessage(merr.ErrUnexpected, fmt.Sprintf("unable to drop the collection [%s] because it has associated aliases %v, please remove all aliases before dropping the collection", name, aliases))
	}
	lsn, err := e.commitLocked(RecDropCollection, &recDropCollection{collID: c.id}, 16)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// DescribeCollection returns a collection's description.
func (e *Engine) DescribeCollection(db, name string) (*CollectionInfo, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.lookupLocked(db, name)
	if err != nil {
		return nil, err
	}
	return e.infoLocked(c), nil
}

// ListCollections returns every collection of database db, in creation
// (ID) order.
func (e *Engine) ListCollections(db string) ([]*CollectionInfo, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if _, err := e.cat.db(db); err != nil {
		return nil, err
	}
	db = normDB(db)
	out := []*CollectionInfo{}
	for _, c := range e.cat.sortedColls() {
		if c.db == db {
			out = append(out, e.infoLocked(c))
		}
	}
	return out, nil
}

// infoLocked is c.info() with its aliases (caller holds mu).
func (e *Engine) infoLocked(c *collection) *CollectionInfo {
	ci := c.info()
	ci.Aliases = e.cat.aliasesOf(c.id)
	return ci
}

// CreatePartition adds a partition; an existing name succeeds unchanged.
func (e *Engine) CreatePartition(ctx context.Context, db, coll, part string) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	if err := validateName("partition name", part); err != nil {
		return err
	}
	e.writeMu.Lock()
	c, err := e.lookupLocked(db, coll)
	if err == nil && c.partition(part) != nil {
		e.writeMu.Unlock()
		return nil
	}
	if err == nil && len(c.partitions) >= maxPartitions {
		err = merr.Wrapf(merr.ErrParameterInvalid, "partition number (%d) exceeds max configuration (%d), collection: %s", len(c.partitions), maxPartitions, coll)
	}
	if err != nil {
		e.writeMu.Unlock()
		return err
	}
	body := &recCreatePartition{collID: c.id, partID: e.cat.nextID, name: part, createdAt: now()}
	lsn, err := e.commitLocked(RecCreatePartition, body, 64)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// DropPartition drops a partition and its rows. The default partition
// cannot be dropped, nor a partition of a loaded collection (release it
// first, as in Milvus). A missing partition succeeds unchanged.
func (e *Engine) DropPartition(ctx context.Context, db, coll, part string) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	if part == DefaultPartition {
		return merr.Wrapf(merr.ErrParameterInvalid, "default partition cannot be deleted")
	}
	e.writeMu.Lock()
	c, err := e.lookupLocked(db, coll)
	var p *partition
	if err == nil {
		if p = c.partition(part); p != nil && c.loaded {
			err = merr.Wrapf(merr.ErrParameterInvalid, "partition cannot be dropped, partition is loaded, please release it first")
		}
	}
	if err != nil || p == nil {
		e.writeMu.Unlock()
		return err
	}
	lsn, err := e.commitLocked(RecDropPartition, &recDropPartition{collID: c.id, partID: p.id}, 32)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// ListPartitions returns a collection's partitions in creation order.
func (e *Engine) ListPartitions(db, coll string) ([]PartitionInfo, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.lookupLocked(db, coll)
	if err != nil {
		return nil, err
	}
	out := make([]PartitionInfo, 0, len(c.partitions))
	for _, p := range c.partitions {
		out = append(out, p.info())
	}
	return out, nil
}

var (
	vectorIndexTypes = map[string]bool{"FLAT": true, "HNSW": true, "IVF_FLAT": true, "AUTOINDEX": true}
	// binIndexTypes are BinaryVector's. Both are searched exactly (an
	// exact scan returns what BIN_IVF_FLAT finds at full nprobe).
	binIndexTypes    = map[string]bool{"BIN_FLAT": true, "BIN_IVF_FLAT": true}
	scalarIndexTypes = map[string]bool{"": true, "AUTOINDEX": true, "INVERTED": true, "STL_SORT": true, "TRIE": true, "BITMAP": true}
)

// normalizeIndexParams validates index params for field f and returns the
// stored form: a nested "params" JSON object flattened, index_type and
// metric_type upper-cased, index_type defaulting to AUTOINDEX and (vector
// fields) metric_type to COSINE, as Milvus 2.4+ does.
func normalizeIndexParams(f *fieldInfo, in map[string]string) (map[string]string, error) {
	p := make(map[string]string, len(in)+2)
	for k, v := range in {
		if k == "params" {
			var nested map[string]any
			if err := json.Unmarshal([]byte(v), &nested); err != nil {
				return nil, merr.Wrapf(merr.ErrParameterInvalid, "index params %q are not a JSON object", v)
			}
			for nk, nv := range nested {
				if s, ok := nv.(string); ok {
					p[nk] = s
				} else {
					b, _ := json.Marshal(nv)
					p[nk] = string(b)
				}
			}
			continue
		}
		p[k] = v
	}
	it := strings.ToUpper(strings.TrimSpace(p[paramIndexType]))
	if !f.isVector {
		if !scalarIndexTypes[it] {
			return nil, merr.Wrapf(merr.ErrIndexNotSupported, "invalid index type: %s for scalar field %s", p[paramIndexType], f.name)
		}
		if it == "" {
			it = "AUTOINDEX"
		}
		if err := checkScalarIndex(f, it); err != nil {
			return nil, err
		}
		p[paramIndexType] = it
		delete(p, paramMetricType)
		return p, nil
	}
	if it == "" {
		it = "AUTOINDEX"
	}
	bin := f.typ == schemapb.DataType_BinaryVector
	if !vectorIndexTypes[it] && !binIndexTypes[it] {
		return nil, merr.Wrapf(merr.ErrIndexNotSupported, "invalid index type: %s", p[paramIndexType])
	}
	if it != "AUTOINDEX" && (bin != binIndexTypes[it] || (f.typ == schemapb.DataType_Int8Vector && it != "HNSW")) {
		return nil, merr.WithMessage(merr.ErrParameterInvalid, fmt.Sprintf("data type %s can't build with this index %s", f.typ, it))
	}
	p[paramIndexType] = it
	mt := strings.ToUpper(strings.TrimSpace(p[paramMetricType]))
	if mt == "" {
		mt = "COSINE"
		if bin {
			mt = "HAMMING"
		}
	}
	m, err := distance.ParseMetric(mt)
	if err != nil {
		if bin {
			return nil, merr.WithMessage(merr.ErrParameterInvalid, fmt.Sprintf("binary vector index does not support metric type: %s", p[paramMetricType]))
		}
		return nil, merr.Wrapf(merr.ErrParameterInvalid, "metric type %s not found or not supported, supported: [L2 IP COSINE]", p[paramMetricType])
	}
	if m.Binary() != bin {
		if bin {
			return nil, merr.WithMessage(merr.ErrParameterInvalid, fmt.Sprintf("binary vector index does not support metric type: %s", mt))
		}
		return nil, merr.WithMessage(merr.ErrParameterInvalid, fmt.Sprintf("float vector index does not support metric type: %s", mt))
	}
	p[paramMetricType] = mt
	check := func(key string, lo, hi int) error {
		v, ok := p[key]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return merr.Wrapf(merr.ErrParameterInvalid, "param '%s' (%s) should be in range [%d, %d]", key, v, lo, hi)
		}
		return nil
	}
	switch it {
	case "HNSW":
		if err := check("M", 2, 2048); err != nil {
			return nil, err
		}
		if err := check("efConstruction", 1, 1<<31-1); err != nil {
			return nil, err
		}
	case "IVF_FLAT", "BIN_IVF_FLAT":
		if err := check("nlist", 1, 65536); err != nil {
			return nil, err
		}
	}
	if err := validateVectorIndexParams(p); err != nil {
		return nil, err
	}
	if _, err := parseQuantSpec(p, f.dim); err != nil {
		return nil, err
	}
	return p, nil
}

// CreateIndex records an index; HNSW/IVF_FLAT/AUTOINDEX indexes are then
// built per sealed segment in the background (indexbuild.go). params
// holds index_type, metric_type and the index's own parameters as strings.
// The index name defaults to the field name. Creating the same index again
// succeeds; a different index on an indexed field fails.
func (e *Engine) CreateIndex(ctx context.Context, db, coll, field, indexName string, params map[string]string) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	e.writeMu.Lock()
	lsn, err := e.createIndexLocked(db, coll, field, indexName, params)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

func (e *Engine) createIndexLocked(db, coll, field, indexName string, params map[string]string) (uint64, error) {
	c, err := e.lookupLocked(db, coll)
	if err != nil {
		return 0, err
	}
	fi, ok := c.field(field)
	if !ok {
		return 0, merr.Wrap(merr.ErrFieldNotFound, fmt.Sprintf("cannot create index on non-exist field: %s", field), "field", field)
	}
	f := &c.fields[fi]
	if f.typ == schemapb.DataType_JSON {
		return 0, merr.Wrapf(merr.ErrIndexNotSupported, "index on JSON field %s is not supported", field)
	}
	if indexName == "" {
		indexName = field
	}
	norm, err := normalizeIndexParams(f, params)
	if err != nil {
		return 0, err
	}
	if old := c.indexOn(f.id); old != nil {
		if old.name == indexName && maps.Equal(old.params, norm) {
			return 0, nil
		}
		return 0, merr.Wrapf(merr.ErrIndexDuplicate, "at most one distinct index is allowed per field")
	}
	for _, ix := range c.indexes {
		if ix.name == indexName {
			return 0, merr.Wrapf(merr.ErrIndexDuplicate, "index name %s is already used on another field", indexName)
		}
	}
	body := &recCreateIndex{collID: c.id, indexID: e.cat.nextID, name: indexName, fieldID: f.id, params: norm}
	return e.commitLocked(RecCreateIndex, body, 256)
}

// DescribeIndex lists indexes; empty field and indexName mean all.
func (e *Engine) DescribeIndex(db, coll, field, indexName string) ([]IndexInfo, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	vis := e.visibleLSN()
	e.mu.RLock()
	c, err := e.lookupLocked(db, coll)
	if err != nil {
		e.mu.RUnlock()
		return nil, err
	}
	var out []IndexInfo
	for _, ix := range c.indexes {
		fi, _ := c.fieldByID(ix.fieldID)
		f := c.fields[fi]
		if (field != "" && f.name != field) || (indexName != "" && ix.name != indexName) {
			continue
		}
		out = append(out, IndexInfo{
			IndexName: ix.name, FieldName: f.name, FieldID: f.id, IndexID: ix.id,
			Params: maps.Clone(ix.params), State: commonpb.IndexState_Finished,
		})
	}
	snaps := e.snapshotLocked(c, nil, vis)
	e.mu.RUnlock()
	if len(out) == 0 {
		return nil, merr.Wrap(merr.ErrIndexNotFound, "", "collection", coll)
	}
	e.fillIndexProgress(c, snaps, out)
	return out, nil
}

// DropIndex drops the index named indexName (or the index on field when
// indexName is empty). The collection must be released first, as in
// Milvus. Dropping a missing index succeeds unchanged.
func (e *Engine) DropIndex(ctx context.Context, db, coll, field, indexName string) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	e.writeMu.Lock()
	c, err := e.lookupLocked(db, coll)
	if err != nil {
		e.writeMu.Unlock()
		return err
	}
	var target *indexMeta
	for _, ix := range c.indexes {
		fi, _ := c.fieldByID(ix.fieldID)
		if (indexName != "" && ix.name == indexName) || (indexName == "" && field != "" && c.fields[fi].name == field) {
			target = ix
			break
		}
	}
	if target == nil {
		e.writeMu.Unlock()
		return nil
	}
	if c.loaded {
		e.writeMu.Unlock()
		return merr.Wrapf(merr.ErrParameterInvalid, "index cannot be dropped, collection is loaded, please release it first")
	}
	lsn, err := e.commitLocked(RecDropIndex, &recDropIndex{collID: c.id, indexID: target.id}, 32)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// LoadCollection marks a collection loaded (searchable). Every vector
// field needs an index, as in Milvus.
func (e *Engine) LoadCollection(ctx context.Context, db, coll string) error {
	return e.setLoaded(ctx, db, coll, true)
}

// ReleaseCollection marks a collection released.
func (e *Engine) ReleaseCollection(ctx context.Context, db, coll string) error {
	return e.setLoaded(ctx, db, coll, false)
}

func (e *Engine) setLoaded(ctx context.Context, db, coll string, load bool) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	e.writeMu.Lock()
	c, err := e.lookupLocked(db, coll)
	if err != nil {
		e.writeMu.Unlock()
		return err
	}
	if load {
		for _, vi := range c.vectorFields() {
			if c.indexOn(c.fields[vi].id) == nil {
				e.writeMu.Unlock()
				return merr.Wrap(merr.ErrIndexNotFound,
					fmt.Sprintf("there is no vector index on field: [%s], please create index firstly", c.fields[vi].name),
					"collection", coll)
			}
		}
	}
	if c.loaded == load {
		e.writeMu.Unlock()
		return nil
	}
	typ := RecRelease
	if load {
		typ = RecLoad
	}
	lsn, err := e.commitLocked(typ, &recLoad{collID: c.id, load: load}, 16)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// GetLoadState reports Loaded or NotLoad.
func (e *Engine) GetLoadState(db, coll string) (LoadState, error) {
	if err := e.check(); err != nil {
		return 0, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.lookupLocked(db, coll)
	if err != nil {
		return 0, err
	}
	if c.loaded {
		return commonpb.LoadState_LoadStateLoaded, nil
	}
	return commonpb.LoadState_LoadStateNotLoad, nil
}

// CollectionStats returns the number of visible live rows.
func (e *Engine) CollectionStats(db, coll string) (Stats, error) {
	if err := e.check(); err != nil {
		return Stats{}, err
	}
	vis := e.visibleLSN()
	e.mu.RLock()
	c, err := e.lookupLocked(db, coll)
	if err != nil {
		e.mu.RUnlock()
		return Stats{}, err
	}
	snaps := e.snapshotLocked(c, nil, vis)
	e.mu.RUnlock()
	return Stats{RowCount: countLive(snaps)}, nil
}

// WriteEpochStart appends an epoch-start record (used by HA on promotion)
// and returns its LSN.
func (e *Engine) WriteEpochStart(ctx context.Context, epoch uint64) (uint64, error) {
	if err := e.check(); err != nil {
		return 0, err
	}
	e.writeMu.Lock()
	lsn, err := e.commitLocked(RecEpochStart, &recEpochStart{epoch: epoch}, 16)
	e.writeMu.Unlock()
	if err != nil {
		return 0, err
	}
	return lsn, e.waitDurable(ctx, lsn)
}

// snapshotLocked snapshots the segments of the named partitions of c (all
// when parts is empty) at visible LSN vis. Caller holds mu.RLock (or
// writeMu).
func (e *Engine) snapshotLocked(c *collection, parts []*partition, vis uint64) []segSnap {
	if parts == nil {
		parts = c.partitions
	}
	var out []segSnap
	for _, p := range parts {
		for _, s := range p.segs {
			if ss := s.snapshot(vis); ss.n > 0 {
				out = append(out, ss)
			}
		}
	}
	return out
}

// resolvePartitions maps partition names to partitions (nil = all).
func resolvePartitions(c *collection, names []string) ([]*partition, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out := make([]*partition, 0, len(names))
	seen := map[*partition]bool{}
	for _, n := range names {
		p := c.partition(n)
		if p == nil {
			return nil, merr.PartitionNotFound(n)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	// Scan in creation order regardless of request order.
	order := map[*partition]int{}
	for i, p := range c.partitions {
		order[p] = i
	}
	sort.Slice(out, func(i, j int) bool { return order[out[i]] < order[out[j]] })
	return out, nil
}

// countLive counts the rows live at each snapshot's LSN.
func countLive(snaps []segSnap) int64 {
	var n int64
	for i := range snaps {
		ss := &snaps[i]
		if !ss.deletes {
			n += int64(ss.n)
			continue
		}
		for row := 0; row < ss.n; row++ {
			if ss.live(row) {
				n++
			}
		}
	}
	return n
}
