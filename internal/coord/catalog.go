package coord

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// More keys (see doc.go):
//
//	/tandem/clusters/C/groups/<G>                 JSON GroupInfo: a shard group that joined the cluster
//	/tandem/clusters/C/collections/<db>/<name>    JSON CollectionMeta: the catalog entry, written by the root
//	/tandem/clusters/C/ddl/<id>                   JSON Intent: a DDL request and its outcome
func groupsPrefix(c string) string            { return clusterPrefix(c) + "groups/" }
func collectionsPrefix(c string) string       { return clusterPrefix(c) + "collections/" }
func collKey(c, db, name string) string       { return collectionsPrefix(c) + db + "/" + name }
func ddlPrefix(c string) string               { return clusterPrefix(c) + "ddl/" }
func ddlKey(c, id string) string              { return ddlPrefix(c) + id }
func CollectionsPrefix(cluster string) string { return collectionsPrefix(cluster) }

// GroupInfo is a shard group of the cluster.
type GroupInfo struct {
	Group        string `json:"group"`
	JoinedUnixMs int64  `json:"joined_unix_ms"`
}

// JoinGroup records group as a shard group of cluster (idempotent). The
// nodes of a group call it at start (`tandem node --cluster C`).
func JoinGroup(ctx context.Context, cli *clientv3.Client, cluster, group string) error {
	if !validName(cluster) || !validName(group) {
		return fmt.Errorf("%w: cluster %q, group %q", ErrInvalidConfig, cluster, group)
	}
	b, _ := json.Marshal(GroupInfo{Group: group, JoinedUnixMs: time.Now().UnixMilli()})
	k := groupsPrefix(cluster) + group
	_, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).Then(clientv3.OpPut(k, string(b))).Commit()
	if err != nil {
		return fmt.Errorf("coord: join group %s to cluster %s: %w", group, cluster, err)
	}
	return nil
}

// Groups lists the cluster's shard groups, sorted.
func Groups(ctx context.Context, cli *clientv3.Client, cluster string) ([]string, error) {
	r, err := cli.Get(ctx, groupsPrefix(cluster), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("coord: list groups: %w", err)
	}
	var out []string
	for _, kv := range r.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), groupsPrefix(cluster)))
	}
	slices.Sort(out)
	return out, nil
}

// CollectionMeta is a collection's catalog entry. Shard i of the
// collection (rows whose primary key hashes to i, ShardOf) lives in group
// Shards[i]; every group of Groups holds one physical collection of the
// same name with the rows of all its shards.
type CollectionMeta struct {
	DB            string   `json:"db"`
	Name          string   `json:"name"`
	ID            int64    `json:"id"`
	ShardsNum     int      `json:"shards_num"`
	Shards        []string `json:"shards"`
	Groups        []string `json:"groups"` // distinct groups of Shards, sorted
	Schema        []byte   `json:"schema"` // schemapb.CollectionSchema as the client sent it (proto)
	CreatedUnixMs int64    `json:"created_unix_ms"`
}

// DecodeSchema returns the collection's schema.
func (m *CollectionMeta) DecodeSchema() (*schemapb.CollectionSchema, error) {
	s := &schemapb.CollectionSchema{}
	if err := proto.Unmarshal(m.Schema, s); err != nil {
		return nil, fmt.Errorf("coord: schema of %s: %w", m.Name, err)
	}
	return s, nil
}

// ShardOfInt is the shard of an Int64 primary key.
func ShardOfInt(pk int64, shards int) int {
	var b [8]byte
	for i := range b {
		b[i] = byte(uint64(pk) >> (8 * i))
	}
	return int(crc32.ChecksumIEEE(b[:]) % uint32(shards))
}

// ShardOfString is the shard of a VarChar primary key.
func ShardOfString(pk string, shards int) int {
	return int(crc32.ChecksumIEEE([]byte(pk)) % uint32(shards))
}

// Place assigns shards to groups round-robin from a rotation that depends
// on the collection id, so that collections with one shard spread over the
// groups too.
func Place(id int64, shards int, groups []string) []string {
	out := make([]string, shards)
	for i := range out {
		out[i] = groups[(int(id%int64(len(groups)))+i)%len(groups)]
	}
	return out
}

func distinctSorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// ReadCollection reads a catalog entry; nil when absent.
func ReadCollection(ctx context.Context, cli *clientv3.Client, cluster, db, name string) (*CollectionMeta, error) {
	r, err := cli.Get(ctx, collKey(cluster, db, name))
	if err != nil {
		return nil, fmt.Errorf("coord: read catalog: %w", err)
	}
	if len(r.Kvs) == 0 {
		return nil, nil
	}
	m := &CollectionMeta{}
	if err := json.Unmarshal(r.Kvs[0].Value, m); err != nil {
		return nil, fmt.Errorf("coord: catalog entry %s: %w", r.Kvs[0].Key, err)
	}
	return m, nil
}

// ReadCatalog reads every catalog entry of the cluster and the revision
// it was read at.
func ReadCatalog(ctx context.Context, cli *clientv3.Client, cluster string) ([]*CollectionMeta, int64, error) {
	r, err := cli.Get(ctx, collectionsPrefix(cluster), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("coord: read catalog: %w", err)
	}
	var out []*CollectionMeta
	for _, kv := range r.Kvs {
		m := &CollectionMeta{}
		if err := json.Unmarshal(kv.Value, m); err != nil {
			return nil, 0, fmt.Errorf("coord: catalog entry %s: %w", kv.Key, err)
		}
		out = append(out, m)
	}
	return out, r.Header.Revision, nil
}
