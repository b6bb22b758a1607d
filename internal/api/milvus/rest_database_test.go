package milvus

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestRESTDatabasesAliasesRename covers /databases/*, /aliases/* and
// /collections/rename.
func TestRESTDatabasesAliasesRename(t *testing.T) {
	ts := startServer(t, Options{})
	ok := func(path string, body any) json.RawMessage {
		t.Helper()
		env := ts.post(t, "/v2/vectordb"+path, body)
		if env.Code != 0 {
			t.Fatalf("%s: code %d %s", path, env.Code, env.Message)
		}
		return env.Data
	}
	fails := func(path string, body any, code int32, msg string) {
		t.Helper()
		env := ts.post(t, "/v2/vectordb"+path, body)
		if env.Code != code || !strings.Contains(env.Message, msg) {
			t.Fatalf("%s: code %d %q, want %d %q", path, env.Code, env.Message, code, msg)
		}
	}
	ok("/databases/create", map[string]any{"dbName": "db1", "properties": map[string]any{"database.replica.number": 1}})
	fails("/databases/create", map[string]any{"dbName": "db1"}, 65535, "database already exist: db1")
	var names []string
	json.Unmarshal(ok("/databases/list", map[string]any{}), &names)
	if !slices.Equal(names, []string{"default", "db1"}) {
		t.Fatalf("list: %v", names)
	}
	ok("/databases/alter", map[string]any{"dbName": "db1", "properties": map[string]any{"x": "y"}})
	ok("/databases/drop_properties", map[string]any{"dbName": "db1", "propertyKeys": []string{"database.replica.number"}})
	var d struct {
		DbName     string   `json:"dbName"`
		Properties []restKV `json:"properties"`
	}
	json.Unmarshal(ok("/databases/describe", map[string]any{"dbName": "db1"}), &d)
	if d.DbName != "db1" || len(d.Properties) != 1 || d.Properties[0] != (restKV{"x", "y"}) {
		t.Fatalf("describe: %+v", d)
	}
	fails("/databases/describe", map[string]any{"dbName": "nodb"}, 800, "database not found[database=nodb]")

	ok("/collections/create", map[string]any{"dbName": "db1", "collectionName": "c", "dimension": 4})
	ok("/aliases/create", map[string]any{"dbName": "db1", "collectionName": "c", "aliasName": "a"})
	fails("/aliases/create", map[string]any{"dbName": "db1", "collectionName": "c", "aliasName": "c"}, 1601, "alias and collection name conflict")
	var al map[string]string
	json.Unmarshal(ok("/aliases/describe", map[string]any{"dbName": "db1", "aliasName": "a"}), &al)
	if al["collectionName"] != "c" || al["dbName"] != "db1" {
		t.Fatalf("describe alias: %v", al)
	}
	var desc struct {
		CollectionName string   `json:"collectionName"`
		Aliases        []string `json:"aliases"`
	}
	json.Unmarshal(ok("/collections/describe", map[string]any{"dbName": "db1", "collectionName": "a"}), &desc)
	if desc.CollectionName != "c" || !slices.Equal(desc.Aliases, []string{"a"}) {
		t.Fatalf("describe via alias: %+v", desc)
	}
	var aliases []string
	json.Unmarshal(ok("/aliases/list", map[string]any{"dbName": "db1"}), &aliases)
	if !slices.Equal(aliases, []string{"a"}) {
		t.Fatalf("aliases: %v", aliases)
	}
	fails("/databases/drop", map[string]any{"dbName": "db1"}, 65535, "database:db1 not empty")
	ok("/aliases/drop", map[string]any{"dbName": "db1", "aliasName": "a"})
	ok("/collections/rename", map[string]any{"dbName": "db1", "collectionName": "c", "newCollectionName": "c2", "newDbName": "default"})
	json.Unmarshal(ok("/collections/list", map[string]any{}), &names)
	if !slices.Equal(names, []string{"c2"}) {
		t.Fatalf("default collections: %v", names)
	}
	ok("/databases/drop", map[string]any{"dbName": "db1"})
	fails("/databases/drop", map[string]any{"dbName": "default"}, 65535, "can not drop default database")
}
