package compat

import (
	"slices"
	"testing"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// TestCompatAliases: an alias is usable wherever a collection name is
// (insert, search, query, describe, load state); alter moves it; the
// refusals and their Milvus messages; aliases survive a restart /
// failover.
func TestCompatAliases(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		a, b := e.Coll(t), e.Coll(t)
		alias := "al_" + e.Coll(t)
		dbQuickColl(t, e, e.C, a, 4)
		dbQuickColl(t, e, e.C, b, 2)
		dbMust(t, e.C.CreateAlias(e.Ctx, milvusclient.NewCreateAliasOption(a, alias)))
		dbMust(t, e.C.CreateAlias(e.Ctx, milvusclient.NewCreateAliasOption(a, alias))) // same target: accepted

		dbWantErr(t, "alias named like a collection", e.C.CreateAlias(e.Ctx, milvusclient.NewCreateAliasOption(a, b)), 1601,
			"alias and collection name conflict[database=default][alias="+b+"]")
		dbWantErr(t, "alias of another collection", e.C.CreateAlias(e.Ctx, milvusclient.NewCreateAliasOption(b, alias)), 1602,
			alias+" is alias to another collection: "+a)
		dbWantErr(t, "alias of a missing collection", e.C.CreateAlias(e.Ctx, milvusclient.NewCreateAliasOption("no_"+a, "x_"+alias)), 100,
			"collection not found[database=default][collection=no_"+a+"]")
		dbWantErr(t, "alter a missing alias", e.C.AlterAlias(e.Ctx, milvusclient.NewAlterAliasOption("x_"+alias, b)), 1600,
			"alias not found[database=default][alias=x_"+alias+"]")
		_, err := e.C.DescribeAlias(e.Ctx, milvusclient.NewDescribeAliasOption("x_"+alias))
		dbWantErr(t, "describe a missing alias", err, 1600, "alias not found")
		dbWantErr(t, "drop a missing alias", e.C.DropAlias(e.Ctx, milvusclient.NewDropAliasOption("x_"+alias)), 1600, "alias not found")
		dbWantErr(t, "drop via alias", e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(alias)), 65535,
			"cannot drop the collection via alias = "+alias)
		dbWantErr(t, "drop with aliases", e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(a)), 65535,
			"unable to drop the collection ["+a+"] because it has associated aliases ["+alias+"], please remove all aliases before dropping the collection")
		dbWantErr(t, "collection named like an alias", e.C.CreateCollection(e.Ctx, milvusclient.SimpleCreateCollectionOptions(alias, 4)), 65535,
			"collection name ["+alias+"] conflicts with an existing alias, please choose a unique name")

		// Usable as the collection's name.
		dbInsertRows(t, e, e.C, alias, 3)
		check := func(when string, target string, rows int64) {
			t.Helper()
			if n := dbCountRows(t, e, e.C, alias); n != rows {
				t.Fatalf("%s: count through alias %d, want %d", when, n, rows)
			}
			al, err := e.C.DescribeAlias(e.Ctx, milvusclient.NewDescribeAliasOption(alias))
			if err != nil || al.CollectionName != target || al.DbName != "default" || al.Alias != alias {
				t.Fatalf("%s: describe alias %+v %v", when, al, err)
			}
			coll, err := e.C.DescribeCollection(e.Ctx, milvusclient.NewDescribeCollectionOption(alias))
			if err != nil || coll.Name != target {
				t.Fatalf("%s: describe collection via alias %+v %v", when, coll, err)
			}
			rs, err := e.C.Search(e.Ctx, milvusclient.NewSearchOption(alias, 2, []entity.Vector{entity.FloatVector([]float32{0, 1, 0.5, 0.25})}).
				WithConsistencyLevel(entity.ClStrong))
			if err != nil || len(rs) != 1 || rs[0].ResultCount != 2 {
				t.Fatalf("%s: search via alias %+v %v", when, rs, err)
			}
			st, err := e.C.GetLoadState(e.Ctx, milvusclient.NewGetLoadStateOption(alias))
			if err != nil || st.State != entity.LoadStateLoaded {
				t.Fatalf("%s: load state via alias %+v %v", when, st, err)
			}
			list, err := e.C.ListAliases(e.Ctx, milvusclient.NewListAliasesOption(target))
			if err != nil || !slices.Equal(list, []string{alias}) {
				t.Fatalf("%s: aliases of %s: %v %v", when, target, list, err)
			}
		}
		check("before alter", a, 7)
		dbMust(t, e.C.AlterAlias(e.Ctx, milvusclient.NewAlterAliasOption(alias, b)))
		check("after alter", b, 2)
		dbAwaitConverged(t, e)
		e.Disrupt(t)
		check("after "+e.Name+" disruption", b, 2)

		dbMust(t, e.C.DropAlias(e.Ctx, milvusclient.NewDropAliasOption(alias)))
		if n := dbCountRows(t, e, e.C, a); n != 7 {
			t.Fatalf("rows of %s: %d", a, n)
		}
		for _, c := range []string{a, b} {
			dbMust(t, e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(c)))
		}
		dbAwaitConverged(t, e)
	})
}
