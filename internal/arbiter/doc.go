// Package arbiter is the etcd side of Tandem's standalone HA (docs/architecture.md §3):
// an embedded etcd member (StartMember), and a client (Dial) that keeps a
// group's membership, leader key, epoch counter and sync set in etcd, using
// etcd leases (client/v3/concurrency sessions) and transactions. It makes no
// decisions: the HA loop (internal/ha) decides when to campaign, resign or
// fence; this package makes each of those steps one atomic etcd operation.
//
// # Key space
//
// For a group G (group names and node ids are non-empty and contain no '/'):
//
//	/tandem/groups/G/members/<node>  JSON MemberStatus, on the member's lease
//	/tandem/groups/G/leader          JSON Leader, on the leader's lease
//	/tandem/groups/G/epoch           decimal ASCII uint64: the last epoch handed out (only grows)
//	/tandem/groups/G/sync            JSON SyncSet, written only by the leader (guarded by its leader key)
//	/tandem/groups/G/mode            JSON GroupMode: the group's acknowledgement mode, recorded by the first
//	                                 Campaign won with a Candidate.Mode, changed only by SetMode (group stopped)
//
// # Value encodings
//
// Values are JSON objects with snake_case field names, every field always
// present, in this order (see the struct tags; tests pin the bytes):
//
//	MemberStatus {"node_id","addr","peer_addr","http_addr","role","epoch","durable_lsn","applied_lsn","updated_unix_ms"}
//	             (+ "state_digest","state_digest_lsn","incarnation","legacy_incarnation" when set)
//	Leader       {"node_id","addr","peer_addr","epoch","lease_id"} (+ "incarnation" when set)
//	SyncSet      {"epoch","nodes"}   (nodes sorted, no duplicates, [] when empty;
//	             each "node@incarnation", or a plain "node" written before incarnations: SyncSet.Admits)
//	GroupMode    {"mode","set_by"}
//
// Leader.CreateRev and SyncSet.ModRev are not stored: they are filled from
// the key's revisions on read. Leader.LeaseID is filled from the key's lease
// on read (the stored copy is informational).
//
// # Leases and fencing
//
// A Session is one etcd lease kept alive by a concurrency.Session. Its TTL
// is whole seconds (rounded up) and the server may raise it to its minimum
// (ceil(1.5 × election timeout); 2 s for etcd's defaults): Session.TTL
// reports the TTL actually granted, and self-fencing deadlines must be
// computed from it. When the lease expires or is revoked, etcd deletes the
// member and leader keys bound to it at once, and Session.Done closes. A
// keep-alive stream that lapses while the lease still exists (the etcd
// member the client used died, or etcd was electing a leader for longer
// than the TTL) is resumed on the same lease, so losing one arbiter member
// does not end the sessions of the nodes attached to it.
//
// Campaign creates the leader key and bumps the epoch in one transaction,
// and lets only a candidate the sync set admits win whenever the group has
// one (decided from the arbiter's state, whatever the candidate's mode);
// Handover rewrites it for the target and bumps the epoch in one
// transaction. The epoch is the fencing token: it strictly grows across
// successive leaders and is never reused. The leader key's create revision
// is not one: a Handover keeps it (it grows only across elections).
//
// # Failpoints
//
// arbiter/txn-ambiguous (failpoint builds only, see internal/failpoint) is
// evaluated right after each group write the etcd server answered —
// PutMember, Campaign's leader/epoch transaction, Resign, PutSyncSet and
// Handover — whatever the transaction's outcome: when armed (e.g.
// `3*error`), the write has taken effect (or its compare failed) but the
// caller gets an error wrapping failpoint.ErrInjected, as when the response
// is lost. Callers must treat such an error as "outcome unknown" and read
// the keys back. The chaos harness arms it on a node over the node's side
// port (internal/chaos, fault kinds ambiguous-txn-*).
package arbiter
