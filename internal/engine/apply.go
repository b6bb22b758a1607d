package engine

import (
	"fmt"
	"slices"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/index/distance"
)

// apply changes the in-memory state by one record at lsn. It is the only
// function that changes replicated state, and it is deterministic: it reads
// only the record and the current state (no clock, no randomness, no map
// iteration order reaches the result). It checks every precondition before
// mutating anything, so a rejected record leaves the state unchanged.
//
// The caller holds Engine.mu.Lock and Engine.writeMu (or is recovering,
// single-threaded), and stores lsn into Engine.applied afterwards.
func (e *Engine) apply(lsn uint64, body recBody) error {
	cat := e.cat
	switch b := body.(type) {
	case *recEpochStart:
		cat.epochs = append(cat.epochs, epochMark{Epoch: b.epoch, LSN: lsn})
		return nil

	case *recCreateCollection:
		if _, ok := cat.colls[b.id]; ok {
			return fmt.Errorf("engine: apply create collection: id %d exists", b.id)
		}
		db := normDB(b.db)
		if _, ok := cat.dbs[db]; !ok {
			return fmt.Errorf("engine: apply create collection: database %q not found", db)
		}
		if _, ok := cat.byName[nameKey(db, b.name)]; ok {
			return fmt.Errorf("engine: apply create collection: name %q exists", b.name)
		}
		c, err := newCollection(b.id, b.name, b.createdAt, b.schema)
		if err != nil {
			return err
		}
		c.db = db
		c.shards, c.consistency, c.props = b.shards, b.consistency, b.props
		c.partitions = []*partition{{id: b.defaultPartID, name: DefaultPartition, createdAt: b.createdAt}}
		cat.colls[c.id] = c
		cat.byName[nameKey(db, c.name)] = c
		cat.bumpID(b.id)
		cat.bumpID(b.defaultPartID)
		return nil

	case *recDropCollection:
		c, err := cat.get(b.collID)
		if err != nil {
			return err
		}
		delete(cat.colls, c.id)
		delete(cat.byName, nameKey(c.db, c.name))
		for k, id := range cat.aliases {
			if id == c.id {
				delete(cat.aliases, k)
			}
		}
		return nil

	case *recCreatePartition:
		c, err := cat.get(b.collID)
		if err != nil {
			return err
		}
		if c.partition(b.name) != nil || c.partitionByID(b.partID) != nil {
			return fmt.Errorf("engine: apply create partition: %q exists", b.name)
		}
		parts := slices.Clone(c.partitions)
		c.partitions = append(parts, &partition{id: b.partID, name: b.name, createdAt: b.createdAt})
		cat.bumpID(b.partID)
		return nil

	case *recDropPartition:
		c, err := cat.get(b.collID)
		if err != nil {
			return err
		}
		p := c.partitionByID(b.partID)
		if p == nil {
			return fmt.Errorf("engine: apply drop partition: id %d not found", b.partID)
		}
		// Forget the partition's live rows in the row index.
		for _, s := range p.segs {
			for row := 0; row < s.rows; row++ {
				if s.deleteLSN(row) != 0 {
					continue
				}
				c.forgetPK(s, row)
				c.liveRows--
			}
		}
		c.partitions = slices.DeleteFunc(slices.Clone(c.partitions), func(q *partition) bool { return q == p })
		return nil

	case *recCreateIndex:
		c, err := cat.get(b.collID)
		if err != nil {
			return err
		}
		if _, ok := c.fieldByID(b.fieldID); !ok {
			return fmt.Errorf("engine: apply create index: field %d not found", b.fieldID)
		}
		if c.indexOn(b.fieldID) != nil {
			return fmt.Errorf("engine: apply create index: field %d already indexed", b.fieldID)
		}
		ix := &indexMeta{id: b.indexID, name: b.name, fieldID: b.fieldID, params: b.params}
		ix.metric, _ = distance.ParseMetric(b.params[paramMetricType])
		c.indexes = append(slices.Clone(c.indexes), ix)
		cat.bumpID(b.indexID)
		e.ix.kick() // build for sealed segments (local, not replicated state)
		return nil

	case *recDropIndex:
		c, err := cat.get(b.collID)
		if err != nil {
			return err
		}
		c.indexes = slices.DeleteFunc(slices.Clone(c.indexes), func(ix *indexMeta) bool { return ix.id == b.indexID })
		e.ix.kick() // detach the segments' built indexes
		return nil

	case *recLoad:
		c, err := cat.get(b.collID)
		if err != nil {
			return err
		}
		c.loaded = b.load
		return nil

	case *recInsert:
		if err := e.applyInsert(lsn, b); err != nil {
			return err
		}
		kind := reqInsert
		if b.upsert {
			kind = reqUpsert
		}
		cat.recordRequest(b.req, kind, lsn, int64(b.rows), b.autoFirst, e.reqTableSize)
		return nil

	case *recUpstream:
		return e.applyUpstream(lsn, b) // upstream.go

	case *recCredential:
		return e.applyCredential(b) // credential.go

	case *recCreateDatabase, *recDropDatabase, *recAlterDatabase, *recAlias, *recRenameCollection:
		return e.applyDB(b) // database.go
	case *recCompact:
		// Only queues local work (compact.go): the layout is not
		// replicated state. A collection dropped meanwhile is ignored.
		if _, ok := cat.colls[b.collID]; ok {
			e.cmp.enqueue(int64(lsn), b.collID)
		}
		return nil
	case *recAlterCollection:
		return e.applyAlterCollection(b) // schemachange.go

	case *recDelete:
		c, err := cat.get(b.collID)
		if err != nil {
			return err
		}
		del := func(loc rowLoc, ok bool) bool {
			if !ok || (b.partID != 0 && loc.seg.partID != b.partID) {
				return false
			}
			loc.seg.markDeleted(int(loc.row), lsn)
			c.liveRows--
			return true
		}
		if b.isStr {
			for _, k := range b.strs {
				if loc, ok := c.pkStr[k]; del(loc, ok) {
					delete(c.pkStr, k)
				}
			}
		} else {
			for _, k := range b.ints {
				if loc, ok := c.pkInt[k]; del(loc, ok) {
					delete(c.pkInt, k)
				}
			}
		}
		cat.recordRequest(b.req, reqDelete, lsn, int64(len(b.ints)+len(b.strs)), 0, e.reqTableSize)
		return nil
	}
	return fmt.Errorf("engine: apply: unknown record body %T", body)
}

func (cat *catalog) get(id int64) (*collection, error) {
	c, ok := cat.colls[id]
	if !ok {
		return nil, fmt.Errorf("engine: apply: collection id %d not found", id)
	}
	return c, nil
}

// forgetPK removes row's key from the row index if it points at that row.
func (c *collection) forgetPK(s *segment, row int) {
	pkc := s.cols[c.pk].data
	switch v := pkc.(type) {
	case []int64:
		if loc, ok := c.pkInt[v[row]]; ok && loc.seg == s && int(loc.row) == row {
			delete(c.pkInt, v[row])
		}
	case []string:
		if loc, ok := c.pkStr[v[row]]; ok && loc.seg == s && int(loc.row) == row {
			delete(c.pkStr, v[row])
		}
	}
}

// applyInsert appends an insert/upsert batch (see recInsert).
func (e *Engine) applyInsert(lsn uint64, b *recInsert) error {
	c, err := e.cat.get(b.collID)
	if err != nil {
		return err
	}
	p := c.partitionByID(b.partID)
	if p == nil {
		return fmt.Errorf("engine: apply insert: partition id %d not found", b.partID)
	}
	n := b.rows
	if n <= 0 {
		return fmt.Errorf("engine: apply insert: %d rows", n)
	}
	cols := make([]any, len(c.fields))
	var valids [][]bool
	for _, cd := range b.cols {
		i, ok := c.fieldByID(cd.fieldID)
		if !ok {
			return fmt.Errorf("engine: apply insert: unknown field id %d", cd.fieldID)
		}
		f := &c.fields[i]
		if cd.typ != f.typ && !(f.typ == schemapb.DataType_VarChar && cd.typ == schemapb.DataType_String) {
			return fmt.Errorf("engine: apply insert: field %s has type %v, record has %v", f.name, f.typ, cd.typ)
		}
		want := n
		if f.isVector {
			if cd.dim != f.dim {
				return fmt.Errorf("engine: apply insert: field %s dim %d, record has %d", f.name, f.dim, cd.dim)
			}
			want = n * f.dim
			if isBytesVector(f.typ) {
				want = n * vecRowBytes(f.typ, f.dim)
			}
		}
		if dataLen(cd.data) != want || cols[i] != nil || (cd.valid != nil && (!f.nullable || len(cd.valid) != n)) {
			return fmt.Errorf("engine: apply insert: field %s: bad column", f.name)
		}
		cols[i] = cd.data
		if cd.valid != nil {
			if valids == nil {
				valids = make([][]bool, len(c.fields))
			}
			valids[i] = cd.valid
		}
	}
	if b.autoFirst != 0 {
		if cols[c.pk] != nil || c.fields[c.pk].typ != schemapb.DataType_Int64 {
			return fmt.Errorf("engine: apply insert: auto ids with a pk column")
		}
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = b.autoFirst + int64(i)
		}
		cols[c.pk] = ids
	}
	for i, col := range cols {
		if col != nil {
			continue
		}
		// A record validated against an older schema (a field added
		// since) lacks the new field: it reads null or the default.
		f := &c.fields[i]
		if !f.nullable && f.def == nil {
			return fmt.Errorf("engine: apply insert: field %s missing", f.name)
		}
		cd := absentColumn(f, n)
		cols[i] = cd.data
		if cd.valid != nil {
			if valids == nil {
				valids = make([][]bool, len(c.fields))
			}
			valids[i] = cd.valid
		}
	}
	if b.autoFirst != 0 && b.autoFirst+int64(n) > c.autoIDNext {
		c.autoIDNext = b.autoFirst + int64(n)
	}

	segMax := e.cfg.SegmentMaxRows
	for lo := 0; lo < n; {
		var s *segment
		if k := len(p.segs); k > 0 && !p.segs[k-1].sealed {
			s = p.segs[k-1]
		} else {
			s = newSegment(e.nextSegID, c, p.id, segMax)
			e.nextSegID++
			p.segs = append(p.segs, s)
		}
		hi := min(n, lo+segMax-s.rows)
		base := s.rows
		s.appendRows(lsn, cols, valids, lo, hi)
		for i := lo; i < hi; i++ {
			c.supersede(cols[c.pk], i, rowLoc{seg: s, row: int32(base + i - lo)}, lsn)
		}
		c.liveRows += int64(hi - lo)
		if s.rows >= segMax {
			s.seal()
			e.ix.kick() // build its ANN indexes
		}
		lo = hi
	}
	return nil
}

// supersede records loc as the live row of the key at pks[i], deleting the
// previous live row of that key at lsn.
func (c *collection) supersede(pks any, i int, loc rowLoc, lsn uint64) {
	var old rowLoc
	var had bool
	switch v := pks.(type) {
	case []int64:
		old, had = c.pkInt[v[i]]
		c.pkInt[v[i]] = loc
	case []string:
		old, had = c.pkStr[v[i]]
		c.pkStr[v[i]] = loc
	}
	if had {
		old.seg.markDeleted(int(old.row), lsn)
		c.liveRows--
	}
}
