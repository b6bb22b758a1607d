package milvus

import (
	"context"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
)

// Databases, aliases and collection renames: thin adapters over the
// engine (internal/engine/database.go holds the rules and Milvus's
// refusals).

// CreateDatabase creates a database.
func (s *Server) CreateDatabase(ctx context.Context, req *milvuspb.CreateDatabaseRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.CreateDatabase(ctx, req.GetDbName(), req.GetProperties())), nil
}

// DropDatabase drops an empty database.
func (s *Server) DropDatabase(ctx context.Context, req *milvuspb.DropDatabaseRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.DropDatabase(ctx, req.GetDbName())), nil
}

// AlterDatabase sets or deletes database properties.
func (s *Server) AlterDatabase(ctx context.Context, req *milvuspb.AlterDatabaseRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.AlterDatabase(ctx, req.GetDbName(), req.GetProperties(), req.GetDeleteKeys())), nil
}

// ListDatabases lists the databases, "default" first.
func (s *Server) ListDatabases(ctx context.Context, req *milvuspb.ListDatabasesRequest) (*milvuspb.ListDatabasesResponse, error) {
	dbs, err := s.eng.ListDatabases()
	if err != nil {
		return &milvuspb.ListDatabasesResponse{Status: errStatus(err)}, nil
	}
	resp := &milvuspb.ListDatabasesResponse{Status: successStatus()}
	for _, d := range dbs {
		resp.DbNames = append(resp.DbNames, d.Name)
		resp.DbIds = append(resp.DbIds, d.ID)
		resp.CreatedTimestamp = append(resp.CreatedTimestamp, hybridTS(d.CreatedAt))
	}
	return resp, nil
}

// DescribeDatabase describes a database ("" is "default").
func (s *Server) DescribeDatabase(ctx context.Context, req *milvuspb.DescribeDatabaseRequest) (*milvuspb.DescribeDatabaseResponse, error) {
	d, err := s.eng.DescribeDatabase(req.GetDbName())
	if err != nil {
		return &milvuspb.DescribeDatabaseResponse{Status: errStatus(err)}, nil
	}
	props := d.Properties
	if props == nil {
		props = []*commonpb.KeyValuePair{}
	}
	return &milvuspb.DescribeDatabaseResponse{
		Status: successStatus(), DbName: d.Name, DbID: d.ID,
		CreatedTimestamp: hybridTS(d.CreatedAt), Properties: props,
	}, nil
}

// CreateAlias creates an alias of a collection.
func (s *Server) CreateAlias(ctx context.Context, req *milvuspb.CreateAliasRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.CreateAlias(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetAlias())), nil
}

// AlterAlias points an alias at another collection.
func (s *Server) AlterAlias(ctx context.Context, req *milvuspb.AlterAliasRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.AlterAlias(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetAlias())), nil
}

// DropAlias drops an alias.
func (s *Server) DropAlias(ctx context.Context, req *milvuspb.DropAliasRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.DropAlias(ctx, dbName(ctx, req.GetDbName()), req.GetAlias())), nil
}

// DescribeAlias names the collection of an alias.
func (s *Server) DescribeAlias(ctx context.Context, req *milvuspb.DescribeAliasRequest) (*milvuspb.DescribeAliasResponse, error) {
	db := dbName(ctx, req.GetDbName())
	coll, err := s.eng.DescribeAlias(db, req.GetAlias())
	if err != nil {
		return &milvuspb.DescribeAliasResponse{Status: errStatus(err)}, nil
	}
	return &milvuspb.DescribeAliasResponse{Status: successStatus(), DbName: db, Alias: req.GetAlias(), Collection: coll}, nil
}

// ListAliases lists a database's aliases, or a collection's.
func (s *Server) ListAliases(ctx context.Context, req *milvuspb.ListAliasesRequest) (*milvuspb.ListAliasesResponse, error) {
	db := dbName(ctx, req.GetDbName())
	aliases, err := s.eng.ListAliases(db, req.GetCollectionName())
	if err != nil {
		return &milvuspb.ListAliasesResponse{Status: errStatus(err)}, nil
	}
	return &milvuspb.ListAliasesResponse{Status: successStatus(), DbName: db, CollectionName: req.GetCollectionName(), Aliases: aliases}, nil
}

// RenameCollection renames a collection, possibly into another database.
func (s *Server) RenameCollection(ctx context.Context, req *milvuspb.RenameCollectionRequest) (*commonpb.Status, error) {
	db := dbName(ctx, req.GetDbName())
	return errStatus(s.eng.RenameCollection(ctx, db, req.GetOldName(), req.GetNewDBName(), req.GetNewName())), nil
}
