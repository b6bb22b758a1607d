package coord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/merr"
)

// Intent states.
const (
	IntentPending = "pending"
	IntentDone    = "done"
)

// Intent is a DDL request as the root records it before applying it to
// the groups: a new root resumes pending ones, and a retried request (same
// ID) is answered from the recorded outcome instead of being applied again.
type Intent struct {
	ID         string `json:"id"`     // the proxy's request id (unique per client call)
	Method     string `json:"method"` // Milvus method: CreateCollection, DropCollection, ...
	DB         string `json:"db"`
	Collection string `json:"collection"`
	Request    []byte `json:"request"` // the Milvus request (proto)
	State      string `json:"state"`   // pending, done
	// Meta is the catalog entry a CreateCollection will write, fixed when
	// the intent is recorded so that a resumed intent places shards on
	// the same groups.
	Meta          *CollectionMeta `json:"meta,omitempty"`
	Status        []byte          `json:"status,omitempty"` // commonpb.Status (proto) once done
	CreatedUnixMs int64           `json:"created_unix_ms"`
}

// DDLMethods are the methods the root applies to the groups.
var DDLMethods = map[string]func() proto.Message{
	"CreateCollection":  func() proto.Message { return &milvuspb.CreateCollectionRequest{} },
	"DropCollection":    func() proto.Message { return &milvuspb.DropCollectionRequest{} },
	"CreateIndex":       func() proto.Message { return &milvuspb.CreateIndexRequest{} },
	"DropIndex":         func() proto.Message { return &milvuspb.DropIndexRequest{} },
	"LoadCollection":    func() proto.Message { return &milvuspb.LoadCollectionRequest{} },
	"ReleaseCollection": func() proto.Message { return &milvuspb.ReleaseCollectionRequest{} },
	"CreatePartition":   func() proto.Message { return &milvuspb.CreatePartitionRequest{} },
	"DropPartition":     func() proto.Message { return &milvuspb.DropPartitionRequest{} },
}

// GroupCaller applies one Milvus request to one group and returns the
// group's status; an error means the outcome is unknown (the group was
// unreachable), so the intent stays pending.
type GroupCaller interface {
	Call(ctx context.Context, group, method string, req proto.Message) (*commonpb.Status, error)
}

// ddl is the root's DDL executor; mu orders DDLs.
type ddl struct {
	mu     sync.Mutex
	caller GroupCaller // guarded by mu
}

// SetGroupCaller sets how the root reaches the groups (required for DDL).
func (c *Coordinator) SetGroupCaller(gc GroupCaller) {
	c.ddl.mu.Lock()
	c.ddl.caller = gc
	c.ddl.mu.Unlock()
}

// rootFence returns the root role's fence, or ErrNotActive.
func (c *Coordinator) rootFence() (Fence, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.leads[RoleRoot]
	if !ok {
		return Fence{}, fmt.Errorf("%w: %s", ErrNotActive, RoleRoot)
	}
	return l.Fence, nil
}

// ExecuteDDL records in (if new) and applies it, returning the Milvus
// status of the outcome. A request with an ID seen before returns the
// recorded outcome, or resumes it if it was left pending.
func (c *Coordinator) ExecuteDDL(ctx context.Context, in Intent) (*commonpb.Status, error) {
	newReq, ok := DDLMethods[in.Method]
	if !ok {
		return nil, fmt.Errorf("coord: %s is not a DDL method the root applies", in.Method)
	}
	if !validName(in.ID) {
		return nil, fmt.Errorf("coord: DDL request id %q: must be non-empty without '/'", in.ID)
	}
	c.ddl.mu.Lock()
	defer c.ddl.mu.Unlock()
	if c.ddl.caller == nil {
		return nil, errors.New("coord: no group caller configured")
	}
	f, err := c.rootFence()
	if err != nil {
		return nil, err
	}
	key := ddlKey(c.cfg.Cluster, in.ID)
	r, err := c.cli.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("coord: read intent: %w", err)
	}
	if len(r.Kvs) > 0 {
		var old Intent
		if err := json.Unmarshal(r.Kvs[0].Value, &old); err != nil {
			return nil, fmt.Errorf("coord: intent %s: %w", in.ID, err)
		}
		if old.State == IntentDone {
			st := &commonpb.Status{}
			proto.Unmarshal(old.Status, st)
			return st, nil
		}
		return c.apply(ctx, f, &old)
	}
	req := newReq()
	if err := proto.Unmarshal(in.Request, req); err != nil {
		return merr.Status(merr.Wrapf(merr.ErrParameterInvalid, "malformed %s request: %v", in.Method, err)), nil
	}
	in.State, in.CreatedUnixMs, in.Meta, in.Status = IntentPending, time.Now().UnixMilli(), nil, nil
	if in.DB == "" {
		in.DB = "default"
	}
	if in.Method == "CreateCollection" {
		meta, st, err := c.planCreate(ctx, in, req.(*milvuspb.CreateCollectionRequest))
		if err != nil || st != nil {
			return st, err
		}
		in.Meta = meta
	}
	b, _ := json.Marshal(in)
	ok, err = f.Txn(ctx, c.cli, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, clientv3.OpPut(key, string(b)))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("coord: intent %s recorded concurrently", in.ID)
	}
	return c.apply(ctx, f, &in)
}

// planCreate fixes a new collection's id and placement; a non-nil status
// refuses the request.
func (c *Coordinator) planCreate(ctx context.Context, in Intent, req *milvuspb.CreateCollectionRequest) (*CollectionMeta, *commonpb.Status, error) {
	if old, err := ReadCollection(ctx, c.cli, c.cfg.Cluster, in.DB, in.Collection); err != nil {
		return nil, nil, err
	} else if old != nil {
		// Idempotent as in Milvus when the schema is the same: the groups
		// answer that; keep the existing placement.
		return old, nil, nil
	}
	groups, err := Groups(ctx, c.cli, c.cfg.Cluster)
	if err != nil {
		return nil, nil, err
	}
	if len(groups) == 0 {
		return nil, merr.Status(merr.Wrapf(merr.ErrServiceUnavailable, "cluster %s has no shard group: start nodes with --cluster %s", c.cfg.Cluster, c.cfg.Cluster)), nil
	}
	shards := int(req.GetShardsNum())
	if shards <= 0 {
		shards = 1
	}
	if shards > 16 {
		return nil, merr.Status(merr.Wrapf(merr.ErrParameterInvalid, "maximum shards's number should be limited to 16")), nil
	}
	a, err := c.Allocator()
	if err != nil {
		return nil, nil, err
	}
	id, err := a.IDs(ctx, 1)
	if err != nil {
		return nil, nil, err
	}
	place := Place(id, shards, groups)
	return &CollectionMeta{DB: in.DB, Name: in.Collection, ID: id, ShardsNum: shards, Shards: place,
		Groups: distinctSorted(place), Schema: req.GetSchema(), CreatedUnixMs: time.Now().UnixMilli()}, nil, nil
}

// apply applies a recorded intent to its groups and records the outcome.
func (c *Coordinator) apply(ctx context.Context, f Fence, in *Intent) (*commonpb.Status, error) {
	req := DDLMethods[in.Method]()
	if err := proto.Unmarshal(in.Request, req); err != nil {
		return nil, fmt.Errorf("coord: intent %s: %w", in.ID, err)
	}
	meta := in.Meta
	if meta == nil {
		var err error
		if meta, err = ReadCollection(ctx, c.cli, c.cfg.Cluster, in.DB, in.Collection); err != nil {
			return nil, err
		}
	}
	var ops []clientv3.Op
	st := &commonpb.Status{}
	switch {
	case meta == nil && in.Method == "DropCollection":
		// Dropping a collection that does not exist succeeds, as in Milvus.
	case meta == nil:
		st = merr.Status(merr.CollectionNotFound(in.Collection))
	default:
		if in.Method == "CreateCollection" {
			req = groupCreateRequest(req.(*milvuspb.CreateCollectionRequest))
		}
		for i, g := range meta.Groups {
			gst, err := c.ddl.caller.Call(ctx, g, in.Method, req)
			if err != nil {
				return nil, fmt.Errorf("coord: %s on group %s: %w", in.Method, g, err)
			}
			if gst.GetCode() != 0 || gst.GetErrorCode() != commonpb.ErrorCode_Success {
				if i == 0 {
					st = gst // refused before anything was applied
					break
				}
				return nil, fmt.Errorf("coord: %s refused by group %s after group %s applied it: %s", in.Method, g, meta.Groups[0], gst.GetReason())
			}
		}
		if st.GetCode() == 0 {
			switch in.Method {
			case "CreateCollection":
				b, _ := json.Marshal(meta)
				ops = append(ops, clientv3.OpPut(collKey(c.cfg.Cluster, meta.DB, meta.Name), string(b)))
			case "DropCollection":
				ops = append(ops, clientv3.OpDelete(collKey(c.cfg.Cluster, meta.DB, meta.Name)))
			}
		}
	}
	in.State = IntentDone
	in.Status, _ = proto.Marshal(st)
	b, _ := json.Marshal(in)
	ops = append(ops, clientv3.OpPut(ddlKey(c.cfg.Cluster, in.ID), string(b)))
	if _, err := f.Txn(ctx, c.cli, nil, ops...); err != nil {
		return nil, err
	}
	return st, nil
}

// groupCreateRequest is the CreateCollection a group receives: one shard
// (the cluster shards), and primary keys supplied by the cluster proxy
// (it allocates auto ids from the root, so that ids are unique across
// groups).
func groupCreateRequest(req *milvuspb.CreateCollectionRequest) *milvuspb.CreateCollectionRequest {
	out := proto.Clone(req).(*milvuspb.CreateCollectionRequest)
	out.ShardsNum = 1
	m := &schemapb.CollectionSchema{}
	if proto.Unmarshal(out.Schema, m) == nil {
		m.AutoID = false
		for _, f := range m.Fields {
			f.AutoID = false
		}
		out.Schema, _ = proto.Marshal(m)
	}
	return out
}

// resumePending applies every pending intent (oldest first); called when
// this coordinator becomes the root's active.
func (c *Coordinator) resumePending(ctx context.Context) {
	c.ddl.mu.Lock()
	none := c.ddl.caller == nil
	c.ddl.mu.Unlock()
	if none {
		return
	}
	r, err := c.cli.Get(ctx, ddlPrefix(c.cfg.Cluster), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		c.log.Warn("coord: read pending DDL intents", "err", err)
		return
	}
	for _, kv := range r.Kvs {
		var in Intent
		if json.Unmarshal(kv.Value, &in) != nil || in.State != IntentPending {
			continue
		}
		c.log.Info("coord: resuming a DDL intent left pending", "id", in.ID, "method", in.Method, "collection", in.Collection)
		if _, err := c.ExecuteDDL(ctx, in); err != nil {
			c.log.Warn("coord: resume DDL intent", "id", in.ID, "err", err)
		}
	}
}
