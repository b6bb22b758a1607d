package compat

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"github.com/milvus-io/milvus/pkg/v2/util/merr"

	"github.com/tandem-db/tandem/internal/localgroup"
)

// dbWantErr checks an SDK error's Milvus code and that its message holds msg.
func dbWantErr(t *testing.T, what string, err error, code int32, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want code %d %q", what, code, msg)
	}
	if merr.Code(err) != code || !strings.Contains(err.Error(), msg) {
		t.Fatalf("%s: error %q (code %d), want code %d containing %q", what, err, merr.Code(err), code, msg)
	}
}

// dbClient connects a client whose current database is db.
func dbClient(t *testing.T, e *Env, db string) *milvusclient.Client {
	t.Helper()
	c, err := milvusclient.New(e.Ctx, &milvusclient.ClientConfig{Address: e.Addr, DBName: db})
	if err != nil {
		t.Fatalf("connect to database %s: %v", db, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// dbQuickColl creates (quick setup: id, 4-dim "vector", loaded) and fills a
// collection with n rows.
func dbQuickColl(t *testing.T, e *Env, c *milvusclient.Client, name string, n int) {
	t.Helper()
	if err := c.CreateCollection(e.Ctx, milvusclient.SimpleCreateCollectionOptions(name, 4)); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	dbInsertRows(t, e, c, name, n)
}

func dbInsertRows(t *testing.T, e *Env, c *milvusclient.Client, name string, n int) {
	t.Helper()
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = []float32{float32(i), 1, 0.5, 0.25}
	}
	if _, err := c.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name).WithFloatVectorColumn("vector", 4, vecs)); err != nil {
		t.Fatalf("insert into %s: %v", name, err)
	}
}

// dbCountRows is count(*) of a collection (strong consistency).
func dbCountRows(t *testing.T, e *Env, c *milvusclient.Client, name string) int64 {
	t.Helper()
	rs, err := c.Query(e.Ctx, milvusclient.NewQueryOption(name).WithOutputFields("count(*)").WithConsistencyLevel(entity.ClStrong))
	if err != nil {
		t.Fatalf("count %s: %v", name, err)
	}
	n, err := rs.GetColumn("count(*)").GetAsInt64(0)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// dbAwaitConverged: on the HA target, every member reaches the same applied
// LSN and state digest (the standbys replicated the records exactly).
func dbAwaitConverged(t *testing.T, e *Env) {
	t.Helper()
	if e.Name != "ha" {
		return
	}
	ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
	defer cancel()
	if _, err := haT.cluster.AwaitStatus(ctx, "all members converged", localgroup.Converged(3)); err != nil {
		t.Fatal(err)
	}
}

// TestCompatDatabases: create/list/describe/alter/drop databases; the
// same collection name in two databases names two collections; the
// refusals (duplicate, bad name, non-empty, default, unknown database);
// everything survives a restart / failover.
func TestCompatDatabases(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		db := "db_" + e.Coll(t)
		name := e.Coll(t)
		if err := e.C.CreateDatabase(e.Ctx, milvusclient.NewCreateDatabaseOption(db).WithProperty("database.max.collections", 8)); err != nil {
			t.Fatal(err)
		}
		dbWantErr(t, "create existing", e.C.CreateDatabase(e.Ctx, milvusclient.NewCreateDatabaseOption(db)), 65535, "database already exist: "+db)
		dbWantErr(t, "create bad name", e.C.CreateDatabase(e.Ctx, milvusclient.NewCreateDatabaseOption("1x")), 802, "invalid database name[database=1x]")
		dbMust(t, e.C.AlterDatabaseProperties(e.Ctx, milvusclient.NewAlterDatabasePropertiesOption(db).WithProperty("k", "v")))
		dbMust(t, e.C.DropDatabaseProperties(e.Ctx, milvusclient.NewDropDatabasePropertiesOption(db, "database.max.collections")))

		c1 := dbClient(t, e, db)
		dbQuickColl(t, e, e.C, name, 6) // default
		dbQuickColl(t, e, c1, name, 3)  // db, same name
		dbWantErr(t, "drop non-empty", e.C.DropDatabase(e.Ctx, milvusclient.NewDropDatabaseOption(db)), 65535,
			"database:"+db+" not empty, must drop all collections before drop database")
		dbWantErr(t, "drop default", e.C.DropDatabase(e.Ctx, milvusclient.NewDropDatabaseOption("default")), 65535, "can not drop default database")
		_, err := milvusclient.New(e.Ctx, &milvusclient.ClientConfig{Address: e.Addr, DBName: "no_such_db_" + name})
		dbWantErr(t, "connect to a missing database", err, 800, "database not found")

		check := func(when string, c1 *milvusclient.Client) {
			t.Helper()
			if a, b := dbCountRows(t, e, e.C, name), dbCountRows(t, e, c1, name); a != 6 || b != 3 {
				t.Fatalf("%s: rows default %d, %s %d", when, a, db, b)
			}
			dbs, err := e.C.ListDatabase(e.Ctx, milvusclient.NewListDatabaseOption())
			if err != nil || !slices.Contains(dbs, db) || dbs[0] != "default" {
				t.Fatalf("%s: databases %v %v", when, dbs, err)
			}
			d, err := e.C.DescribeDatabase(e.Ctx, milvusclient.NewDescribeDatabaseOption(db))
			if err != nil || d.Name != db || len(d.Properties) != 1 || d.Properties["k"] != "v" {
				t.Fatalf("%s: describe %+v %v", when, d, err)
			}
			names, err := c1.ListCollections(e.Ctx, milvusclient.NewListCollectionOption())
			if err != nil || !slices.Equal(names, []string{name}) {
				t.Fatalf("%s: collections of %s: %v %v", when, db, names, err)
			}
		}
		check("before "+e.Name+" disruption", c1)
		dbAwaitConverged(t, e)
		e.Disrupt(t)
		c1 = dbClient(t, e, db) // connecting checks that the database survived
		check("after "+e.Name+" disruption", c1)

		// UseDatabase switches a client.
		dbMust(t, e.C.UseDatabase(e.Ctx, milvusclient.NewUseDatabaseOption(db)))
		if n := dbCountRows(t, e, e.C, name); n != 3 {
			t.Fatalf("after UseDatabase: %d rows", n)
		}
		dbMust(t, e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(name)))
		dbMust(t, e.C.UseDatabase(e.Ctx, milvusclient.NewUseDatabaseOption("default")))
		dbMust(t, e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(name)))
		dbMust(t, e.C.DropDatabase(e.Ctx, milvusclient.NewDropDatabaseOption(db)))
		_, err = e.C.DescribeDatabase(e.Ctx, milvusclient.NewDescribeDatabaseOption(db))
		dbWantErr(t, "describe dropped", err, 800, "database not found[database="+db+"]")
		dbAwaitConverged(t, e)
	})
}

func dbMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
