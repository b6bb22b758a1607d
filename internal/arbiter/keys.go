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
func modeKey(group string) string   { return groupPrefix(group) + "mode" }

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
	// Incarnation is the id of the node's data dir (DATA_DIR/INCARNATION):
	// a wiped, cut or snapshot-rebuilt data dir has a new one. "" from a
	// node older than incarnations. LegacyIncarnation: the incarnation was
	// adopted by a data dir created before incarnations existed (see
	// SyncSet.Admits).
	Incarnation       string `json:"incarnation,omitempty"`
	LegacyIncarnation bool   `json:"legacy_incarnation,omitempty"`
	// WaitingSinceUnixMs is set while the node, an active in sync mode,
	// holds client writes back because its sync set lists fewer standbys
	// than required: when that began (node's clock); 0 otherwise.
	WaitingSinceUnixMs int64 `json:"waiting_since_unix_ms,omitempty"`
}

// Leader is the value of /tandem/groups/G/leader, on the leader's lease.
type Leader struct {
	NodeID   string `json:"node_id"`
	Addr     string `json:"addr"`
	PeerAddr string `json:"peer_addr"`
	Epoch    uint64 `json:"epoch"`
	LeaseID  int64  `json:"lease_id"` // filled from the key's lease on read
	// Incarnation is the leader's data dir incarnation (set by Campaign
	// from the Candidate; "" from older nodes and handovers).
	Incarnation string `json:"incarnation,omitempty"`
	// CreateRev is the leader key's create revision, filled on read. It
	// grows with each election (Campaign creates the key) but not across a
	// Handover, which rewrites the key in place for the target: the new
	// leader keeps the old key's create revision. Fence with Epoch, which
	// grows across every change of leader.
	CreateRev int64 `json:"-"`
}

// SyncSet is the value of /tandem/groups/G/sync: the members that hold
// every write the leader of Epoch has acknowledged.
//
// Each entry names a data dir, not just a node: "node@incarnation"
// (SyncMember), so that a node whose data dir was wiped, cut or rebuilt
// from a snapshot (a new incarnation) is not a member. Entries without
// "@incarnation" were written before incarnations existed (or by a node
// without one); see Admits for how they match.
type SyncSet struct {
	Epoch uint64   `json:"epoch"`
	Nodes []string `json:"nodes"`
	// ModRev is the sync key's mod revision, filled on read.
	ModRev int64 `json:"-"`
}

// Contains reports whether some entry names node (whatever its
// incarnation). Use Admits to decide eligibility.
func (s *SyncSet) Contains(node string) bool {
	if s == nil {
		return false
	}
	for _, e := range s.Nodes {
		if n, _ := ParseSyncMember(e); n == node {
			return true
		}
	}
	return false
}

// Admits reports whether the set lists node at incarnation inc, i.e.
// whether that data dir holds every acknowledged write:
//   - an entry "node@inc" admits exactly that node and incarnation;
//   - a plain entry "node" (written before the upgrade to incarnations)
//     admits node only when it has no incarnation (an older binary) or
//     legacy is set: its incarnation was adopted by a data dir that
//     existed before incarnations, so it is the data dir the entry meant.
//     A data dir created after the upgrade (wiped, new) never matches a
//     plain entry.
func (s *SyncSet) Admits(node, inc string, legacy bool) bool {
	if s == nil {
		return false
	}
	for _, e := range s.Nodes {
		n, i := ParseSyncMember(e)
		if n != node {
			continue
		}
		if i == "" && (inc == "" || legacy) || i != "" && i == inc {
			return true
		}
	}
	return false
}

// IncarnationLen is the length of an incarnation id: 16 lowercase hex
// digits (64 random bits).
const IncarnationLen = 16

// ValidIncarnation reports whether s is a well-formed incarnation id.
func ValidIncarnation(s string) bool {
	if len(s) != IncarnationLen {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// SyncMember is the sync set entry of node at incarnation inc:
// "node@inc", or plain "node" when inc is "".
func SyncMember(node, inc string) string {
	if inc == "" {
		return node
	}
	return node + "@" + inc
}

// ParseSyncMember splits a sync set entry into node and incarnation. An
// entry is qualified when it ends in '@' and a valid incarnation;
// otherwise the whole entry is the node id (a plain, legacy entry; node
// ids may contain '@', but not end in "@<incarnation>": see
// AmbiguousNodeID).
func ParseSyncMember(e string) (node, inc string) {
	if i := strings.LastIndexByte(e, '@'); i > 0 && ValidIncarnation(e[i+1:]) {
		return e[:i], e[i+1:]
	}
	return e, ""
}

// AmbiguousNodeID reports whether node id would read as a qualified sync
// set entry (it ends in "@" and 16 hex digits); nodes refuse such ids.
func AmbiguousNodeID(node string) bool {
	_, inc := ParseSyncMember(node)
	return inc != ""
}

// Acknowledgement modes of a group (GroupMode.Mode).
const (
	ModeSync  = "sync"
	ModeAsync = "async"
)

// GroupMode is the value of /tandem/groups/G/mode: the group's
// acknowledgement mode, recorded by the first Campaign won with a
// Candidate.Mode (or by SetMode). Nodes refuse to start in another mode.
type GroupMode struct {
	Mode  string `json:"mode"`
	SetBy string `json:"set_by,omitempty"` // node id, or "operator"
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

func decodeMode(kv *mvccpb.KeyValue) (*GroupMode, error) {
	var m GroupMode
	if err := json.Unmarshal(kv.Value, &m); err != nil {
		return nil, fmt.Errorf("arbiter: key %s: %w: %w", kv.Key, ErrCorruptValue, err)
	}
	return &m, nil
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
