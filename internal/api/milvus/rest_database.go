package milvus

import (
	"context"
	"fmt"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"

	"github.com/tandem-db/tandem/internal/merr"
)

// REST v2 databases, aliases and collection rename (Milvus's
// /v2/vectordb/databases/*, /aliases/*, /collections/rename).

type restDatabaseReq struct {
	DbName       string         `json:"dbName"`
	Properties   map[string]any `json:"properties"`
	PropertyKeys []string       `json:"propertyKeys"`
}

// restProps turns REST properties (values of any JSON type) into
// key-value pairs sorted by key.
func restProps(m map[string]any) []*commonpb.KeyValuePair {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		} else {
			out[k] = fmt.Sprint(v)
		}
	}
	return mapKVs(out)
}

func (r *restDatabaseReq) name() (string, error) {
	if r.DbName == "" {
		return "", merr.Wrap(merr.ErrMissingRequiredParams, "dbName is required")
	}
	return r.DbName, nil
}

func (s *Server) restCreateDatabase(ctx context.Context, req *restDatabaseReq) (any, error) {
	name, err := req.name()
	if err != nil {
		return nil, err
	}
	return nil, s.eng.CreateDatabase(ctx, name, restProps(req.Properties))
}

func (s *Server) restDropDatabase(ctx context.Context, req *restDatabaseReq) (any, error) {
	name, err := req.name()
	if err != nil {
		return nil, err
	}
	return nil, s.eng.DropDatabase(ctx, name)
}

func (s *Server) restAlterDatabase(ctx context.Context, req *restDatabaseReq) (any, error) {
	name, err := req.name()
	if err != nil {
		return nil, err
	}
	return nil, s.eng.AlterDatabase(ctx, name, restProps(req.Properties), nil)
}

func (s *Server) restDropDatabaseProperties(ctx context.Context, req *restDatabaseReq) (any, error) {
	name, err := req.name()
	if err != nil {
		return nil, err
	}
	return nil, s.eng.AlterDatabase(ctx, name, nil, req.PropertyKeys)
}

func (s *Server) restListDatabases(ctx context.Context, req *restDatabaseReq) (any, error) {
	dbs, err := s.eng.ListDatabases()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(dbs))
	for _, d := range dbs {
		names = append(names, d.Name)
	}
	return names, nil
}

func (s *Server) restDescribeDatabase(ctx context.Context, req *restDatabaseReq) (any, error) {
	d, err := s.eng.DescribeDatabase(dbName(ctx, req.DbName))
	if err != nil {
		return nil, err
	}
	return map[string]any{"dbName": d.Name, "dbID": d.ID, "properties": restKVs(d.Properties)}, nil
}

type restAliasReq struct {
	DbName         string `json:"dbName"`
	CollectionName string `json:"collectionName"`
	AliasName      string `json:"aliasName"`
}

func (r *restAliasReq) alias() (string, error) {
	if r.AliasName == "" {
		return "", merr.Wrap(merr.ErrMissingRequiredParams, "aliasName is required")
	}
	return r.AliasName, nil
}

func (r *restAliasReq) both() (coll, alias string, err error) {
	if r.CollectionName == "" {
		return "", "", merr.Wrap(merr.ErrMissingRequiredParams, "collectionName is required")
	}
	alias, err = r.alias()
	return r.CollectionName, alias, err
}

func (s *Server) restCreateAlias(ctx context.Context, req *restAliasReq) (any, error) {
	coll, alias, err := req.both()
	if err != nil {
		return nil, err
	}
	return nil, s.eng.CreateAlias(ctx, dbName(ctx, req.DbName), coll, alias)
}

func (s *Server) restAlterAlias(ctx context.Context, req *restAliasReq) (any, error) {
	coll, alias, err := req.both()
	if err != nil {
		return nil, err
	}
	return nil, s.eng.AlterAlias(ctx, dbName(ctx, req.DbName), coll, alias)
}

func (s *Server) restDropAlias(ctx context.Context, req *restAliasReq) (any, error) {
	alias, err := req.alias()
	if err != nil {
		return nil, err
	}
	return nil, s.eng.DropAlias(ctx, dbName(ctx, req.DbName), alias)
}

func (s *Server) restDescribeAlias(ctx context.Context, req *restAliasReq) (any, error) {
	alias, err := req.alias()
	if err != nil {
		return nil, err
	}
	db := dbName(ctx, req.DbName)
	coll, err := s.eng.DescribeAlias(db, alias)
	if err != nil {
		return nil, err
	}
	return map[string]any{"aliasName": alias, "collectionName": coll, "dbName": db}, nil
}

func (s *Server) restListAliases(ctx context.Context, req *restAliasReq) (any, error) {
	return s.eng.ListAliases(dbName(ctx, req.DbName), req.CollectionName)
}

type restRenameReq struct {
	DbName            string `json:"dbName"`
	CollectionName    string `json:"collectionName"`
	NewCollectionName string `json:"newCollectionName"`
	NewDbName         string `json:"newDbName"`
}

func (s *Server) restRenameCollection(ctx context.Context, req *restRenameReq) (any, error) {
	if req.CollectionName == "" {
		return nil, merr.Wrap(merr.ErrMissingRequiredParams, "collectionName is required")
	}
	if req.NewCollectionName == "" {
		return nil, merr.Wrap(merr.ErrMissingRequiredParams, "newCollectionName is required")
	}
	return nil, s.eng.RenameCollection(ctx, dbName(ctx, req.DbName), req.CollectionName, req.NewDbName, req.NewCollectionName)
}
