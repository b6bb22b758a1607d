package clusterproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/protobuf/proto"

	apimilvus "github.com/tandem-db/tandem/internal/api/milvus"
	"github.com/tandem-db/tandem/internal/coord"
	"github.com/tandem-db/tandem/internal/merr"
)

func okStatus() *commonpb.Status { return &commonpb.Status{} }

func failed(st *commonpb.Status) bool {
	return st.GetCode() != 0 || st.GetErrorCode() != commonpb.ErrorCode_Success
}

// ddl sends a DDL request to the root coordinator's active, retrying the
// same request id (so it is applied once) while the root fails over, up to
// the hold bound.
func (p *Proxy) ddl(ctx context.Context, method, db, coll string, req proto.Message) (*commonpb.Status, error) {
	raw, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	if db == "" {
		db = "default"
	}
	body, _ := json.Marshal(coord.Intent{ID: p.requestID(), Method: method, DB: db, Collection: coll, Request: raw})
	deadline := time.Now().Add(p.cfg.Hold + 30*time.Second)
	backoff := 50 * time.Millisecond
	var last string
	for {
		st, retry, why := p.ddlOnce(ctx, body)
		if !retry {
			p.cat.forget(db, coll)
			return st, nil
		}
		last = why
		if time.Now().After(deadline) || ctx.Err() != nil {
			return merr.Status(merr.Wrapf(merr.ErrServiceUnavailable, "cluster %s: no root coordinator answered %s: %s", p.cfg.Cluster, method, last)), nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// ddlOnce tries the root once; retry is true when the outcome is unknown
// or nobody is the root.
func (p *Proxy) ddlOnce(ctx context.Context, body []byte) (*commonpb.Status, bool, string) {
	addr, err := p.rootAddr(ctx)
	if err != nil {
		return nil, true, err.Error()
	}
	rctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	hreq, _ := http.NewRequestWithContext(rctx, "POST", "http://"+addr+"/v1/ddl", bytes.NewReader(body))
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := p.hc.Do(hreq)
	if err != nil {
		return nil, true, err.Error()
	}
	defer resp.Body.Close()
	var out struct {
		Status []byte `json:"status"`
		Error  string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	switch resp.StatusCode {
	case http.StatusOK:
		st := &commonpb.Status{}
		if err := proto.Unmarshal(out.Status, st); err != nil {
			return nil, true, "malformed root answer"
		}
		return st, false, ""
	case http.StatusBadRequest:
		return merr.Status(merr.Wrapf(merr.ErrParameterInvalid, "%s", out.Error)), false, ""
	}
	return nil, true, fmt.Sprintf("root %s: %d %s", addr, resp.StatusCode, out.Error)
}

// rootAddr is the side address of the root role's active.
func (p *Proxy) rootAddr(ctx context.Context) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	rep, err := coord.ReadStatus(rctx, p.cli, p.cfg.Cluster)
	if err != nil {
		return "", err
	}
	var active string
	for _, r := range rep.Roles {
		if r.Role == coord.RoleRoot {
			active = r.Active
		}
	}
	if active == "" {
		return "", fmt.Errorf("no root coordinator is active")
	}
	for _, m := range rep.Coordinators {
		if m.ID == active && m.Addr != "" {
			return m.Addr, nil
		}
	}
	return "", fmt.Errorf("root coordinator %s publishes no address (--http-listen off?)", active)
}

func (p *Proxy) CreateCollection(ctx context.Context, req *milvuspb.CreateCollectionRequest) (*commonpb.Status, error) {
	return p.ddl(ctx, "CreateCollection", req.GetDbName(), req.GetCollectionName(), req)
}

func (p *Proxy) DropCollection(ctx context.Context, req *milvuspb.DropCollectionRequest) (*commonpb.Status, error) {
	return p.ddl(ctx, "DropCollection", req.GetDbName(), req.GetCollectionName(), req)
}

func (p *Proxy) CreateIndex(ctx context.Context, req *milvuspb.CreateIndexRequest) (*commonpb.Status, error) {
	return p.ddl(ctx, "CreateIndex", req.GetDbName(), req.GetCollectionName(), req)
}

func (p *Proxy) DropIndex(ctx context.Context, req *milvuspb.DropIndexRequest) (*commonpb.Status, error) {
	return p.ddl(ctx, "DropIndex", req.GetDbName(), req.GetCollectionName(), req)
}

func (p *Proxy) LoadCollection(ctx context.Context, req *milvuspb.LoadCollectionRequest) (*commonpb.Status, error) {
	return p.ddl(ctx, "LoadCollection", req.GetDbName(), req.GetCollectionName(), req)
}

func (p *Proxy) ReleaseCollection(ctx context.Context, req *milvuspb.ReleaseCollectionRequest) (*commonpb.Status, error) {
	return p.ddl(ctx, "ReleaseCollection", req.GetDbName(), req.GetCollectionName(), req)
}

func (p *Proxy) CreatePartition(ctx context.Context, req *milvuspb.CreatePartitionRequest) (*commonpb.Status, error) {
	return p.ddl(ctx, "CreatePartition", req.GetDbName(), req.GetCollectionName(), req)
}

func (p *Proxy) DropPartition(ctx context.Context, req *milvuspb.DropPartitionRequest) (*commonpb.Status, error) {
	return p.ddl(ctx, "DropPartition", req.GetDbName(), req.GetCollectionName(), req)
}

// Connect, GetVersion and CheckHealth answer locally.
func (p *Proxy) Connect(ctx context.Context, req *milvuspb.ConnectRequest) (*milvuspb.ConnectResponse, error) {
	return &milvuspb.ConnectResponse{Status: okStatus(), ServerInfo: &commonpb.ServerInfo{
		BuildTags: apimilvus.MilvusVersion, GoVersion: runtime.Version(), DeployMode: "CLUSTER",
		Reserved: map[string]string{"server": "tandem", "tandem_version": p.cfg.Version, "cluster": p.cfg.Cluster},
	}, Identifier: p.seq.Add(1)}, nil
}

func (p *Proxy) GetVersion(ctx context.Context, req *milvuspb.GetVersionRequest) (*milvuspb.GetVersionResponse, error) {
	return &milvuspb.GetVersionResponse{Status: okStatus(), Version: apimilvus.MilvusVersion}, nil
}

func (p *Proxy) CheckHealth(ctx context.Context, req *milvuspb.CheckHealthRequest) (*milvuspb.CheckHealthResponse, error) {
	return &milvuspb.CheckHealthResponse{Status: okStatus(), IsHealthy: true}, nil
}

func (p *Proxy) ListDatabases(ctx context.Context, req *milvuspb.ListDatabasesRequest) (*milvuspb.ListDatabasesResponse, error) {
	return &milvuspb.ListDatabasesResponse{Status: okStatus(), DbNames: []string{"default"}}, nil
}

func (p *Proxy) AllocTimestamp(ctx context.Context, req *milvuspb.AllocTimestampRequest) (*milvuspb.AllocTimestampResponse, error) {
	addr, err := p.rootAddr(ctx)
	if err != nil {
		return &milvuspb.AllocTimestampResponse{Status: merr.Status(merr.Wrapf(merr.ErrServiceUnavailable, "%v", err))}, nil
	}
	hreq, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/alloc/ts", nil)
	resp, err := p.hc.Do(hreq)
	if err != nil {
		return &milvuspb.AllocTimestampResponse{Status: merr.Status(merr.Wrapf(merr.ErrServiceUnavailable, "%v", err))}, nil
	}
	defer resp.Body.Close()
	var out struct {
		TS    uint64 `json:"ts"`
		Error string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK {
		return &milvuspb.AllocTimestampResponse{Status: merr.Status(merr.Wrapf(merr.ErrServiceUnavailable, "%s", out.Error))}, nil
	}
	return &milvuspb.AllocTimestampResponse{Status: okStatus(), Timestamp: out.TS}, nil
}

// allocIDs reserves n ids from the root.
func (p *Proxy) allocIDs(ctx context.Context, n int) (int64, error) {
	deadline := time.Now().Add(p.cfg.Hold)
	for {
		first, err := p.allocOnce(ctx, n)
		if err == nil {
			return first, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *Proxy) allocOnce(ctx context.Context, n int) (int64, error) {
	addr, err := p.rootAddr(ctx)
	if err != nil {
		return 0, err
	}
	hreq, _ := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("http://%s/v1/alloc/ids?count=%d", addr, n), nil)
	resp, err := p.hc.Do(hreq)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		First int64  `json:"first"`
		Error string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("root %s: %s", addr, out.Error)
	}
	return out.First, nil
}
