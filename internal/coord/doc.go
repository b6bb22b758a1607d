// Package coord holds the coordinators of a Tandem cluster
// (docs/architecture.md §5): processes that each campaign for one or more
// coordinator roles, so that two or three of them share or split the roles
// and a standby takes a role over when its active's session ends.
//
// The root's active also keeps the catalog and applies DDL (ddl.go); the
// cluster proxy (internal/clusterproxy) routes data to the shard groups.
//
// # Key space
//
// For a cluster C (names are non-empty and contain no '/'):
//
//	/tandem/clusters/C/coords/<id>        JSON Member, on the coordinator's session lease
//	/tandem/clusters/C/roles/<role>/<lease hex>
//	                                      the role's election (etcd client/v3/concurrency.Election):
//	                                      value = coordinator id; the key with the lowest create
//	                                      revision is the role's active, the others wait in order
//	/tandem/clusters/C/alloc/id           decimal int64: the highest id reserved so far (only grows)
//	/tandem/clusters/C/alloc/ts           decimal int64: the highest physical time (Unix ms) reserved
//	                                      for timestamps so far (only grows)
//	/tandem/clusters/C/groups/<G>         JSON GroupInfo: a shard group (nodes started with --cluster C)
//	/tandem/clusters/C/collections/<db>/<name>
//	                                      JSON CollectionMeta: id, shards_num, shard -> group, schema
//	/tandem/clusters/C/ddl/<id>           JSON Intent: a DDL request, its placement and outcome
//
// Roles: root (catalog, DDL, ids and timestamps), data (flush and compaction
// scheduling), query (shard placement, load state), index (index builds).
//
// # Fencing
//
// A role's active holds a Fence: its election key and that key's create
// revision. Every etcd write a coordinator makes for a role is one
// transaction conditioned on CreateRevision(key) == rev, so after the
// coordinator's session ended (its lease expired while it was paused, cut
// off or dead) and the key is gone, or another coordinator's key leads, the
// write changes nothing and fails with ErrFenced. The session's Done channel
// is the one signal to step down; the fence makes a late write harmless
// when the step-down comes too late (a process paused between its check and
// its write).
//
// # DDL
//
// The root records each DDL request as an Intent (pending) before it
// applies it to any group, applies it to every group holding the
// collection (idempotent requests: re-applying is harmless), then writes
// the catalog change and marks the intent done in one fenced transaction.
// A new root resumes pending intents; a request id seen before is answered
// from its intent. Done intents are kept (not collected yet).
//
// # Allocation
//
// The root's active reserves ids in batches (Config.IDBatch) by a fenced
// compare-and-swap of alloc/id, and hands them out from memory; a new active
// starts after the stored high-water mark, so ids are unique and increasing
// across takeovers (the unused rest of a lost batch is skipped). Timestamps
// are Milvus hybrid timestamps (physical ms << 18 | logical); the active
// reserves a window of physical time (Config.TSWindow) ahead of its clock
// in alloc/ts and starts above the stored mark, so timestamps grow across
// takeovers even when the new active's clock is behind.
package coord
