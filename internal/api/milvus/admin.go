package milvus

import (
	"context"
	"runtime"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
)

// MilvusVersion is the Milvus release whose protocol and behaviour Tandem
// reproduces. GetVersion answers it (and Connect reports it as the build
// tags), so that the SDKs' server-version checks pass; Tandem's own version
// stays visible in Connect's reserved server info ("tandem_version"), on
// /status and in `tandem version`.
const MilvusVersion = "v2.6.6"

// Connect answers the SDK's handshake with the server's identity and a
// connection identifier (never 0: the Node.js SDK takes 0 for a server
// without Connect).
func (s *Server) Connect(ctx context.Context, req *milvuspb.ConnectRequest) (*milvuspb.ConnectResponse, error) {
	// The SDKs connect again with the database of UseDatabase (or the
	// client config) in the "dbname" header: Milvus refuses one that
	// does not exist.
	if _, err := s.eng.DescribeDatabase(dbName(ctx, "")); err != nil {
		return &milvuspb.ConnectResponse{Status: errStatus(err)}, nil
	}
	return &milvuspb.ConnectResponse{
		Status: successStatus(),
		ServerInfo: &commonpb.ServerInfo{
			BuildTags:  MilvusVersion,
			GoVersion:  runtime.Version(),
			DeployMode: "STANDALONE",
			Reserved:   map[string]string{"server": "tandem", "tandem_version": s.opts.ServerVersion},
		},
		Identifier: s.connID.Add(1),
	}, nil
}

// GetVersion reports the Milvus version Tandem is compatible with
// (MilvusVersion), as Milvus reports its own.
func (s *Server) GetVersion(ctx context.Context, req *milvuspb.GetVersionRequest) (*milvuspb.GetVersionResponse, error) {
	return &milvuspb.GetVersionResponse{Status: successStatus(), Version: MilvusVersion}, nil
}

// CheckHealth reports healthy: a serving server is healthy.
func (s *Server) CheckHealth(ctx context.Context, req *milvuspb.CheckHealthRequest) (*milvuspb.CheckHealthResponse, error) {
	return &milvuspb.CheckHealthResponse{Status: successStatus(), IsHealthy: true}, nil
}

// GetComponentStates reports the node as healthy.
func (s *Server) GetComponentStates(ctx context.Context, req *milvuspb.GetComponentStatesRequest) (*milvuspb.ComponentStates, error) {
	return &milvuspb.ComponentStates{
		State:  &milvuspb.ComponentInfo{Role: "standalone", StateCode: commonpb.StateCode_Healthy},
		Status: successStatus(),
	}, nil
}

// AllocTimestamp hands out a strictly increasing hybrid timestamp.
func (s *Server) AllocTimestamp(ctx context.Context, req *milvuspb.AllocTimestampRequest) (*milvuspb.AllocTimestampResponse, error) {
	return &milvuspb.AllocTimestampResponse{Status: successStatus(), Timestamp: s.tso.next()}, nil
}
