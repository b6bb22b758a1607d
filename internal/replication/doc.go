// Package replication streams an active node's write-ahead log to its
// standbys (DESIGN.md §3, issue 5).
//
// # Protocol
//
// One bidirectional gRPC stream per standby, /tandem.replication.Replication/Stream
// on the peer port. Each gRPC message is a google.protobuf.BytesValue whose
// value is one frame of this package's own encoding (wire.go):
//
//	kind u8 | sender epoch u64 | body ... | CRC32C u32 (of everything before it)
//
// Integers are little-endian; strings and payloads are u32 length + bytes.
// A frame that fails its CRC or does not decode ends the stream.
//
// Standby → active:
//
//	Hello{group, node_id, epoch, last position (epoch, lsn), epoch history [(epoch, first lsn)]}
//	  first message; epoch is the epoch the standby follows (the leader's,
//	  as seen in the arbiter); lsn is its last applied LSN.
//	Ack{durable_lsn, applied_lsn}
//	  after each applied batch, once the batch is durable in its WAL.
//
// Active → standby, in reply to Hello, exactly one of:
//
//	Cut{after_lsn}       the logs diverge (DivergencePoint): the standby must
//	                     truncate its log after after_lsn, rebuild and
//	                     reconnect. The stream ends.
//	NeedSnapshot{first}  the standby's next LSN is older than the active's
//	                     WAL retention (first = oldest LSN still in the WAL).
//	                     The stream ends.
//	Records{[(epoch, lsn, type, payload)]}...
//	                     batches in LSN order starting at last_lsn+1, first
//	                     from the WAL (Engine.IterateWAL), then tailing new
//	                     records (Engine.WaitApplied).
//
// Flow control: the active keeps at most Options.WindowBytes of record
// payload (and at least one batch) unacknowledged; it resumes sending as
// Acks arrive (an Ack acknowledges everything <= applied_lsn).
//
// Fencing: every frame carries the sender's epoch. The active refuses a
// Hello from a standby that has seen a higher epoch than its own (it is a
// stale active) and refuses Acks with an epoch older than its own. The
// standby refuses Records frames whose epoch is lower than the highest
// epoch it has seen (its follow epoch, its log's epoch, earlier frames),
// and records whose own epoch exceeds the frame's.
//
// Epoch histories: the engine's history lists its epoch-start records.
// Records written before the first epoch-start record (standalone, no HA)
// belong to an implicit epoch 0 beginning at LSN 1 (normalizeHistory).
//
// Sync mode's building block is Sender.WaitDurableCount (k standbys have
// an LSN durable); internal/node installs it as the engine's AckHook with
// SyncMode "sync" (internal/node/replicator.go is the node's Replicator:
// Sender on the peer port, Receiver while standby, drain before
// promotion).
//
// # Not yet here (issue 5)
//
// Snapshot transfer, cutting the standby's log (the receiver reports the Cut
// and stops; see Receiver.Status), the arbiter's sync set (sync mode only
// waits for k connected standbys; elections do not consult a sync set),
// strict/degrade, WAL retention for standbys.
package replication
