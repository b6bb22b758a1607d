package milvus

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	sdkmerr "github.com/milvus-io/milvus/pkg/v2/util/merr"
)

// sdkErr checks an SDK error's Milvus code and message.
func sdkErr(t *testing.T, err error, code int32, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want code %d %q", code, msg)
	}
	if sdkmerr.Code(err) != code || !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q (code %d), want code %d containing %q", err, sdkmerr.Code(err), code, msg)
	}
}

// TestSDKDatabasesAliasesRename drives databases, aliases and renames with
// the official Go SDK: the database travels in the "dbname" header
// (ClientConfig.DBName, UseDatabase) and in request fields.
func TestSDKDatabasesAliasesRename(t *testing.T) {
	ts := startServer(t, Options{})
	c := sdkClient(t, ts)
	ctx := testCtx(t)

	must(t, c.CreateDatabase(ctx, milvusclient.NewCreateDatabaseOption("db1").WithProperty("database.max.collections", 10)))
	sdkErr(t, c.CreateDatabase(ctx, milvusclient.NewCreateDatabaseOption("db1")), 65535, "database already exist: db1")
	dbs, err := c.ListDatabase(ctx, milvusclient.NewListDatabaseOption())
	if err != nil || !slices.Equal(dbs, []string{"default", "db1"}) {
		t.Fatalf("ListDatabase: %v %v", dbs, err)
	}
	d, err := c.DescribeDatabase(ctx, milvusclient.NewDescribeDatabaseOption("db1"))
	if err != nil || d.Name != "db1" || d.Properties["database.max.collections"] != "10" {
		t.Fatalf("DescribeDatabase: %+v %v", d, err)
	}
	must(t, c.AlterDatabaseProperties(ctx, milvusclient.NewAlterDatabasePropertiesOption("db1").WithProperty("x", "1")))
	must(t, c.DropDatabaseProperties(ctx, milvusclient.NewDropDatabasePropertiesOption("db1", "database.max.collections")))
	d, _ = c.DescribeDatabase(ctx, milvusclient.NewDescribeDatabaseOption("db1"))
	if len(d.Properties) != 1 || d.Properties["x"] != "1" {
		t.Fatalf("properties after alter: %v", d.Properties)
	}
	_, err = c.DescribeDatabase(ctx, milvusclient.NewDescribeDatabaseOption("nodb"))
	if !errors.Is(err, sdkmerr.ErrDatabaseNotFound) {
		t.Fatalf("describe missing database: %v", err)
	}

	// The same name in default and db1: independent collections.
	must(t, c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4)))
	c1, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: ts.addr, Username: "root", Password: "Milvus", DBName: "db1"})
	must(t, err)
	defer c1.Close(context.Background())
	must(t, c1.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4)))
	insert := func(cl *milvusclient.Client, coll string, n int) {
		t.Helper()
		vecs := make([][]float32, n)
		for i := range vecs {
			vecs[i] = unitVec(i)
		}
		_, err := cl.Insert(ctx, milvusclient.NewColumnBasedInsertOption(coll).WithFloatVectorColumn("vector", 4, vecs))
		must(t, err)
	}
	count := func(cl *milvusclient.Client, coll string) int64 {
		t.Helper()
		rs, err := cl.Query(ctx, milvusclient.NewQueryOption(coll).WithOutputFields("count(*)").WithConsistencyLevel(entity.ClStrong))
		must(t, err)
		n, err := rs.GetColumn("count(*)").GetAsInt64(0)
		must(t, err)
		return n
	}
	insert(c, "c", 5)
	insert(c1, "c", 2)
	if a, b := count(c, "c"), count(c1, "c"); a != 5 || b != 2 {
		t.Fatalf("counts default %d db1 %d", a, b)
	}
	sdkErr(t, c.DropDatabase(ctx, milvusclient.NewDropDatabaseOption("db1")), 65535, "database:db1 not empty, must drop all collections before drop database")
	sdkErr(t, c.DropDatabase(ctx, milvusclient.NewDropDatabaseOption("default")), 65535, "can not drop default database")

	// UseDatabase switches the client; a missing database is refused.
	must(t, c.UseDatabase(ctx, milvusclient.NewUseDatabaseOption("db1")))
	if n := count(c, "c"); n != 2 {
		t.Fatalf("after UseDatabase(db1): %d", n)
	}
	if err := c.UseDatabase(ctx, milvusclient.NewUseDatabaseOption("nodb")); !errors.Is(err, sdkmerr.ErrDatabaseNotFound) {
		t.Fatalf("UseDatabase(nodb): %v", err)
	}
	must(t, c.UseDatabase(ctx, milvusclient.NewUseDatabaseOption("default")))

	// Aliases (in db1 through c1).
	must(t, c1.CreateAlias(ctx, milvusclient.NewCreateAliasOption("c", "a1")))
	sdkErr(t, c1.CreateAlias(ctx, milvusclient.NewCreateAliasOption("c", "c")), 1601, "alias and collection name conflict[database=db1][alias=c]")
	must(t, c1.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("d", 4)))
	sdkErr(t, c1.CreateAlias(ctx, milvusclient.NewCreateAliasOption("d", "a1")), 1602, "a1 is alias to another collection: c")
	al, err := c1.DescribeAlias(ctx, milvusclient.NewDescribeAliasOption("a1"))
	if err != nil || al.CollectionName != "c" || al.DbName != "db1" {
		t.Fatalf("DescribeAlias: %+v %v", al, err)
	}
	insert(c1, "a1", 3)
	if n := count(c1, "a1"); n != 5 {
		t.Fatalf("count through alias: %d", n)
	}
	coll, err := c1.DescribeCollection(ctx, milvusclient.NewDescribeCollectionOption("a1"))
	if err != nil || coll.Name != "c" {
		t.Fatalf("DescribeCollection(a1): %+v %v", coll, err)
	}
	rs, err := c1.Search(ctx, milvusclient.NewSearchOption("a1", 3, []entity.Vector{entity.FloatVector(unitVec(0))}))
	if err != nil || len(rs) != 1 || rs[0].ResultCount != 3 {
		t.Fatalf("search through alias: %+v %v", rs, err)
	}
	sdkErr(t, c1.DropCollection(ctx, milvusclient.NewDropCollectionOption("a1")), 65535, "cannot drop the collection via alias = a1")
	sdkErr(t, c1.DropCollection(ctx, milvusclient.NewDropCollectionOption("c")), 65535, "unable to drop the collection [c] because it has associated aliases [a1]")
	must(t, c1.AlterAlias(ctx, milvusclient.NewAlterAliasOption("a1", "d")))
	aliases, err := c1.ListAliases(ctx, milvusclient.NewListAliasesOption("d"))
	if err != nil || !slices.Equal(aliases, []string{"a1"}) {
		t.Fatalf("ListAliases(d): %v %v", aliases, err)
	}
	if _, err := c.DescribeAlias(ctx, milvusclient.NewDescribeAliasOption("a1")); !errors.Is(err, sdkmerr.ErrAliasNotFound) {
		t.Fatalf("alias seen from default: %v", err)
	}

	// Rename within db1, then c (no aliases left) into default as c2.
	sdkErr(t, c1.RenameCollection(ctx, milvusclient.NewRenameCollectionOption("a1", "x")), 65535, "unsupported use an alias to rename collection, alias:a1")
	must(t, c1.RenameCollection(ctx, milvusclient.NewRenameCollectionOption("d", "d2")))
	if al, _ := c1.DescribeAlias(ctx, milvusclient.NewDescribeAliasOption("a1")); al == nil || al.CollectionName != "d2" {
		t.Fatalf("alias after rename: %+v", al)
	}
	// The SDK's option has no new database: send the field ourselves.
	st, err := ts.grpcClient(t).RenameCollection(ctx, renameReq("db1", "c", "default", "c2"))
	if err != nil || st.GetCode() != 0 {
		t.Fatalf("rename across databases: %v %v", st, err)
	}
	if n := count(c, "c2"); n != 5 {
		t.Fatalf("moved collection count %d", n)
	}
	names, _ := c1.ListCollections(ctx, milvusclient.NewListCollectionOption())
	if !slices.Equal(names, []string{"d2"}) {
		t.Fatalf("db1 collections %v", names)
	}
}

func renameReq(db, old, newDB, newName string) *milvuspb.RenameCollectionRequest {
	return &milvuspb.RenameCollectionRequest{DbName: db, OldName: old, NewDBName: newDB, NewName: newName}
}
