package engine

import (
	"context"
	"encoding/binary"
	"math"
	"sort"
	"strconv"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/expr"
	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/metrics"
)

// Insert appends rows atomically (one WAL record). fields are columns as
// the SDK sends them (including the dynamic "$meta" JSON column when the
// schema enables it; the SDK may name it "" with IsDynamic set); numRows is
// the row count. Auto-id primary keys are assigned here. Returns the
// primary keys of the inserted rows. A row whose primary key already has a
// live row supersedes it (see the package comment). The engine keeps
// references to the request's JSON and Array values (not to its other
// slices): callers must not modify them afterwards.
func (e *Engine) Insert(ctx context.Context, db, coll, partition string, fields []*schemapb.FieldData, numRows int) (*schemapb.IDs, error) {
	return e.insert(ctx, db, coll, partition, fields, numRows, false)
}

// Upsert replaces rows by primary key (delete + insert at one LSN). The
// primary key must be provided, also for auto-id collections.
func (e *Engine) Upsert(ctx context.Context, db, coll, partition string, fields []*schemapb.FieldData, numRows int) (*schemapb.IDs, error) {
	return e.insert(ctx, db, coll, partition, fields, numRows, true)
}

// lookupPartition resolves coll and partition ("" = default) under
// mu.RLock.
func (e *Engine) lookupPartition(db, coll, part string) (*collection, *partition, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.lookupLocked(db, coll)
	if err != nil {
		return nil, nil, err
	}
	if part == "" {
		part = DefaultPartition
	}
	p := c.partition(part)
	if p == nil {
		return nil, nil, merr.PartitionNotFound(part)
	}
	return c, p, nil
}

func (e *Engine) insert(ctx context.Context, db, coll, part string, fields []*schemapb.FieldData, n int, upsert bool) (*schemapb.IDs, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	if _, err := e.admit(); err != nil {
		return nil, err
	}
	size := 0
	for _, fd := range fields {
		size += proto.Size(fd)
	}
	if int64(size) > e.cfg.MaxRequestBytes {
		return nil, merr.Wrapf(merr.ErrParameterTooLarge, "request of %d bytes exceeds the limit of %d bytes", size, e.cfg.MaxRequestBytes)
	}
	c, p, err := e.lookupPartition(db, coll, part)
	if err != nil {
		return nil, err
	}
	// Validation and encoding need only the (immutable) schema, so they
	// run outside the write lock.
	body, err := buildInsert(c, p.id, fields, n, upsert)
	if err != nil {
		return nil, err
	}
	auto := c.fields[c.pk].autoID && !upsert
	if auto {
		body.autoFirst = math.MaxInt64 // placeholder, patched below
	}
	body.upsert = upsert
	payload, err := encodeRecord(body, body.encodedSize())
	if err != nil {
		return nil, e.fail(err)
	}
	typ, kind := RecInsert, reqInsert
	if upsert {
		typ, kind = RecUpsert, reqUpsert
	}
	// A request id: the fingerprint is the canonical encoding of the rows
	// (the row count and the columns, not the IDs resolved from names nor
	// the auto-ID placeholder).
	tag, err := requestTag(ctx, kind, db, coll, part,
		payload[insertAutoFirstOffset-4:insertAutoFirstOffset], payload[insertAutoFirstOffset+8:])
	if err != nil {
		return nil, err
	}
	if tag != nil {
		body.req = tag
		payload = appendTag(payload, tag)
	}

	e.writeMu.Lock()
	if cur := e.cat.colls[c.id]; cur == nil {
		e.writeMu.Unlock()
		return nil, merr.CollectionNotFound(coll)
	} else if cur != c {
		// The schema changed since validation (schemachange.go): fields
		// were only appended, and apply gives a record without them null
		// or default values; validate again against the current schema.
		e.writeMu.Unlock()
		return e.insert(ctx, db, coll, part, fields, n, upsert)
	}
	if c.partitionByID(p.id) != p {
		e.writeMu.Unlock()
		return nil, merr.PartitionNotFound(p.name)
	}
	if ent, err := e.knownRequest(tag, kind); ent != nil || err != nil {
		e.writeMu.Unlock()
		if err != nil {
			return nil, err
		}
		// Applied before (at ent.lsn): answer as the original did.
		if err := e.ackWrite(ctx, ent.lsn); err != nil {
			return nil, err
		}
		body.autoFirst = ent.autoFirst
		return insertedIDs(c, body), nil
	}
	if auto {
		body.autoFirst = c.autoIDNext
		binary.LittleEndian.PutUint64(payload[insertAutoFirstOffset:], uint64(body.autoFirst))
	}
	lsn, err := e.commitPayloadLocked(typ, payload, body)
	e.writeMu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := e.ackWrite(ctx, lsn); err != nil {
		return nil, err
	}
	metrics.RowsWritten.WithLabelValues(kind.String()).Add(float64(n))
	return insertedIDs(c, body), nil
}

// insertedIDs returns the primary keys of an applied insert body.
func insertedIDs(c *collection, b *recInsert) *schemapb.IDs {
	if b.autoFirst != 0 {
		ids := make([]int64, b.rows)
		for i := range ids {
			ids[i] = b.autoFirst + int64(i)
		}
		return &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: ids}}}
	}
	pkID := c.fields[c.pk].id
	for _, cd := range b.cols {
		if cd.fieldID != pkID {
			continue
		}
		switch v := cd.data.(type) {
		case []int64:
			return &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: v}}}
		case []string:
			return &schemapb.IDs{IdField: &schemapb.IDs_StrId{StrId: &schemapb.StringArray{Data: v}}}
		}
	}
	return &schemapb.IDs{}
}

// Delete removes the rows matching expr (restricted to partition when not
// empty); returns how many were deleted. The expression is resolved to
// primary keys under the write lock, so the record (and apply) carries
// only keys.
func (e *Engine) Delete(ctx context.Context, db, coll, part, exprStr string) (int64, error) {
	return e.DeleteWithTemplates(ctx, db, coll, part, exprStr, nil)
}

// DeleteWithTemplates is Delete with the values of the expression's
// {name} placeholders (Milvus's expr_template_values). The request's
// idempotency fingerprint covers the values too.
func (e *Engine) DeleteWithTemplates(ctx context.Context, db, coll, part, exprStr string,
	params map[string]*schemapb.TemplateValue) (int64, error) {
	if err := e.check(); err != nil {
		return 0, err
	}
	if _, err := e.admit(); err != nil {
		return 0, err
	}
	e.mu.RLock()
	c, err := e.lookupLocked(db, coll)
	e.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	if exprStr == "" {
		return 0, invalid("delete plan can't be empty or always true : %s", exprStr)
	}
	x, err := expr.ParseWithTemplates(exprStr, c.exprSchema, params)
	if err != nil {
		return 0, err
	}
	fpParts := [][]byte{[]byte(exprStr)}
	if len(params) > 0 {
		fpParts = append(fpParts, templateFingerprint(params))
	}
	tag, err := requestTag(ctx, reqDelete, db, coll, part, fpParts...)
	if err != nil {
		return 0, err
	}
	e.writeMu.Lock()
	if cur := e.cat.colls[c.id]; cur == nil {
		e.writeMu.Unlock()
		return 0, merr.CollectionNotFound(coll)
	} else {
		c = cur // the schema may have changed (fields are only appended)
	}
	if ent, err := e.knownRequest(tag, reqDelete); ent != nil || err != nil {
		e.writeMu.Unlock()
		if err != nil {
			return 0, err
		}
		// Applied before (at ent.lsn): answer as the original did, and
		// do not delete the rows written since.
		if err := e.ackWrite(ctx, ent.lsn); err != nil {
			return 0, err
		}
		return ent.count, nil
	}
	var parts []*partition
	var partID int64
	if part != "" {
		p := c.partition(part)
		if p == nil {
			e.writeMu.Unlock()
			return 0, merr.PartitionNotFound(part)
		}
		parts, partID = []*partition{p}, p.id
	}
	body, err := e.resolveDelete(c, parts, partID, x)
	if err != nil {
		e.writeMu.Unlock()
		return 0, err
	}
	body.req = tag
	cnt := int64(len(body.ints) + len(body.strs))
	if cnt == 0 {
		// Nothing matched in the applied state, which may hold writes not
		// acknowledged yet (not durable, or not yet on the sync set): a
		// concurrent delete of the same rows, say. Answer only once that
		// state is acknowledged, as that delete will be: otherwise this
		// "done" could come before the row is gone for readers (and before
		// a failover could no longer bring it back).
		seen := e.LastLSN()
		e.writeMu.Unlock()
		if err := e.ackWrite(ctx, seen); err != nil {
			return 0, err
		}
		return 0, nil
	}
	lsn, err := e.commitLocked(RecDelete, body, int(cnt)*9+len(exprStr))
	e.writeMu.Unlock()
	if err != nil {
		return 0, err
	}
	if err := e.ackWrite(ctx, lsn); err != nil {
		return 0, err
	}
	metrics.RowsWritten.WithLabelValues("delete").Add(float64(cnt))
	return cnt, nil
}

// resolveDelete finds the primary keys of the live rows matching x in the
// applied state. Caller holds writeMu (so no segment changes meanwhile).
func (e *Engine) resolveDelete(c *collection, parts []*partition, partID int64, x *expr.Expr) (*recDelete, error) {
	body := &recDelete{collID: c.id, partID: partID, isStr: c.pkStr != nil}
	inPart := func(loc rowLoc) bool { return partID == 0 || loc.seg.partID == partID }
	if ints, strs, ok := x.PrimaryKeyValues(); ok {
		seen := map[string]bool{}
		for _, k := range ints {
			if loc, ok := c.pkInt[k]; ok && inPart(loc) && !seen[strconv.FormatInt(k, 10)] {
				seen[strconv.FormatInt(k, 10)] = true
				body.ints = append(body.ints, k)
			}
		}
		for _, k := range strs {
			if loc, ok := c.pkStr[k]; ok && inPart(loc) && !seen[k] {
				seen[k] = true
				body.strs = append(body.strs, k)
			}
		}
		return body, nil
	}
	snaps := e.snapshotLocked(c, parts, math.MaxUint64)
	var match []bool
	for i := range snaps {
		ss := &snaps[i]
		match = growBools(match, ss.n)
		if err := x.Eval(segSource{c: c, ss: ss}, match); err != nil {
			return nil, err
		}
		pks := ss.cols[c.pk].data
		for row := 0; row < ss.n; row++ {
			if !match[row] || ss.seg.deleteLSN(row) != 0 {
				continue
			}
			switch v := pks.(type) {
			case []int64:
				body.ints = append(body.ints, v[row])
			case []string:
				body.strs = append(body.strs, v[row])
			}
		}
	}
	return body, nil
}

// growBools returns a slice of length n, reusing b's storage.
func growBools(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	b = b[:n]
	clear(b)
	return b
}

// templateFingerprint is a deterministic encoding of template values, for
// request fingerprints: the names in order, each with its value's
// deterministic protobuf encoding.
func templateFingerprint(params map[string]*schemapb.TemplateValue) []byte {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var b []byte
	for _, k := range names {
		v, _ := proto.MarshalOptions{Deterministic: true}.Marshal(params[k])
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}
