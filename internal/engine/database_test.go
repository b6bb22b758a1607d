package engine

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/wal"
)

// dbColl creates, indexes and loads collection name in db.
func dbColl(t *testing.T, e *Engine, db, name string) {
	t.Helper()
	if err := e.CreateCollection(bg, db, testSchema(name, 4, false, false, false), CreateCollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateIndex(bg, db, name, "vec", "", map[string]string{"index_type": "FLAT", "metric_type": "L2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.LoadCollection(bg, db, name); err != nil {
		t.Fatal(err)
	}
}

func dbInsert(t *testing.T, e *Engine, r *rand.Rand, db, coll string, ids []int64) {
	t.Helper()
	b := genBatch(r, ids, 4, false)
	if _, err := e.Insert(bg, db, coll, "", b.fields(4, true, false, false), len(ids)); err != nil {
		t.Fatal(err)
	}
}

func dbCount(t *testing.T, e *Engine, db, coll string) int64 {
	t.Helper()
	res, err := e.Query(bg, &QueryRequest{DB: db, Collection: coll, OutputFields: []string{"count(*)"}})
	if err != nil {
		t.Fatalf("count %s.%s: %v", db, coll, err)
	}
	return res[0].GetScalars().GetLongData().GetData()[0]
}

// wantErr checks err's Milvus code and that its message contains msg.
func wantErr(t *testing.T, err error, code int32, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want code %d %q", code, msg)
	}
	if merr.Code(err) != code || !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q (code %d), want code %d containing %q", err, merr.Code(err), code, msg)
	}
}

// dbWorkload runs databases, aliases and renames with their refusals; it
// leaves db1 (collection c, aliases a1, a2), db2 (moved, renamed from d2)
// and default (c) populated.
func dbWorkload(t *testing.T, e *Engine) {
	t.Helper()
	r := rand.New(rand.NewSource(7))
	if err := e.CreateDatabase(bg, "db1", []*commonpb.KeyValuePair{kv("k", "v")}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.CreateDatabase(bg, "db1", nil), 65535, "database already exist: db1")
	wantErr(t, e.CreateDatabase(bg, "1db", nil), 802, "invalid database name[database=1db]")
	wantErr(t, e.CreateDatabase(bg, "", nil), 802, "database name couldn't be empty")

	// Same collection name in two databases: independent.
	dbColl(t, e, "", "c")
	dbColl(t, e, "db1", "c")
	dbInsert(t, e, r, "", "c", seq(0, 10))
	dbInsert(t, e, r, "db1", "c", seq(100, 3))
	if n := dbCount(t, e, "default", "c"); n != 10 {
		t.Fatalf("default.c count %d", n)
	}
	if n := dbCount(t, e, "db1", "c"); n != 3 {
		t.Fatalf("db1.c count %d", n)
	}
	wantErr(t, e.CreateCollection(bg, "nodb", testSchema("x", 4, false, false, false), CreateCollectionOptions{}), 800, "database not found[database=nodb]")
	_, err := e.DescribeCollection("nodb", "c")
	wantErr(t, err, 800, "database not found")

	// Databases: listing, refusals.
	wantErr(t, e.DropDatabase(bg, "default"), 65535, "can not drop default database")
	wantErr(t, e.DropDatabase(bg, "db1"), 65535, "database:db1 not empty, must drop all collections before drop database")
	if err := e.DropDatabase(bg, "nodb"); err != nil {
		t.Fatalf("drop missing database: %v", err)
	}
	if err := e.AlterDatabase(bg, "db1", []*commonpb.KeyValuePair{kv("a", "1")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.AlterDatabase(bg, "db1", nil, []string{"k"}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.AlterDatabase(bg, "db1", []*commonpb.KeyValuePair{kv("a", "1")}, []string{"k"}), 1100, "at the same time")
	wantErr(t, e.AlterDatabase(bg, "nodb", []*commonpb.KeyValuePair{kv("a", "1")}, nil), 800, "database not found[database=nodb]")
	di, err := e.DescribeDatabase("db1")
	if err != nil || len(di.Properties) != 1 || di.Properties[0].Key != "a" {
		t.Fatalf("describe db1: %+v %v", di, err)
	}

	// Aliases.
	if err := e.CreateAlias(bg, "db1", "c", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateAlias(bg, "db1", "c", "a1"); err != nil { // same target: no change
		t.Fatal(err)
	}
	wantErr(t, e.CreateAlias(bg, "db1", "c", "c"), 1601, "alias and collection name conflict[database=db1][alias=c]")
	wantErr(t, e.CreateAlias(bg, "db1", "nope", "a9"), 100, "collection not found[database=db1][collection=nope]")
	dbColl(t, e, "db1", "d")
	wantErr(t, e.CreateAlias(bg, "db1", "d", "a1"), 1602, "a1 is alias to another collection: c")
	wantErr(t, e.AlterAlias(bg, "db1", "d", "zz"), 1600, "alias not found[database=db1][alias=zz]")
	if err := e.AlterAlias(bg, "db1", "d", "a1"); err != nil {
		t.Fatal(err)
	}
	if name, err := e.DescribeAlias("db1", "a1"); err != nil || name != "d" {
		t.Fatalf("describe a1: %q %v", name, err)
	}
	if err := e.AlterAlias(bg, "db1", "c", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateAlias(bg, "db1", "c", "a2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DescribeAlias("default", "a1"); merr.Code(err) != 1600 {
		t.Fatalf("alias visible from another database: %v", err)
	}
	// Usable as the collection's name.
	dbInsert(t, e, r, "db1", "a1", seq(200, 2))
	if n := dbCount(t, e, "db1", "a2"); n != 5 {
		t.Fatalf("count through alias %d", n)
	}
	ci, err := e.DescribeCollection("db1", "a2")
	if err != nil || ci.Name != "c" || !slices.Equal(ci.Aliases, []string{"a1", "a2"}) || ci.DB != "db1" {
		t.Fatalf("describe via alias: %+v %v", ci, err)
	}
	wantErr(t, e.DropCollection(bg, "db1", "a1"), 65535, "cannot drop the collection via alias = a1")
	wantErr(t, e.DropCollection(bg, "db1", "c"), 65535, "unable to drop the collection [c] because it has associated aliases [a1 a2], please remove all aliases before dropping the collection")
	wantErr(t, e.CreateCollection(bg, "db1", testSchema("a1", 4, false, false, false), CreateCollectionOptions{}), 65535, "collection name [a1] conflicts with an existing alias")
	if al, err := e.ListAliases("db1", ""); err != nil || !slices.Equal(al, []string{"a1", "a2"}) {
		t.Fatalf("list aliases: %v %v", al, err)
	}

	// Rename.
	if err := e.CreateDatabase(bg, "db2", nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.RenameCollection(bg, "db1", "c", "db2", "c"), 65535, "fail to rename db name, must drop all aliases of this collection before rename")
	wantErr(t, e.RenameCollection(bg, "db1", "a1", "", "x"), 65535, "unsupported use an alias to rename collection, alias:a1")
	wantErr(t, e.RenameCollection(bg, "db1", "d", "", "a2"), 65535, "cannot rename collection to an existing alias: a2")
	wantErr(t, e.RenameCollection(bg, "db1", "d", "", "c"), 65535, "duplicated new collection name db1:c with other collection name or alias")
	wantErr(t, e.RenameCollection(bg, "db1", "d", "nodb", "x"), 65535, "target database:nodb not found")
	wantErr(t, e.RenameCollection(bg, "db1", "d", "", "d"), 1100, "collection name or database name should be different")
	if err := e.RenameCollection(bg, "db1", "c", "", "c2"); err != nil { // aliases follow
		t.Fatal(err)
	}
	if name, _ := e.DescribeAlias("db1", "a1"); name != "c2" {
		t.Fatalf("alias after rename names %q", name)
	}
	dbInsert(t, e, r, "db1", "d", seq(300, 4))
	if err := e.RenameCollection(bg, "db1", "d", "db2", "d2"); err != nil {
		t.Fatal(err)
	}
	if n := dbCount(t, e, "db2", "d2"); n != 4 {
		t.Fatalf("moved collection count %d", n)
	}
	if _, err := e.DescribeCollection("db1", "d"); merr.Code(err) != 100 {
		t.Fatalf("old name still there: %v", err)
	}
	ci, err = e.DescribeCollection("db2", "d2")
	if err != nil || ci.Schema.GetName() != "d2" || ci.DB != "db2" {
		t.Fatalf("describe moved: %+v %v", ci, err)
	}
	ls, _ := e.ListCollections("db2")
	if len(ls) != 1 || ls[0].Name != "d2" {
		t.Fatalf("list db2: %v", ls)
	}
	if err := e.DropAlias(bg, "db1", "a2"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.DropAlias(bg, "db1", "a2"), 1600, "alias not found[database=db1][alias=a2]")
	dbs, _ := e.ListDatabases()
	var names []string
	for _, d := range dbs {
		names = append(names, d.Name)
	}
	if !slices.Equal(names, []string{"default", "db1", "db2"}) {
		t.Fatalf("databases %v", names)
	}
}

// TestDatabasesAliasesRename runs the workload, then checks that the
// state survives a reopen (WAL replay), a checkpoint, a replica applying
// the same records, and the change stream (snapshot and records).
func TestDatabasesAliasesRename(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	dbWorkload(t, e)
	want := mustDigest(t, e)
	var recs []wal.Record
	if err := e.IterateWAL(1, func(r wal.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	// Every record decodes.
	for _, r := range recs {
		if _, err := decodeRecord(r.Type, r.Payload); err != nil {
			t.Fatalf("lsn %d type %d: %v", r.LSN, r.Type, err)
		}
		v, err := ViewRecord(r.Type, r.Payload) // the change stream's JSON view
		if err != nil || strings.HasPrefix(v.Type, "type_") {
			t.Fatalf("lsn %d type %d: view %+v %v", r.LSN, r.Type, v, err)
		}
		if r.Type == RecRenameCollection && v.Database == "" {
			t.Fatalf("rename view %+v", v)
		}
	}

	// A replica applying the records reaches the same state.
	b := openTest(t, t.TempDir(), nil)
	for _, r := range recs {
		if err := b.ApplyRecord(r); err != nil {
			t.Fatalf("apply lsn %d: %v", r.LSN, err)
		}
	}
	if err := b.WaitDurable(bg, b.LastLSN()); err != nil {
		t.Fatal(err)
	}
	if got := mustDigest(t, b); got != want {
		t.Fatal("replica digest differs")
	}
	b.Close()

	// The change stream: snapshot into one alternative, records into another.
	alt := openTest(t, t.TempDir(), nil)
	shipSnapshot(t, e, alt)
	if dataDigest(t, alt) != dataDigest(t, e) {
		t.Fatal("alternative (snapshot) data digest differs")
	}
	alt.Close()
	alt = openTest(t, t.TempDir(), nil)
	shipWAL(t, e, alt, 0)
	if dataDigest(t, alt) != dataDigest(t, e) {
		t.Fatal("alternative (records) data digest differs")
	}
	alt.Close()

	// Reopen: WAL replay.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir, nil)
	if got := mustDigest(t, e); got != want {
		t.Fatal("digest differs after replay")
	}
	// Checkpoint, reopen: the catalog's database section.
	if err := e.Checkpoint(bg); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e = openTest(t, dir, nil)
	defer e.Close()
	if got := mustDigest(t, e); got != want {
		t.Fatal("digest differs after checkpoint")
	}
	if n := dbCount(t, e, "db1", "a1"); n != 5 {
		t.Fatalf("count through alias after checkpoint %d", n)
	}
	if n := dbCount(t, e, "db2", "d2"); n != 4 {
		t.Fatalf("moved collection after checkpoint %d", n)
	}
	// Emptied, a database can be dropped.
	if err := e.DropAlias(bg, "db1", "a1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"c2", "d"} {
		if err := e.DropCollection(bg, "db1", c); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.DropDatabase(bg, "db1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ListCollections("db1"); merr.Code(err) != 800 {
		t.Fatalf("dropped database: %v", err)
	}
}

// TestDatabaseLimit: 64 databases besides default, then Milvus's refusal.
func TestDatabaseLimit(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	for i := range MaxDatabases {
		if err := e.CreateDatabase(bg, fmt.Sprintf("d%d", i), nil); err != nil {
			t.Fatalf("db %d: %v", i, err)
		}
	}
	wantErr(t, e.CreateDatabase(bg, "one_more", nil), 801, "exceeded the limit number of database[limit=64]")
}

// FuzzDecodeDBRecords: the database, alias and rename records, and the
// catalog's database section, never panic on arbitrary bytes, and what
// they decode re-encodes to a payload that decodes to the same.
func FuzzDecodeDBRecords(f *testing.F) {
	bodies := []struct {
		typ  wal.RecordType
		body recBody
	}{
		{RecCreateDatabase, &recCreateDatabase{id: 5, name: "db1", createdAt: 9, props: []*commonpb.KeyValuePair{kv("a", "b")}}},
		{RecDropDatabase, &recDropDatabase{name: "db1"}},
		{RecAlterDatabase, &recAlterDatabase{name: "db1", props: []*commonpb.KeyValuePair{kv("a", "c")}}},
		{RecCreateAlias, &recAlias{typ: RecCreateAlias, db: "db1", alias: "a", collID: 7}},
		{RecAlterAlias, &recAlias{typ: RecAlterAlias, db: "db1", alias: "a", collID: 8}},
		{RecDropAlias, &recAlias{typ: RecDropAlias, db: "db1", alias: "a"}},
		{RecRenameCollection, &recRenameCollection{collID: 7, newDB: "db2", newName: "x"}},
		{RecCreateCollection, &recCreateCollection{id: 3, db: "db1", name: "c", schema: testSchema("c", 4, false, false, false), defaultPartID: 4}},
	}
	for _, b := range bodies {
		p, err := encodeRecord(b.body, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(b.typ), p)
	}
	f.Fuzz(func(t *testing.T, typ uint8, payload []byte) {
		body, err := decodeRecord(wal.RecordType(typ), payload)
		if err != nil || typ < uint8(RecCreateDatabase) || typ > uint8(RecRenameCollection) {
			return
		}
		again, err := encodeRecord(body, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Lengths may arrive as non-minimal varints: compare canonical forms.
		body2, err := decodeRecord(wal.RecordType(typ), again)
		if err != nil {
			t.Fatalf("type %d: re-encoded %x does not decode: %v", typ, again, err)
		}
		if third, _ := encodeRecord(body2, 0); string(third) != string(again) {
			t.Fatalf("type %d: %x re-encodes to %x", typ, again, third)
		}
		// The catalog's database section parser on the same bytes.
		c := newCatalog()
		_ = c.decodeDBSection(&dec{b: payload})
	})
}
