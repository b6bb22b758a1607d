package coord

import (
	"context"
	"fmt"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/groupclient"
)

// PoolCaller is the GroupCaller over a groupclient.Pool.
type PoolCaller struct{ Pool *groupclient.Pool }

// Call implements GroupCaller.
func (p PoolCaller) Call(ctx context.Context, group, method string, req proto.Message) (*commonpb.Status, error) {
	cli, err := p.Pool.Client(ctx, group)
	if err != nil {
		return nil, err
	}
	switch r := req.(type) {
	case *milvuspb.CreateCollectionRequest:
		return cli.CreateCollection(ctx, r)
	case *milvuspb.DropCollectionRequest:
		return cli.DropCollection(ctx, r)
	case *milvuspb.CreateIndexRequest:
		return cli.CreateIndex(ctx, r)
	case *milvuspb.DropIndexRequest:
		return cli.DropIndex(ctx, r)
	case *milvuspb.LoadCollectionRequest:
		return cli.LoadCollection(ctx, r)
	case *milvuspb.ReleaseCollectionRequest:
		return cli.ReleaseCollection(ctx, r)
	case *milvuspb.CreatePartitionRequest:
		return cli.CreatePartition(ctx, r)
	case *milvuspb.DropPartitionRequest:
		return cli.DropPartition(ctx, r)
	}
	return nil, fmt.Errorf("coord: %s (%T) is not a DDL request", method, req)
}
