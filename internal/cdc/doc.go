// Package cdc is Tandem's change stream and the leading/alternative
// deployment machinery built on it (docs/architecture.md §4).
//
// # Change stream
//
// Service /tandem.cdc.ChangeStream/Subscribe on the node's peer port
// (registered next to replication; like replication it is plaintext and
// checks only the group name: put the peer port on a trusted network).
// One bidirectional gRPC stream per subscriber; every message is a
// google.protobuf.BytesValue holding this package's encoding (wire.go;
// integers little-endian, uv = unsigned varint, strings/bytes = uv length
// + bytes):
//
//	subscriber → server
//	  Subscribe  u8 1, str group, str subscriber, str source,
//	             u64 from_epoch, u64 from_lsn, u8 flags (1 = want snapshot)
//	  Ack        u8 2, u64 epoch, u64 lsn   (applied; status + WAL retention)
//	server → subscriber
//	  Hello      u8 1, str deployment, str group, str node,
//	             u64 commit_epoch, u64 commit_lsn, u8 snapshot,
//	             u64 snapshot_rows, u64 snapshot_lsn
//	  Batch      u8 2, u64 commit_epoch, u64 commit_lsn, u64 sent_unix_ns,
//	             uv n, n × (u64 epoch, u64 lsn, u8 type, u8 flags, bytes payload)
//
// The server waits for new records event-driven (the engine's apply
// notification; for records applied but not committed yet, the commit
// wait of ServerOptions.WaitCommit: the WAL fsync, or the sync set's
// acknowledgement), so a committed record is sent at once; without a
// WaitCommit it polls with a backoff from 1ms to 16ms.
//
// A Batch without records is a heartbeat (every ServerOptions.Heartbeat,
// 500ms by default, when nothing else was sent): it carries the serving
// deployment's commit position and clock, so a subscriber's lag keeps
// rising while the stream stalls even when nothing is written.
//
// Positions are the serving deployment's own (epoch, lsn). Records are
// engine records: type and payload exactly as in the WAL (formats in
// internal/engine/record.go; engine.ViewRecord decodes them to JSON), with
// one exception: a record the server itself applied from an upstream
// (engine.RecUpstream) is sent unwrapped (its inner type and payload), so
// an alternative can itself be subscribed to.
//
// What is served: only committed records — at or below the commit LSN
// (ServerOptions.Commit; on a node: the sync set's commit LSN, the
// engine's ReadLimit, in sync mode; the durable LSN in async mode), and
// only by the group's active with writes open. A record a failover of
// the serving group could lose is therefore never sent (sync mode), and
// a subscriber that reconnects to the new active after a failover and
// resumes after its last applied position gets neither a gap nor a
// duplicate. (Async mode: a failover may lose records already streamed;
// the subscriber then sees a position past the new active's log or with
// another epoch, and gets a snapshot.)
//
// The server answers Subscribe with a snapshot when the position is empty
// (lsn 0), when want_snapshot is set, when source names another
// deployment, when the position's epoch differs from this log's epoch at
// that LSN (the logs diverged), or when the WAL no longer holds the
// records after it (retention). A position past the end of the log is
// refused (FailedPrecondition). A snapshot is logical
// (engine.OpenLogicalSnapshot: taken at the applied LSN under the write
// lock, sent once that LSN is committed):
//
//	type 14 snapshot_reset   the catalog (all schemas, partitions, indexes,
//	                         load states, id counters), flags = 1
//	type 10 insert ...       every live row, 1024 per record, flags = 1
//	type 15 snapshot_end     flags = 2, at the snapshot's position
//
// All snapshot records carry the snapshot's position; only snapshot_end
// is a resume point. Then records follow from the snapshot's LSN + 1.
// The server pins the WAL from each subscriber's acknowledged position
// (engine.PinWAL; kept 10 minutes after a disconnect, within the engine's
// WALRetainBytes); a subscriber further behind gets a snapshot.
//
// Clients: Open (one stream), or Subscriber, which resolves the active
// (ArbiterTarget: the leader key of the group in the arbiter;
// StaticTarget), resumes from Applier.Resume() on every (re)connect,
// ends a stream silent for 10 heartbeats + 3s (a paused server), and
// reports Status: position, commit position heard, lag in records and
// seconds, last applied time. `tandem cdc tail` prints a stream as JSON
// lines.
//
// # Alternative deployment
//
// Two deployments, each with its own arbiter and HA group; a
// deployment-level record /tandem/deployments/<name> in each arbiter
// (DeploymentRecord: role leading | alternative | demoting, peer
// deployment name/arbiter/group, generation, resume/rejoin instructions)
// that every node follows (internal/node/deployment.go), and the state
// the active publishes under /tandem/deployments/<name>/state
// (DeploymentState: positions, final position, subscription and lag,
// subscribers, a data digest).
//
// On an alternative every node refuses client writes
// (engine.SetReadOnly: "deployment X is the read-only alternative of Y
// ... replication lag N records, S s", Milvus code 3000) and serves
// reads. Its active runs a Subscriber whose EngineApplier re-logs each
// upstream record as a NEW local record (engine.RecUpstream, its own
// epoch and LSN) wrapping (source, upstream epoch, upstream lsn, type,
// payload); the one deterministic apply applies the inner record and sets
// the catalog's upstream position. So the alternative's standbys
// replicate the stream like any record, checkpoints persist the position
// (catalog version 2), and after a failover of either deployment's group
// the new active resumes from engine.UpstreamPosition() — exactly once
// (engine.ApplyUpstream also refuses a record at or before the current
// position).
//
// Nodes follow their record with an etcd watch (a change is acted on at
// once) and re-read it (a linearizable read) at least every
// min(500ms, FenceBound/4).
//
// # Write fencing (generation token)
//
// Every node of a deployment holds a fencing token in memory: the
// record's generation and role as last read, and the send time of the
// read that confirmed it. On a leading deployment's active a client
// write is admitted only while the token says leading and was confirmed
// less than the record's FenceBound (DeploymentRecord.FenceMs, default
// DefaultFenceBound = 3s) ago, and it is acknowledged only if, after it
// is durable (and, in sync mode, on the sync set), the token is still
// the one it was admitted under (the token is opened with a write
// barrier: writes at or below it belong to an older generation) and
// still confirmed within the bound. Otherwise the write fails with
// "durable on this node but NOT acknowledged". So: once the record
// leaves the leading role, a node that saw the change acknowledges
// nothing more, and a node that cannot read its record (cut off from
// its arbiter, paused) stops acknowledging at most FenceBound after its
// last confirming read was sent — bound the HA lease's self-fencing
// usually beats, since the record lives in the same arbiter.
//
// Switchover (`tandem deployment switchover`, package deployctl): the
// leading record goes to demoting (new client writes refused with a
// retriable "not serving" status, acknowledgements of writes admitted
// before refused; engine.WriteBarrier then gives the final LSN,
// published once committed); the command waits until the alternative's
// upstream position reaches it, makes the alternative leading (its
// active stops the subscriber, notes its own last LSN N, opens writes),
// then makes the old leading one the alternative with resume = (new
// leading, N): its active records that position in its log (a
// RecUpstream mark) and subscribes from there. No acknowledged write is
// lost; the pause is the demotion, the catch-up and the promotion, each
// seen through watches.
//
// Failover (`tandem deployment failover`): fence first — the old
// leading record goes to demoting, and the command waits until the old
// active publishes its state at that generation (it refuses writes and
// acknowledgements from then on), or, when no active answers, until
// FenceBound (plus 10% and 100ms) has passed since the fence was
// written. Then the alternative is made leading at once; its last
// applied upstream position is printed as the loss window (everything
// the old leading deployment committed after it is lost; nothing it
// acknowledged after the fence). The old leading record then becomes
// alternative + rejoin{after}. If the old leading deployment's arbiter
// does not answer, the failover is refused; --no-fence promotes anyway
// and prints the risk: the old side may keep acknowledging writes (a
// split brain) until `tandem deployment rejoin` changes its record.
// When its nodes come back, its active exports every record after that
// position to DATA_DIR/diverged/
// deployment-failover-gen<G>-after-<lsn>.{wal,jsonl} (ExportDiverged),
// empties its state (a RecUpstream reset) and resubscribes, receiving a
// snapshot of the new leading deployment.
//
// Limits: there is no global arbiter — the fence needs the old leading
// deployment's arbiter (or --no-fence); clocks are assumed to run at
// about the same rate (the bound is measured on each side's monotonic
// clock). The stream is at-least-once only for consumers that do not
// persist their position atomically with their effects; the engine
// applier does.
package cdc
