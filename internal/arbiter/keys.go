package arbiter

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// KeyPrefix is the root of Tandem's key space in etcd.
const KeyPrefix = "/tandem/groups/"

func groupPrefix(group string) string   { return KeyPrefix + group + "/" }
func membersPrefix(group string) string { return groupPrefix(group) + "members/" }
func memberKey(group, node string) string {
	return membersPrefix(group) + node
}
func leaderKey(group string) string { return groupPrefix(group) + "leader" }
func epochKey(group string) string  { return groupPrefix(group) + "epoch" }
func syncKey(group string) string   { return groupPrefix(group) + "sync" }

// validName reports whether s can be a group name or node id: non-empty,
// no '/', no control characters.
func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r == '/' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func checkName(what, s string) error {
	if !validName(s) {
		return fmt.Errorf("arbiter: %s %q: %w", what, s, ErrInvalidName)
	}
	return nil
}

// MemberStatus is what a node reports about itself under
// /tandem/groups/G/members/<NodeID>, on its session's lease.
type MemberStatus struct {
	NodeID        string `json:"node_id"`
	Addr          string `json:"addr"`      // client (Milvus) address
	PeerAddr      string `json:"peer_addr"` // replication address
	HTTPAddr      string `json:"http_addr"` // health/metrics address
	Role          string `json:"role"`      // e.g. "active", "standby", "candidate", "fenced"
	Epoch         uint64 `json:"epoch"`     // the epoch the node is in
	DurableLSN    uint64 `json:"durable_lsn"`
	AppliedLSN    uint64 `json:"applied_lsn"`
	UpdatedUnixMs int64  `json:"updated_unix_ms"` // when the status was taken (node's clock)
	// StateDigest is a hash of the node's applied state (engine.Digest)
	// at StateDigestLSN: nodes with equal StateDigestLSN have equal
	// digests when their states agree. Computed once the node has been
	// quiet for a moment (and at a bounded rate), so it may trail
	// AppliedLSN under load; "" until the first one.
	StateDigest    string `json:"state_digest,omitempty"`
	StateDigestLSN uint64 `json:"state_digest_lsn,omitempty"`
}

// Leader is the value of /tandem/groups/G/leader, on the leader's lease.
type Leader struct {
	NodeID   string `json:"node_id"`
	Addr     string `json:"addr"`
	PeerAddr string `json:"peer_addr"`
	Epoch    uint64 `json:"epoch"`
	LeaseID  int64  `json:"lease_id"` // filled from the key's lease on read
	// CreateRev is the leader key's create revision, filled on read. It
	// grows with each election (Campaign creates the key) but not across a
	// Handover, which rewrites the key in place for the target: the new
	// leader keeps the old key's create revision. Fence with Epoch, which
	// grows across every change of leader.
	CreateRev int64 `json:"-"`
}

// SyncSet is the value of /tandem/groups/G/sync: the nodes that hold every
// write the leader of Epoch has acknowledged.
type SyncSet struct {
	Epoch uint64   `json:"epoch"`
	Nodes []string `json:"nodes"`
	// ModRev is the sync key's mod revision, filled on read.
	ModRev int64 `json:"-"`
}

// Contains reports whether node is in the set.
func (s *SyncSet) Contains(node string) bool {
	return s != nil && slices.Contains(s.Nodes, node)
}

// normNodes returns a sorted, de-duplicated copy (never nil).
func normNodes(nodes []string) []string {
	out := append([]string{}, nodes...)
	slices.Sort(out)
	return slices.Compact(out)
}

func encodeJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// The types above contain only strings and integers.
		panic(fmt.Sprintf("arbiter: encode %T: %v", v, err))
	}
	return string(b)
}

func decodeMember(kv *mvccpb.KeyValue) (MemberStatus, error) {
	var st MemberStatus
	if err := json.Unmarshal(kv.Value, &st); err != nil {
		return st, fmt.Errorf("arbiter: key %s: %w: %w", kv.Key, ErrCorruptValue, err)
	}
	if st.NodeID == "" {
		// The key is authoritative for the id.
		st.NodeID = string(kv.Key[strings.LastIndexByte(string(kv.Key), '/')+1:])
	}
	return st, nil
}

func decodeLeader(kv *mvccpb.KeyValue) (*Leader, error) {
	var l Leader
	if err := json.Unmarshal(kv.Value, &l); err != nil {
		return nil, fmt.Errorf("arbiter: key %s: %w: %w", kv.Key, ErrCorruptValue, err)
	}
	l.LeaseID = kv.Lease
	l.CreateRev = kv.CreateRevision
	return &l, nil
}

func decodeSync(kv *mvccpb.KeyValue) (*SyncSet, error) {
	var s SyncSet
	if err := json.Unmarshal(kv.Value, &s); err != nil {
		return nil, fmt.Errorf("arbiter: key %s: %w: %w", kv.Key, ErrCorruptValue, err)
	}
	if s.Nodes == nil {
		s.Nodes = []string{}
	}
	s.ModRev = kv.ModRevision
	return &s, nil
}

func decodeEpoch(kv *mvccpb.KeyValue) (uint64, error) {
	if kv == nil {
		return 0, nil
	}
	e, err := strconv.ParseUint(string(kv.Value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("arbiter: key %s: %w: %w", kv.Key, ErrCorruptValue, err)
	}
	return e, nil
}

// groupOfKey returns the group name of a key under KeyPrefix.
func groupOfKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return "", false
	}
	g, _, ok := strings.Cut(rest, "/")
	return g, ok && g != ""
}

type mvccKV = mvccpb.KeyValue
