package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/wal"
)

// Schema and property changes of an existing collection: AddCollectionField,
// AlterCollection (properties), DropCollectionProperties and
// AlterCollectionField. Each is one RecAlterCollection record holding the
// collection's whole new schema and properties, so apply only checks that
// the change is one it can make (fields may only be appended, existing
// fields keep their ID and type) and installs it.
//
// Apply replaces the collection entry by a copy (readers that resolved the
// old entry keep a consistent schema) and gives every existing segment a
// column for each new field: null, or the field's default value, for the
// rows already there. Segment files written before the change lack those
// columns and get the same values when they are loaded.

// RecAlterCollection: i64 collection ID, bytes schema (deterministic
// proto, the whole new schema), kvs properties (the whole new list).
const RecAlterCollection wal.RecordType = 50

type recAlterCollection struct {
	collID int64
	schema *schemapb.CollectionSchema
	props  []*commonpb.KeyValuePair
}

func (b *recAlterCollection) encode(w *enc) error {
	w.i64(b.collID)
	sb, err := proto.MarshalOptions{Deterministic: true}.Marshal(b.schema)
	if err != nil {
		return fmt.Errorf("engine: encode schema: %w", err)
	}
	w.bytes(sb)
	encodeKVs(w, b.props)
	return nil
}

func decodeAlterCollection(r *dec) (recBody, error) {
	b := &recAlterCollection{collID: r.i64()}
	sb := r.bytes()
	if r.err == nil {
		b.schema = &schemapb.CollectionSchema{}
		if err := proto.Unmarshal(sb, b.schema); err != nil {
			return nil, fmt.Errorf("engine: decode alter collection schema: %w", err)
		}
	}
	b.props = decodeKVs(r)
	return b, nil
}

// Collection property keys (Milvus's).
const (
	propTTL         = "collection.ttl.seconds"
	propMmap        = "mmap.enabled"
	propLazyLoad    = "lazyload.enabled"
	propDynamic     = "dynamicfield.enabled"
	propAutoInsert  = "allow_insert_auto_id"
	propPKIsolation = "partitionkey.isolation"
	maxTTLSeconds   = 3155760000
	fieldMaxLength  = "max_length"
	fieldMaxCap     = "max_capacity"
	fieldMmap       = "mmap.enabled"
	fieldMmapOld    = "mmap_enabled"
	fieldDesc       = "field.description"
)

// errCollectionLoaded is Milvus's ErrCollectionLoaded.
var errCollectionLoaded = &merr.Error{Code: 104, Msg: "collection already loaded"}

// AddCollectionField appends field f to collection coll (Milvus 2.6: the
// new field must be nullable; existing rows read null or its default).
func (e *Engine) AddCollectionField(ctx context.Context, db, coll string, f *schemapb.FieldSchema) error {
	if f == nil {
		return invalid("field schema is empty")
	}
	return e.alterCollection(ctx, db, coll, func(c *collection, s *schemapb.CollectionSchema, props []*commonpb.KeyValuePair) (*schemapb.CollectionSchema, []*commonpb.KeyValuePair, error) {
		nf := proto.Clone(f).(*schemapb.FieldSchema)
		if err := validateName("field name", nf.Name); err != nil {
			return nil, nil, err
		}
		if nf.DefaultValue != nil && nf.DefaultValue.GetData() == nil {
			nf.DefaultValue = nil
		}
		if nf.DataType == schemapb.DataType_String {
			nf.DataType = schemapb.DataType_VarChar
		}
		if nf.IsPrimaryKey {
			return nil, nil, invalid("not support to add pk field, field name = %s", nf.Name)
		}
		if nf.AutoID {
			return nil, nil, invalid("only primary field can speficy AutoID with true, field name = %s", nf.Name)
		}
		if nf.IsPartitionKey {
			return nil, nil, invalid("not support to add partition key field, field name  = %s", nf.Name)
		}
		if nf.IsClusteringKey {
			return nil, nil, invalid("partition and clustering keys are not supported (field %s)", nf.Name)
		}
		if nf.IsDynamic {
			return nil, nil, invalid("cannot explicitly set a field as a dynamic field: %s", nf.Name)
		}
		if nf.DataType == schemapb.DataType_FloatVector {
			if _, ok := typeParam(nf, "dim"); !ok {
				return nil, nil, invalid("vector field must have dimension specified, field name = %s", nf.Name)
			}
		}
		if !nf.Nullable && nf.DataType != schemapb.DataType_FloatVector {
			return nil, nil, invalid("added field must be nullable, please check it, field name = %s", nf.Name)
		}
		for _, old := range s.Fields {
			if old.Name == nf.Name {
				return nil, nil, invalid("duplicate field name: %s", nf.Name)
			}
		}
		if len(s.Fields)-boolInt(c.dyn >= 0) >= maxFields {
			return nil, nil, invalid("The number of fields has reached the maximum value %d", maxFields)
		}
		if err := checkFieldType(coll, nf); err != nil {
			return nil, nil, err
		}
		if err := checkNullDefault(coll, nf); err != nil {
			return nil, nil, err
		}
		var maxID int64
		for _, old := range s.Fields {
			maxID = max(maxID, old.FieldID)
		}
		nf.FieldID = maxID + 1
		s.Fields = append(s.Fields, nf)
		return s, props, nil
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkFieldType applies the type rules of normalizeSchema to one scalar
// field.
func checkFieldType(coll string, f *schemapb.FieldSchema) error {
	switch f.DataType {
	case schemapb.DataType_Bool, schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32,
		schemapb.DataType_Int64, schemapb.DataType_Float, schemapb.DataType_Double, schemapb.DataType_JSON:
	case schemapb.DataType_VarChar:
		return intParam(coll, f, fieldMaxLength, 1, maxVarCharLen)
	case schemapb.DataType_Array:
		if !isScalarElem(f.ElementType) {
			return invalid("element type %s of array field %s is not supported", f.ElementType, f.Name)
		}
		if err := intParam(coll, f, fieldMaxCap, 1, maxArrayCap); err != nil {
			return err
		}
		if f.ElementType == schemapb.DataType_VarChar {
			return intParam(coll, f, fieldMaxLength, 1, maxVarCharLen)
		}
	case schemapb.DataType_FloatVector:
		return checkNullDefault(coll, f)
	default:
		return invalid("data type %s of field %s is not supported", f.DataType, f.Name)
	}
	return nil
}

// AlterCollectionProperties sets (props) or removes (deleteKeys) collection
// properties, as Milvus's AlterCollection and DropCollectionProperties.
func (e *Engine) AlterCollectionProperties(ctx context.Context, db, coll string, set []*commonpb.KeyValuePair, deleteKeys []string) error {
	if len(set) > 0 && len(deleteKeys) > 0 {
		return invalid("cannot provide both DeleteKeys and ExtraParams")
	}
	return e.alterCollection(ctx, db, coll, func(c *collection, s *schemapb.CollectionSchema, props []*commonpb.KeyValuePair) (*schemapb.CollectionSchema, []*commonpb.KeyValuePair, error) {
		for _, kv := range set {
			switch kv.GetKey() {
			case propMmap, propLazyLoad:
				if c.loaded {
					return nil, nil, merr.Wrap(errCollectionLoaded, "can not alter mmap properties if collection loaded", "collection", coll)
				}
				if _, err := strconv.ParseBool(kv.GetValue()); err != nil {
					return nil, nil, invalid("invalid mmap.enabled value: %s, expected: true, false", kv.GetValue())
				}
			case propTTL:
				v, err := strconv.Atoi(kv.GetValue())
				if err != nil {
					return nil, nil, invalid("collection TTL is not a valid positive integer")
				}
				if v < -1 || v > maxTTLSeconds {
					return nil, nil, invalid("collection TTL is out of range, expect [-1, %d], got %d", maxTTLSeconds, v)
				}
			case propDynamic:
				on, err := strconv.ParseBool(kv.GetValue())
				if err != nil {
					return nil, nil, invalid("dynamicfield.enabled value should be true or false")
				}
				if !on && s.EnableDynamicField {
					return nil, nil, invalid("dynamic schema cannot supported to be disabled")
				}
				if on && !s.EnableDynamicField {
					return nil, nil, invalid("enabling the dynamic field of an existing collection is not supported")
				}
			case propAutoInsert:
				on, _ := strconv.ParseBool(kv.GetValue())
				if on && !c.fields[c.pk].autoID {
					return nil, nil, invalid("the value for %s must be false when autoID is false", propAutoInsert)
				}
			case propPKIsolation:
				on, _ := strconv.ParseBool(kv.GetValue())
				if on {
					return nil, nil, merr.Wrap(merr.ErrCollectionIllegal, "partition key isolation mode is enabled but no partition key field is set. Please set the partition key first", "collection", coll)
				}
			}
		}
		for _, k := range deleteKeys {
			switch k {
			case propMmap, propLazyLoad:
				if c.loaded {
					if k == propMmap {
						return nil, nil, merr.Wrap(errCollectionLoaded, "can not delete mmap properties if collection loaded", "collection", coll)
					}
					return nil, nil, merr.Wrap(errCollectionLoaded, fmt.Sprintf("can not delete %s properties if collection loaded", k), "collection", coll)
				}
			case propDynamic:
				return nil, nil, invalid("cannot delete key %s", propDynamic)
			}
		}
		return s, mergeProps(props, set, deleteKeys), nil
	})
}

// mergeProps returns props with set's keys set (in place, or appended in
// order) and deleteKeys removed.
func mergeProps(props, set []*commonpb.KeyValuePair, deleteKeys []string) []*commonpb.KeyValuePair {
	out := make([]*commonpb.KeyValuePair, 0, len(props)+len(set))
	for _, kv := range props {
		if !slices.Contains(deleteKeys, kv.GetKey()) {
			out = append(out, &commonpb.KeyValuePair{Key: kv.GetKey(), Value: kv.GetValue()})
		}
	}
	for _, kv := range set {
		i := slices.IndexFunc(out, func(o *commonpb.KeyValuePair) bool { return o.Key == kv.GetKey() })
		if i >= 0 {
			out[i].Value = kv.GetValue()
		} else {
			out = append(out, &commonpb.KeyValuePair{Key: kv.GetKey(), Value: kv.GetValue()})
		}
	}
	return out
}

// AlterCollectionField changes the type parameters of one field (Milvus:
// max_length, max_capacity, mmap.enabled, field.description) or removes
// mmap.enabled.
func (e *Engine) AlterCollectionField(ctx context.Context, db, coll, field string, set []*commonpb.KeyValuePair, deleteKeys []string) error {
	return e.alterCollection(ctx, db, coll, func(c *collection, s *schemapb.CollectionSchema, props []*commonpb.KeyValuePair) (*schemapb.CollectionSchema, []*commonpb.KeyValuePair, error) {
		var f *schemapb.FieldSchema
		for _, x := range s.Fields {
			if x.Name == field && !x.IsDynamic {
				f = x
			}
		}
		for _, kv := range set {
			key := kv.GetKey()
			if key == fieldMmapOld {
				key = fieldMmap
			}
			switch key {
			case fieldMmap:
				if c.loaded {
					return nil, nil, merr.Wrap(errCollectionLoaded, "can not alter collection field properties if collection loaded", "collection", coll)
				}
			case fieldMaxLength:
				if f == nil || !(f.DataType == schemapb.DataType_VarChar || (f.DataType == schemapb.DataType_Array && f.ElementType == schemapb.DataType_VarChar)) {
					return nil, nil, invalid("%s can not modify the maxlength for non-string types", nameOf(f))
				}
				v, err := strconv.Atoi(kv.GetValue())
				if err != nil {
					return nil, nil, invalid("%s should be an integer, but got %T", key, kv.GetValue())
				}
				if v > maxVarCharLen {
					return nil, nil, invalid("%s exceeds the maximum allowed value %d", kv.GetValue(), maxVarCharLen)
				}
				if v <= 0 {
					return nil, nil, invalid("the maximum length specified for the field(%s) should be in (0, %d], but got %d instead", field, maxVarCharLen, v)
				}
				if cur, _ := typeParam(f, fieldMaxLength); cur != "" {
					if n, _ := strconv.Atoi(cur); v < n {
						return nil, nil, invalid("the new max_length (%d) of field %s must not be smaller than the current one (%d)", v, field, n)
					}
				}
			case fieldMaxCap:
				if f == nil || f.DataType != schemapb.DataType_Array {
					return nil, nil, invalid("%s can not modify the maxcapacity for non-array types", nameOf(f))
				}
				v, err := strconv.ParseInt(kv.GetValue(), 10, 64)
				if err != nil {
					return nil, nil, invalid("the value for %s of field %s must be an integer", fieldMaxCap, field)
				}
				if v > maxArrayCap || v <= 0 {
					return nil, nil, invalid("the maximum capacity specified for a Array should be in (0, %d]", maxArrayCap)
				}
				if cur, _ := typeParam(f, fieldMaxCap); cur != "" {
					if n, _ := strconv.Atoi(cur); int(v) < n {
						return nil, nil, invalid("the new max_capacity (%d) of field %s must not be smaller than the current one (%d)", v, field, n)
					}
				}
			case fieldDesc:
			default:
				return nil, nil, invalid("%s does not allow update in collection field param", kv.GetKey())
			}
		}
		for _, k := range deleteKeys {
			key := k
			if key == fieldMmapOld {
				key = fieldMmap
			}
			if key != fieldMmap {
				return nil, nil, invalid("%s is not allowed to drop in collection field param", k)
			}
			if c.loaded {
				return nil, nil, merr.Wrap(errCollectionLoaded, "can not drop collection field properties if collection loaded", "collection", coll)
			}
		}
		if f == nil {
			return nil, nil, merr.Wrap(merr.ErrParameterInvalid, fmt.Sprintf("field %s does not exist in collection %s", field, coll))
		}
		var tp []*commonpb.KeyValuePair
		for _, kv := range set {
			key := kv.GetKey()
			if key == fieldMmapOld {
				key = fieldMmap
			}
			if key == fieldDesc {
				f.Description = kv.GetValue()
				continue
			}
			tp = append(tp, &commonpb.KeyValuePair{Key: key, Value: kv.GetValue()})
		}
		dk := slices.Clone(deleteKeys)
		for i, k := range dk {
			if k == fieldMmapOld {
				dk[i] = fieldMmap
			}
		}
		f.TypeParams = mergeProps(f.TypeParams, tp, dk)
		return s, props, nil
	})
}

func nameOf(f *schemapb.FieldSchema) string {
	if f == nil {
		return ""
	}
	return f.Name
}

// alterCollection runs change on a copy of coll's schema and properties
// under the write lock and commits the result as a RecAlterCollection
// record (nothing when it equals the current state).
func (e *Engine) alterCollection(ctx context.Context, db, coll string,
	change func(c *collection, s *schemapb.CollectionSchema, props []*commonpb.KeyValuePair) (*schemapb.CollectionSchema, []*commonpb.KeyValuePair, error)) error {
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
	s := proto.Clone(c.schema).(*schemapb.CollectionSchema)
	props := mergeProps(c.props, nil, nil)
	ns, np, err := change(c, s, props)
	if err != nil {
		e.writeMu.Unlock()
		return err
	}
	if proto.Equal(ns, c.schema) && sameKVs(np, c.props) && len(np) == len(c.props) {
		e.writeMu.Unlock()
		return nil
	}
	body := &recAlterCollection{collID: c.id, schema: ns, props: np}
	lsn, err := e.commitLocked(RecAlterCollection, body, proto.Size(ns)+256)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// applyAlterCollection installs a new schema and properties (see above).
// Caller as apply.
func (e *Engine) applyAlterCollection(b *recAlterCollection) error {
	c, err := e.cat.get(b.collID)
	if err != nil {
		return err
	}
	old := c.schema.GetFields()
	nf := b.schema.GetFields()
	if len(nf) < len(old) {
		return fmt.Errorf("engine: apply alter collection: %d fields, had %d", len(nf), len(old))
	}
	for i, f := range old {
		g := nf[i]
		if g.FieldID != f.FieldID || g.DataType != f.DataType || g.ElementType != f.ElementType ||
			g.IsPrimaryKey != f.IsPrimaryKey || g.IsDynamic != f.IsDynamic || g.Nullable != f.Nullable {
			return fmt.Errorf("engine: apply alter collection: field %d changed incompatibly (%v -> %v)", f.FieldID, f, g)
		}
	}
	for _, g := range nf[len(old):] {
		if g.IsPrimaryKey || g.IsDynamic || (!g.Nullable && g.DefaultValue == nil) || g.DataType == schemapb.DataType_FloatVector {
			return fmt.Errorf("engine: apply alter collection: field %d cannot be added", g.FieldID)
		}
	}
	nc, err := newCollection(c.id, c.name, c.createdAt, b.schema)
	if err != nil {
		return err
	}
	// Carry the state over; nc's row index is c's (writers only use the
	// current entry).
	nc.db, nc.shards, nc.consistency, nc.props = c.db, c.shards, c.consistency, b.props
	nc.partitions, nc.indexes, nc.loaded, nc.autoIDNext = c.partitions, c.indexes, c.loaded, c.autoIDNext
	nc.pkInt, nc.pkStr, nc.liveRows = c.pkInt, c.pkStr, c.liveRows
	if len(nf) > len(old) {
		for _, p := range c.partitions {
			for _, s := range p.segs {
				s.addColumns(nc)
			}
		}
	}
	e.cat.colls[nc.id] = nc
	e.cat.byName[nameKey(nc.db, nc.name)] = nc
	return nil
}

// addColumns gives s a column for each field of c it lacks (fields added
// to the collection), holding null or the default for its rows. Caller
// holds Engine.mu.Lock; the column slices are replaced, never changed in
// place, so snapshots taken before keep reading the old ones.
func (s *segment) addColumns(c *collection) {
	if len(s.cols) >= len(c.fields) {
		return
	}
	cols := slices.Clone(s.cols)
	ids := slices.Clone(s.fieldIDs)
	types := slices.Clone(s.fieldTypes)
	for _, f := range c.fields[len(s.cols):] {
		cd := absentColumn(&f, s.rows)
		sc := segColumn{data: cd.data}
		if f.nullable {
			sc.valid = appendValid(nil, cd.valid, 0, s.rows)
		}
		cols = append(cols, sc)
		ids = append(ids, f.id)
		types = append(types, f.typ)
	}
	s.cols, s.fieldIDs, s.fieldTypes = cols, ids, types
}
