package cdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/wal"
)

// Deployment roles (DeploymentRecord.Role).
const (
	RoleLeading     = "leading"
	RoleAlternative = "alternative"
	// RoleDemoting: a leading deployment in a planned switchover: client
	// writes are refused, the change stream keeps serving, and the active
	// publishes its final position (DeploymentState.Final).
	RoleDemoting = "demoting"
)

// DeploymentKey is the arbiter key of deployment name's record; its
// active node publishes DeploymentState under DeploymentKey(name)+"/state".
func DeploymentKey(name string) string { return "/tandem/deployments/" + name }

// PeerDeployment is the other deployment of a leading/alternative pair.
type PeerDeployment struct {
	Name    string   `json:"name"`
	Arbiter []string `json:"arbiter"`
	Group   string   `json:"group"`
}

// Rejoin tells a former leading deployment, now the alternative, that a
// failover lost what it wrote after its LSN After: it exports those
// records to DATA_DIR/diverged/ and replaces its state by a snapshot of
// the new leading deployment.
type Rejoin struct {
	After      uint64 `json:"after"`
	Generation int64  `json:"generation"`
}

// DeploymentRecord is the deployment-level key in a deployment's own
// arbiter, read by its nodes and written by `tandem deployment`.
type DeploymentRecord struct {
	Name       string          `json:"name"`
	Role       string          `json:"role"`
	Group      string          `json:"group"`
	Peer       *PeerDeployment `json:"peer,omitempty"`
	Generation int64           `json:"generation"`
	// Resume, for an alternative: the position in Peer's log its state
	// equals (set by a switchover); the active records it in its log once.
	Resume *engine.UpstreamPos `json:"resume,omitempty"`
	Rejoin *Rejoin             `json:"rejoin,omitempty"`
	// Failover, on a deployment promoted by a failover: the last position
	// of the old leading one it had applied (the loss window starts
	// after it).
	Failover *engine.UpstreamPos `json:"failover,omitempty"`
	// FenceMs is the fence bound in milliseconds (0: DefaultFenceBound),
	// see FenceBound.
	FenceMs int64     `json:"fence_ms,omitempty"`
	Updated time.Time `json:"updated"`
}

// DefaultFenceBound is the fence bound of a record without FenceMs.
const DefaultFenceBound = 3 * time.Second

// FenceBound is how long a node of this deployment may keep acknowledging
// client writes as leading without confirming the record: it refuses
// (new writes and acknowledgements) once it could not read the record
// for this long, counted from the send time of the last read that
// confirmed it (a linearizable etcd read). So once the record has left
// the leading role for longer than FenceBound, no node of the deployment
// acknowledges a write as leading any more, reachable or not.
func (r *DeploymentRecord) FenceBound() time.Duration {
	if r == nil || r.FenceMs <= 0 {
		return DefaultFenceBound
	}
	return time.Duration(r.FenceMs) * time.Millisecond
}

// DeploymentState is what a deployment's active publishes.
type DeploymentState struct {
	Name       string    `json:"name"`
	Node       string    `json:"node"`
	Role       string    `json:"role"`
	Generation int64     `json:"generation"`
	Local      Position  `json:"local"` // last local position (committed)
	LastLSN    uint64    `json:"last_lsn"`
	Final      *Position `json:"final,omitempty"` // demoting: no client write after it, all committed
	// Upstream is the last upstream record applied (alternative).
	Upstream     engine.UpstreamPos `json:"upstream"`
	Subscription *Status            `json:"subscription,omitempty"`
	Subscribers  []SubscriberState  `json:"subscribers,omitempty"`
	// DataDigest is engine.DataDigest at DataDigestLSN (local), taken once
	// the log has been quiet for a moment: a leading deployment and its
	// alternative at the same upstream position have equal data digests.
	DataDigest    string    `json:"data_digest,omitempty"`
	DataDigestLSN uint64    `json:"data_digest_lsn,omitempty"`
	Updated       time.Time `json:"updated"`
}

// GetRecord reads deployment name's record (nil if absent) and its mod
// revision.
func GetRecord(ctx context.Context, cli *arbiter.Client, name string) (*DeploymentRecord, int64, error) {
	r, err := cli.Etcd().Get(ctx, DeploymentKey(name))
	if err != nil {
		return nil, 0, err
	}
	if len(r.Kvs) == 0 {
		return nil, 0, nil
	}
	var rec DeploymentRecord
	if err := json.Unmarshal(r.Kvs[0].Value, &rec); err != nil {
		return nil, 0, fmt.Errorf("cdc: decode %s: %w", DeploymentKey(name), err)
	}
	return &rec, r.Kvs[0].ModRevision, nil
}

// ErrConflict: the record changed since it was read.
var ErrConflict = errors.New("cdc: deployment record changed concurrently")

// PutRecord writes rec if the key's mod revision is still rev (0: absent).
func PutRecord(ctx context.Context, cli *arbiter.Client, rec *DeploymentRecord, rev int64) error {
	rec.Updated = time.Now().UTC()
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	k := DeploymentKey(rec.Name)
	r, err := cli.Etcd().Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).Then(clientv3.OpPut(k, string(b))).Commit()
	if err != nil {
		return err
	}
	if !r.Succeeded {
		return ErrConflict
	}
	return nil
}

// GetState reads deployment name's published state (nil if none).
func GetState(ctx context.Context, cli *arbiter.Client, name string) (*DeploymentState, error) {
	r, err := cli.Etcd().Get(ctx, DeploymentKey(name)+"/state")
	if err != nil || len(r.Kvs) == 0 {
		return nil, err
	}
	var st DeploymentState
	if err := json.Unmarshal(r.Kvs[0].Value, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// PutState publishes st.
func PutState(ctx context.Context, cli *arbiter.Client, st *DeploymentState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = cli.Etcd().Put(ctx, DeploymentKey(st.Name)+"/state", string(b))
	return err
}

// ListRecords returns every deployment record in the arbiter.
func ListRecords(ctx context.Context, cli *arbiter.Client) ([]DeploymentRecord, error) {
	r, err := cli.Etcd().Get(ctx, "/tandem/deployments/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	var out []DeploymentRecord
	for _, kv := range r.Kvs {
		if filepath.Base(string(kv.Key)) == "state" {
			continue
		}
		var rec DeploymentRecord
		if json.Unmarshal(kv.Value, &rec) == nil && rec.Name != "" {
			out = append(out, rec)
		}
	}
	return out, nil
}

// DivergedExport reports ExportDiverged.
type DivergedExport struct {
	After   uint64 `json:"after"`
	Records int    `json:"records"`
	First   uint64 `json:"first_lsn,omitempty"`
	Last    uint64 `json:"last_lsn,omitempty"`
	// Missing: records after After no longer in the WAL.
	Missing bool   `json:"missing,omitempty"`
	WAL     string `json:"wal,omitempty"`
	JSON    string `json:"json,omitempty"`
}

// ExportDiverged writes every record of eng's log after LSN after
// to DATA_DIR/diverged/<name>.wal (WAL framing) and, epoch-start
// records excluded (they carry no data), to <name>.jsonl (one JSON line
// per record: position, type and engine.ViewRecord). It does
// nothing if <name>.jsonl exists.
func ExportDiverged(eng *engine.Engine, after uint64, name string) (*DivergedExport, error) {
	dir := filepath.Join(eng.DataDir(), "diverged")
	rep := &DivergedExport{After: after, WAL: filepath.Join(dir, name+".wal"), JSON: filepath.Join(dir, name+".jsonl")}
	if _, err := os.Stat(rep.JSON); err == nil {
		return rep, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if first := eng.FirstWALLSN(); first == 0 || first > after+1 {
		rep.Missing = eng.LastLSN() > after
	}
	var fw *wal.FileWriter
	tmp := rep.JSON + ".tmp"
	jf, err := os.Create(tmp)
	if err != nil {
		return nil, err
	}
	defer jf.Close()
	enc := json.NewEncoder(jf)
	err = eng.IterateWAL(after+1, func(r wal.Record) error {
		if fw == nil {
			var err error
			if fw, err = wal.CreateFile(rep.WAL, r.LSN); err != nil {
				return err
			}
			rep.First = r.LSN
		}
		if err := fw.Append(r); err != nil {
			return err
		}
		if r.Type == engine.RecEpochStart {
			return nil // no data; kept in the .wal file for density
		}
		v, verr := engine.ViewRecord(r.Type, r.Payload)
		line := map[string]any{"epoch": r.Epoch, "lsn": r.LSN, "type": engine.UpstreamTypeName(r.Type)}
		if verr == nil {
			line["record"] = v
		}
		rep.Records++
		rep.Last = r.LSN
		return enc.Encode(line)
	})
	if err != nil && !errors.Is(err, wal.ErrTruncated) {
		if fw != nil {
			fw.Abort()
		}
		return nil, err
	}
	if fw != nil {
		if err := fw.Close(); err != nil {
			return nil, err
		}
	}
	if err := jf.Sync(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, rep.JSON); err != nil {
		return nil, err
	}
	return rep, nil
}
