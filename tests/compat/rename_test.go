package compat

import (
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"github.com/milvus-io/milvus/pkg/v2/util/merr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestCompatRename: RenameCollection within a database (aliases follow)
// and into another database (the SDK's option has no new database, so the
// request is sent as the SDK would with RenameCollectionRequest.NewDBName),
// with Milvus's refusals; the renamed collections survive a restart /
// failover.
func TestCompatRename(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		a, b, dst := e.Coll(t), e.Coll(t), e.Coll(t)
		alias := "al_" + e.Coll(t)
		db := "db_" + e.Coll(t)
		dbQuickColl(t, e, e.C, a, 5)
		dbQuickColl(t, e, e.C, b, 1)
		dbMust(t, e.C.CreateAlias(e.Ctx, milvusclient.NewCreateAliasOption(a, alias)))
		dbMust(t, e.C.CreateDatabase(e.Ctx, milvusclient.NewCreateDatabaseOption(db)))

		rename := func(old, new string) error {
			return e.C.RenameCollection(e.Ctx, milvusclient.NewRenameCollectionOption(old, new))
		}
		dbWantErr(t, "same name", rename(a, a), 1100, "collection name or database name should be different")
		dbWantErr(t, "to an existing collection", rename(a, b), 65535, "duplicated new collection name default:"+b+" with other collection name or alias")
		dbWantErr(t, "to an alias", rename(b, alias), 65535, "cannot rename collection to an existing alias: "+alias)
		dbWantErr(t, "an alias", rename(alias, dst), 65535, "unsupported use an alias to rename collection, alias:"+alias)
		dbWantErr(t, "a missing collection", rename("no_"+a, dst), 100, "collection not found")

		conn, err := grpc.NewClient(e.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		raw := milvuspb.NewMilvusServiceClient(conn)
		moveTo := func(old, newDB, newName string) error {
			st, err := raw.RenameCollection(e.Ctx, &milvuspb.RenameCollectionRequest{OldName: old, NewDBName: newDB, NewName: newName})
			return merr.CheckRPCCall(st, err)
		}
		dbWantErr(t, "into a missing database", moveTo(b, "no_"+db, b), 65535, "target database:no_"+db+" not found")
		dbWantErr(t, "across databases with aliases", moveTo(a, db, a), 65535, "fail to rename db name, must drop all aliases of this collection before rename")

		// Within the database: the alias follows.
		dbMust(t, rename(a, dst))
		// Across databases.
		if err := moveTo(b, db, b); err != nil {
			t.Fatal(err)
		}
		c1 := dbClient(t, e, db)
		check := func(when string, c1 *milvusclient.Client) {
			t.Helper()
			if n := dbCountRows(t, e, e.C, dst); n != 5 {
				t.Fatalf("%s: rows of %s: %d", when, dst, n)
			}
			if n := dbCountRows(t, e, e.C, alias); n != 5 {
				t.Fatalf("%s: rows through the alias: %d", when, n)
			}
			al, err := e.C.DescribeAlias(e.Ctx, milvusclient.NewDescribeAliasOption(alias))
			if err != nil || al.CollectionName != dst {
				t.Fatalf("%s: alias names %+v %v", when, al, err)
			}
			for _, gone := range []string{a, b} {
				if has, err := e.C.HasCollection(e.Ctx, milvusclient.NewHasCollectionOption(gone)); err != nil || has {
					t.Fatalf("%s: %s still in default: %v %v", when, gone, has, err)
				}
			}
			if n := dbCountRows(t, e, c1, b); n != 1 {
				t.Fatalf("%s: rows of %s in %s: %d", when, b, db, n)
			}
			coll, err := c1.DescribeCollection(e.Ctx, milvusclient.NewDescribeCollectionOption(b))
			if err != nil || coll.Name != b || coll.Schema.CollectionName != b {
				t.Fatalf("%s: describe moved %+v %v", when, coll, err)
			}
		}
		check("before "+e.Name+" disruption", c1)
		dbAwaitConverged(t, e)
		e.Disrupt(t)
		c1 = dbClient(t, e, db)
		check("after "+e.Name+" disruption", c1)

		dbMust(t, e.C.DropAlias(e.Ctx, milvusclient.NewDropAliasOption(alias)))
		dbMust(t, e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(dst)))
		dbMust(t, c1.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(b)))
		dbMust(t, e.C.DropDatabase(e.Ctx, milvusclient.NewDropDatabaseOption(db)))
		dbAwaitConverged(t, e)
	})
}
