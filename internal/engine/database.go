package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/wal"
)

// Databases, aliases and collection renames (Milvus 2.6 data model).
//
// Every collection lives in one database; "default" always exists (ID
// DefaultDBID, created at time 0) and cannot be dropped. A collection name
// is unique within its database, and so is an alias; an alias names one
// collection of its own database and is usable wherever a collection name
// is (lookupLocked resolves it). Like every state change, each operation
// is one WAL record applied by apply:
//
//	RecCreateDatabase   i64 id, str name, i64 createdAt (unix ns), kvs properties
//	RecDropDatabase     str name
//	RecAlterDatabase    str name, kvs properties (the whole new set, sorted by key)
//	RecCreateAlias      str db, str alias, i64 collection ID
//	RecDropAlias        str db, str alias
//	RecAlterAlias       str db, str alias, i64 collection ID
//	RecRenameCollection i64 collection ID, str new db, str new name
//
// A RecCreateCollection of a collection in another database than
// "default" is written with version byte recordVersionDB (3): the
// version-1 payload followed by str db. Version-1 records (every record
// written before databases existed) create in "default".
//
// Catalog encoding (catalog.go): flag catalogDBFlag appends, only when
// some database other than "default", a property of "default" or an alias
// exists:
//
//	uv n × (i64 id, str name, i64 createdAt, kvs properties)   databases, by name
//	                                                           ("default" only if it has properties)
//	uv n × (i64 collection ID, str db)                         collections outside "default", by ID
//	uv n × (str db, str alias, i64 collection ID)              aliases, by (db, alias)
const (
	RecCreateDatabase   wal.RecordType = 40
	RecDropDatabase     wal.RecordType = 41
	RecAlterDatabase    wal.RecordType = 42
	RecCreateAlias      wal.RecordType = 43
	RecDropAlias        wal.RecordType = 44
	RecAlterAlias       wal.RecordType = 45
	RecRenameCollection wal.RecordType = 46
)

// recordVersionDB is the version byte of a RecCreateCollection that names
// its database (see above).
const recordVersionDB = 3

// DefaultDBID is the ID of the default database (as Milvus's).
const DefaultDBID = 1

// MaxDatabases is Milvus's rootCoord.maxDatabaseNum: the databases that may
// exist besides "default".
const MaxDatabases = 64

// catalogDBFlag is added to the catalog version when the database section
// follows (see above).
const catalogDBFlag = 32

// database is one database's catalog entry.
type database struct {
	id        int64
	name      string
	createdAt int64
	props     []*commonpb.KeyValuePair // sorted by key; replaced on change
}

// DatabaseInfo describes a database.
type DatabaseInfo struct {
	ID         int64
	Name       string
	CreatedAt  time.Time // zero for "default"
	Properties []*commonpb.KeyValuePair
}

// nameKey is the key of a collection name or alias in its database.
func nameKey(db, name string) string { return db + "\x00" + name }

// normDB maps "" to DefaultDB.
func normDB(db string) string {
	if db == "" {
		return DefaultDB
	}
	return db
}

// dbLocked returns database db ("" is "default"). Caller holds mu or writeMu.
func (c *catalog) db(db string) (*database, error) {
	d, ok := c.dbs[normDB(db)]
	if !ok {
		return nil, merr.Wrap(merr.ErrDatabaseNotFound, "", "database", db)
	}
	return d, nil
}

// aliasesOf returns the aliases of collection id, sorted.
func (c *catalog) aliasesOf(id int64) []string {
	var out []string
	for k, cid := range c.aliases {
		if cid == id {
			out = append(out, k[strings.IndexByte(k, 0)+1:])
		}
	}
	sort.Strings(out)
	return out
}

// validateDBName applies Milvus's database naming rules.
func validateDBName(name string) error {
	bad := func(why string) error { return merr.Wrap(merr.ErrDatabaseInvalidName, why, "database", name) }
	if name == "" {
		return bad("database name couldn't be empty")
	}
	if len(name) > maxNameLen {
		return bad(fmt.Sprintf("the length of a database name must be less than %d characters", maxNameLen))
	}
	if c := name[0]; c != '_' && !isLetter(c) {
		return bad("the first character of a database name must be an underscore or letter")
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; c != '_' && !isLetter(c) && !(c >= '0' && c <= '9') {
			return bad("database name can only contain numbers, letters and underscores")
		}
	}
	return nil
}

// validateAlias applies Milvus's naming rules to an alias.
func validateAlias(alias string) error {
	bad := func(why string) error {
		return merr.Wrapf(merr.ErrParameterInvalid, "Invalid collection alias: %s. %s", alias, why)
	}
	if alias == "" {
		return merr.Wrapf(merr.ErrParameterInvalid, "collection alias should not be empty")
	}
	if len(alias) > maxNameLen {
		return bad(fmt.Sprintf("the length of a collection alias must be less than %d characters", maxNameLen))
	}
	if c := alias[0]; c != '_' && !isLetter(c) {
		return bad("the first character of a collection alias must be an underscore or letter")
	}
	for i := 1; i < len(alias); i++ {
		if c := alias[i]; c != '_' && !isLetter(c) && !(c >= '0' && c <= '9') {
			return bad("collection alias can only contain numbers, letters and underscores")
		}
	}
	return nil
}

// kvMap turns properties into a map (nil for none).
func kvMap(kvs []*commonpb.KeyValuePair) map[string]string {
	if len(kvs) == 0 {
		return nil
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue()
	}
	return m
}

// sortedKVs copies kvs sorted by key (later duplicates win).
func sortedKVs(kvs []*commonpb.KeyValuePair) []*commonpb.KeyValuePair {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue()
	}
	out := make([]*commonpb.KeyValuePair, 0, len(m))
	for k, v := range m {
		out = append(out, &commonpb.KeyValuePair{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Record bodies.

type recCreateDatabase struct {
	id, createdAt int64
	name          string
	props         []*commonpb.KeyValuePair
}

func (b *recCreateDatabase) encode(w *enc) error {
	w.i64(b.id)
	w.str(b.name)
	w.i64(b.createdAt)
	encodeKVs(w, b.props)
	return nil
}

type recDropDatabase struct{ name string }

func (b *recDropDatabase) encode(w *enc) error { w.str(b.name); return nil }

type recAlterDatabase struct {
	name  string
	props []*commonpb.KeyValuePair
}

func (b *recAlterDatabase) encode(w *enc) error { w.str(b.name); encodeKVs(w, b.props); return nil }

// recAlias is RecCreateAlias, RecAlterAlias (collID set) and RecDropAlias.
type recAlias struct {
	typ       wal.RecordType
	db, alias string
	collID    int64
}

func (b *recAlias) encode(w *enc) error {
	w.str(b.db)
	w.str(b.alias)
	if b.typ != RecDropAlias {
		w.i64(b.collID)
	}
	return nil
}

type recRenameCollection struct {
	collID         int64
	newDB, newName string
}

func (b *recRenameCollection) encode(w *enc) error {
	w.i64(b.collID)
	w.str(b.newDB)
	w.str(b.newName)
	return nil
}

// decodeDBRecord decodes the record types above (nil, false for others).
func decodeDBRecord(typ wal.RecordType, r *dec) (recBody, bool) {
	switch typ {
	case RecCreateDatabase:
		return &recCreateDatabase{id: r.i64(), name: r.str(), createdAt: r.i64(), props: decodeKVs(r)}, true
	case RecDropDatabase:
		return &recDropDatabase{name: r.str()}, true
	case RecAlterDatabase:
		return &recAlterDatabase{name: r.str(), props: decodeKVs(r)}, true
	case RecCreateAlias, RecAlterAlias:
		return &recAlias{typ: typ, db: r.str(), alias: r.str(), collID: r.i64()}, true
	case RecDropAlias:
		return &recAlias{typ: typ, db: r.str(), alias: r.str()}, true
	case RecRenameCollection:
		return &recRenameCollection{collID: r.i64(), newDB: r.str(), newName: r.str()}, true
	}
	return nil, false
}

// applyDB applies the record bodies above. Caller as apply.
func (e *Engine) applyDB(body recBody) error {
	cat := e.cat
	switch b := body.(type) {
	case *recCreateDatabase:
		if _, ok := cat.dbs[b.name]; ok {
			return fmt.Errorf("engine: apply create database: %q exists", b.name)
		}
		cat.dbs[b.name] = &database{id: b.id, name: b.name, createdAt: b.createdAt, props: b.props}
		cat.bumpID(b.id)
		return nil
	case *recDropDatabase:
		if b.name == DefaultDB {
			return fmt.Errorf("engine: apply drop database: default")
		}
		if _, ok := cat.dbs[b.name]; !ok {
			return fmt.Errorf("engine: apply drop database: %q not found", b.name)
		}
		for _, c := range cat.colls {
			if c.db == b.name {
				return fmt.Errorf("engine: apply drop database: %q holds collection %q", b.name, c.name)
			}
		}
		delete(cat.dbs, b.name)
		return nil
	case *recAlterDatabase:
		d, ok := cat.dbs[b.name]
		if !ok {
			return fmt.Errorf("engine: apply alter database: %q not found", b.name)
		}
		nd := *d
		nd.props = b.props
		cat.dbs[b.name] = &nd
		return nil
	case *recAlias:
		if _, ok := cat.dbs[b.db]; !ok {
			return fmt.Errorf("engine: apply alias: database %q not found", b.db)
		}
		k := nameKey(b.db, b.alias)
		_, exists := cat.aliases[k]
		if b.typ == RecDropAlias {
			if !exists {
				return fmt.Errorf("engine: apply drop alias: %q not found", b.alias)
			}
			delete(cat.aliases, k)
			return nil
		}
		if exists != (b.typ == RecAlterAlias) {
			return fmt.Errorf("engine: apply alias %q: exists=%v", b.alias, exists)
		}
		if _, ok := cat.byName[k]; ok {
			return fmt.Errorf("engine: apply alias: %q is a collection name", b.alias)
		}
		c, err := cat.get(b.collID)
		if err != nil {
			return err
		}
		if c.db != b.db {
			return fmt.Errorf("engine: apply alias: collection %d is in database %q, not %q", b.collID, c.db, b.db)
		}
		cat.aliases[k] = b.collID
		return nil
	case *recRenameCollection:
		c, err := cat.get(b.collID)
		if err != nil {
			return err
		}
		if _, ok := cat.dbs[b.newDB]; !ok {
			return fmt.Errorf("engine: apply rename: database %q not found", b.newDB)
		}
		k := nameKey(b.newDB, b.newName)
		if _, ok := cat.byName[k]; ok {
			return fmt.Errorf("engine: apply rename: %q exists", b.newName)
		}
		if _, ok := cat.aliases[k]; ok {
			return fmt.Errorf("engine: apply rename: %q is an alias", b.newName)
		}
		if b.newDB != c.db && len(cat.aliasesOf(c.id)) > 0 {
			return fmt.Errorf("engine: apply rename: collection %d has aliases", c.id)
		}
		delete(cat.byName, nameKey(c.db, c.name))
		c.db, c.name = b.newDB, b.newName
		s := proto.Clone(c.schema).(*schemapb.CollectionSchema) // the schema is immutable: copy on change
		s.Name = b.newName
		c.schema = s
		cat.byName[k] = c
		return nil
	}
	return fmt.Errorf("engine: apply: unknown record body %T", body)
}

// encodeDBSection writes the catalog's database section (see above);
// hasDBSection says whether there is one.
func (c *catalog) hasDBSection() bool {
	if len(c.dbs) > 1 || len(c.aliases) > 0 {
		return true
	}
	d := c.dbs[DefaultDB]
	return d != nil && len(d.props) > 0
}

func (c *catalog) encodeDBSection(w *enc) {
	names := make([]string, 0, len(c.dbs))
	for n, d := range c.dbs {
		if n != DefaultDB || len(d.props) > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	w.uv(uint64(len(names)))
	for _, n := range names {
		d := c.dbs[n]
		w.i64(d.id)
		w.str(d.name)
		w.i64(d.createdAt)
		encodeKVs(w, d.props)
	}
	var colls []*collection
	for _, col := range c.sortedColls() {
		if col.db != DefaultDB {
			colls = append(colls, col)
		}
	}
	w.uv(uint64(len(colls)))
	for _, col := range colls {
		w.i64(col.id)
		w.str(col.db)
	}
	keys := make([]string, 0, len(c.aliases))
	for k := range c.aliases {
		keys = append(keys, k)
	}
	sort.Strings(keys) // NUL separator: sorts by (db, alias)
	w.uv(uint64(len(keys)))
	for _, k := range keys {
		i := strings.IndexByte(k, 0)
		w.str(k[:i])
		w.str(k[i+1:])
		w.i64(c.aliases[k])
	}
}

func (c *catalog) decodeDBSection(r *dec) error {
	nd := r.count(4)
	for i := 0; i < nd && r.err == nil; i++ {
		d := &database{id: r.i64(), name: r.str(), createdAt: r.i64(), props: decodeKVs(r)}
		c.dbs[d.name] = d
	}
	nc := r.count(9)
	for i := 0; i < nc && r.err == nil; i++ {
		id, db := r.i64(), r.str()
		col, ok := c.colls[id]
		if r.err == nil && !ok {
			return fmt.Errorf("engine: decode catalog: collection %d of database %q not found", id, db)
		}
		if r.err == nil {
			delete(c.byName, nameKey(col.db, col.name))
			col.db = db
			c.byName[nameKey(db, col.name)] = col
		}
	}
	na := r.count(10)
	for i := 0; i < na && r.err == nil; i++ {
		db, alias, id := r.str(), r.str(), r.i64()
		c.aliases[nameKey(db, alias)] = id
	}
	return r.err
}

// Public API.

// CreateDatabase creates a database with properties.
func (e *Engine) CreateDatabase(ctx context.Context, name string, props []*commonpb.KeyValuePair) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	if err := validateDBName(name); err != nil {
		return err
	}
	e.writeMu.Lock()
	if _, ok := e.cat.dbs[name]; ok {
		e.writeMu.Unlock()
		return merr.WithMessage(merr.ErrUnexpected, "database already exist: "+name)
	}
	if len(e.cat.dbs) > MaxDatabases {
		e.writeMu.Unlock()
		return merr.Wrap(merr.ErrDatabaseNumLimit, "", "limit", MaxDatabases)
	}
	body := &recCreateDatabase{id: e.cat.nextID, name: name, createdAt: now(), props: sortedKVs(props)}
	lsn, err := e.commitLocked(RecCreateDatabase, body, 128)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// DropDatabase drops an empty database. "default" cannot be dropped;
// dropping a database that does not exist succeeds unchanged.
func (e *Engine) DropDatabase(ctx context.Context, name string) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	if normDB(name) == DefaultDB {
		return merr.WithMessage(merr.ErrUnexpected, "can not drop default database")
	}
	e.writeMu.Lock()
	if _, ok := e.cat.dbs[name]; !ok {
		e.writeMu.Unlock()
		return nil
	}
	for _, c := range e.cat.colls {
		if c.db == name {
			e.writeMu.Unlock()
			return merr.WithMessage(merr.ErrUnexpected, fmt.Sprintf("database:%s not empty, must drop all collections before drop database", name))
		}
	}
	lsn, err := e.commitLocked(RecDropDatabase, &recDropDatabase{name: name}, 64)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// AlterDatabase sets properties (set) or removes keys (del) of a database;
// exactly one of them must be given (Milvus's rule). A change that
// changes nothing succeeds without a record.
func (e *Engine) AlterDatabase(ctx context.Context, name string, set []*commonpb.KeyValuePair, del []string) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	switch {
	case name == "":
		return merr.Wrapf(merr.ErrParameterInvalid, "alter database failed, database name does not exists")
	case len(set) == 0 && len(del) == 0:
		return merr.Wrapf(merr.ErrParameterInvalid, "alter database with empty properties and delete keys, expected to set either properties or delete keys")
	case len(set) > 0 && len(del) > 0:
		return merr.Wrapf(merr.ErrParameterInvalid, "alter database cannot modify properties and delete keys at the same time")
	}
	e.writeMu.Lock()
	d, ok := e.cat.dbs[name]
	if !ok {
		e.writeMu.Unlock()
		return merr.WithMessage(merr.ErrDatabaseNotFound, fmt.Sprintf("failed to get database by name: database not found[database=%s]", name))
	}
	m := map[string]string{}
	for _, kv := range d.props {
		m[kv.Key] = kv.Value
	}
	for _, kv := range set {
		m[kv.GetKey()] = kv.GetValue()
	}
	for _, k := range del {
		delete(m, k)
	}
	var kvs []*commonpb.KeyValuePair
	for k, v := range m {
		kvs = append(kvs, &commonpb.KeyValuePair{Key: k, Value: v})
	}
	kvs = sortedKVs(kvs)
	if sameKVs(kvs, d.props) {
		e.writeMu.Unlock()
		return nil
	}
	lsn, err := e.commitLocked(RecAlterDatabase, &recAlterDatabase{name: name, props: kvs}, 128)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

func (d *database) info() *DatabaseInfo {
	di := &DatabaseInfo{ID: d.id, Name: d.name, Properties: slices.Clone(d.props)}
	if d.createdAt != 0 {
		di.CreatedAt = time.Unix(0, d.createdAt)
	}
	return di
}

// ListDatabases returns every database: "default" first, then by creation.
func (e *Engine) ListDatabases() ([]*DatabaseInfo, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*DatabaseInfo, 0, len(e.cat.dbs))
	for _, d := range e.cat.dbs {
		out = append(out, d.info())
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == DefaultDB) != (out[j].Name == DefaultDB) {
			return out[i].Name == DefaultDB
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// DescribeDatabase describes database name ("" is "default").
func (e *Engine) DescribeDatabase(name string) (*DatabaseInfo, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	d, err := e.cat.db(name)
	if err != nil {
		return nil, err
	}
	return d.info(), nil
}

// CreateAlias makes alias name collection coll of database db. Creating
// an alias that already names the same collection succeeds unchanged.
func (e *Engine) CreateAlias(ctx context.Context, db, coll, alias string) error {
	return e.putAlias(ctx, db, coll, alias, RecCreateAlias)
}

// AlterAlias points an existing alias at another collection.
func (e *Engine) AlterAlias(ctx context.Context, db, coll, alias string) error {
	return e.putAlias(ctx, db, coll, alias, RecAlterAlias)
}

func (e *Engine) putAlias(ctx context.Context, db, coll, alias string, typ wal.RecordType) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	if err := validateAlias(alias); err != nil {
		return err
	}
	if err := validateName("collection name", coll); err != nil {
		return err
	}
	db = normDB(db)
	e.writeMu.Lock()
	lsn, err := func() (uint64, error) {
		if _, err := e.cat.db(db); err != nil {
			return 0, err
		}
		k := nameKey(db, alias)
		if _, ok := e.cat.byName[k]; ok {
			return 0, merr.Wrap(merr.ErrAliasNameConflict, "", "database", db, "alias", alias)
		}
		c, ok := e.cat.byName[nameKey(db, coll)]
		if !ok {
			if typ == RecAlterAlias {
				return 0, merr.CollectionNotFound(coll)
			}
			return 0, merr.Wrap(merr.ErrCollectionNotFound, "", "database", db, "collection", coll)
		}
		old, exists := e.cat.aliases[k]
		switch {
		case exists && old == c.id:
			return 0, nil // nothing to change
		case exists && typ == RecCreateAlias:
			return 0, merr.WithMessage(merr.ErrAliasAlreadyExist, fmt.Sprintf("%s is alias to another collection: %s: alias already exist[database=%s][alias=%s]", alias, e.cat.colls[old].name, db, alias))
		case !exists && typ == RecAlterAlias:
			return 0, merr.Wrap(merr.ErrAliasNotFound, "", "database", db, "alias", alias)
		}
		return e.commitLocked(typ, &recAlias{typ: typ, db: db, alias: alias, collID: c.id}, 64)
	}()
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// DropAlias removes an alias.
func (e *Engine) DropAlias(ctx context.Context, db, alias string) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	if err := validateAlias(alias); err != nil {
		return err
	}
	db = normDB(db)
	e.writeMu.Lock()
	if _, ok := e.cat.aliases[nameKey(db, alias)]; !ok {
		e.writeMu.Unlock()
		return merr.Wrap(merr.ErrAliasNotFound, "", "database", db, "alias", alias)
	}
	lsn, err := e.commitLocked(RecDropAlias, &recAlias{typ: RecDropAlias, db: db, alias: alias}, 64)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// DescribeAlias returns the name of the collection alias names.
func (e *Engine) DescribeAlias(db, alias string) (string, error) {
	if err := e.check(); err != nil {
		return "", err
	}
	if err := validateAlias(alias); err != nil {
		return "", err
	}
	db = normDB(db)
	e.mu.RLock()
	defer e.mu.RUnlock()
	if _, err := e.cat.db(db); err != nil {
		return "", err
	}
	id, ok := e.cat.aliases[nameKey(db, alias)]
	if !ok {
		return "", merr.Wrap(merr.ErrAliasNotFound, "", "database", db, "alias", alias)
	}
	return e.cat.colls[id].name, nil
}

// ListAliases lists the aliases of database db, or of collection coll in
// it when coll is not empty, sorted.
func (e *Engine) ListAliases(db, coll string) ([]string, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	db = normDB(db)
	e.mu.RLock()
	defer e.mu.RUnlock()
	if _, err := e.cat.db(db); err != nil {
		return nil, err
	}
	if coll != "" {
		c, ok := e.cat.byName[nameKey(db, coll)]
		if !ok {
			return nil, merr.CollectionNotFound(coll)
		}
		return e.cat.aliasesOf(c.id), nil
	}
	out := []string{}
	prefix := db + "\x00"
	for k := range e.cat.aliases {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k[len(prefix):])
		}
	}
	sort.Strings(out)
	return out, nil
}

// RenameCollection renames collection oldName of db to newName in newDB
// ("" keeps db), with Milvus's refusals.
func (e *Engine) RenameCollection(ctx context.Context, db, oldName, newDB, newName string) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	db = normDB(db)
	if newDB == "" {
		newDB = db
	}
	switch {
	case newName == "":
		return merr.Wrapf(merr.ErrParameterInvalid, "new collection name should not be empty")
	case oldName == "":
		return merr.Wrapf(merr.ErrParameterInvalid, "old collection name should not be empty")
	case db == newDB && oldName == newName:
		return merr.Wrapf(merr.ErrParameterInvalid, "collection name or database name should be different")
	}
	if err := validateName("collection name", newName); err != nil {
		return err
	}
	e.writeMu.Lock()
	lsn, err := func() (uint64, error) {
		if _, err := e.cat.db(db); err != nil {
			return 0, err
		}
		if _, ok := e.cat.dbs[newDB]; !ok {
			return 0, merr.WithMessage(merr.ErrUnexpected, fmt.Sprintf("target database:%s not found", newDB))
		}
		if _, ok := e.cat.aliases[nameKey(db, oldName)]; ok {
			return 0, merr.WithMessage(merr.ErrUnexpected, "unsupported use an alias to rename collection, alias:"+oldName)
		}
		if _, ok := e.cat.aliases[nameKey(newDB, newName)]; ok {
			return 0, merr.WithMessage(merr.ErrUnexpected, "cannot rename collection to an existing alias: "+newName)
		}
		if _, ok := e.cat.byName[nameKey(newDB, newName)]; ok {
			return 0, merr.WithMessage(merr.ErrUnexpected, fmt.Sprintf("duplicated new collection name %s:%s with other collection name or alias", newDB, newName))
		}
		c, ok := e.cat.byName[nameKey(db, oldName)]
		if !ok {
			return 0, merr.CollectionNotFound(oldName)
		}
		if newDB != db && len(e.cat.aliasesOf(c.id)) > 0 {
			return 0, merr.WithMessage(merr.ErrUnexpected, "fail to rename db name, must drop all aliases of this collection before rename")
		}
		return e.commitLocked(RecRenameCollection, &recRenameCollection{collID: c.id, newDB: newDB, newName: newName}, 64)
	}()
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}
