// Package replication streams an active node's write-ahead log to its
// standbys (docs/architecture.md §3).
//
// # Protocol
//
// One bidirectional gRPC stream per standby, /tandem.replication.Replication/Stream
// on the peer port, with the gRPC codec "tandem-frame" (content type
// application/grpc+tandem-frame, grpc.go): each gRPC message is one frame
// of this package's own encoding (wire.go), as is, without protobuf
// wrapping:
//
//	kind u8 | sender epoch u64 | body ... | CRC32C u32 (of everything before it)
//
// Integers are little-endian; strings and payloads are u32 length + bytes
// (in Records, the payload is preceded by zero padding, see below).
// A frame that fails its CRC or does not decode ends the stream. Kinds:
// Hello 1, Ack 2, Cut 3, NeedSnapshot 4, Records 5, SnapshotBegin 6,
// SnapshotChunk 7, SnapshotEnd 8.
//
// Standby → active:
//
//	Hello{group, node_id, epoch, last position (epoch, lsn), epoch history [(epoch, first lsn)], [flags u8, [durable_lsn u64 (flag helloDurable)], [incarnation]]}
//	  first message; epoch is the epoch the standby follows (the leader's,
//	  as seen in the arbiter); lsn is its last applied LSN (where
//	  streaming resumes). flags is optional on the wire (absent = 0); bit
//	  0 (want_snapshot) asks for a snapshot whatever the position (set
//	  after NeedSnapshot, or after a Cut whose cut point is older than the
//	  standby's own checkpoint); bit 1 (durable) says durable_lsn follows:
//	  the standby's fsynced LSN (<= lsn; the standby first waits up to 1 s
//	  for lsn to be durable). The active starts the standby's durable LSN
//	  there (0 without bit 1, or when it sends a snapshot), never at lsn:
//	  records applied before the last stream broke may not be fsynced, and
//	  sync mode must not count them.
//	Ack{durable_lsn, applied_lsn}
//	  as the standby's durable LSN advances: its acker goroutine waits
//	  until everything applied is durable in its WAL (one fsync for all
//	  the batches applied meanwhile: receiving and applying go on during
//	  the fsync), then acks; durable_lsn <= applied_lsn, both true when
//	  sent (durable_lsn fsynced in the standby's WAL, per its sync mode).
//	  Also after a snapshot is installed (both = the snapshot's LSN).
//
// Active → standby, in reply to Hello, exactly one of:
//
//	Cut{after_lsn}       the logs diverge (DivergencePoint; not checked
//	                     with want_snapshot): the standby saves the records
//	                     past after_lsn in DATA_DIR/diverged/, cuts its log
//	                     there and rebuilds its state (engine.CutLog), or,
//	                     if its checkpoint is past after_lsn, keeps its
//	                     state and asks for a snapshot; then it reconnects.
//	                     The stream ends.
//	a snapshot, then Records...
//	                     when want_snapshot is set, when the standby's
//	                     next LSN is older than the active's WAL retention
//	                     (engine.FirstWALLSN), or when the standby is empty
//	                     (last lsn 0) and the active has a checkpoint.
//	Records{count u32, [(epoch u64, lsn u64, type u8, len u32, pad, payload)]}...
//	                     batches in LSN order starting at last_lsn+1 (up to
//	                     BatchBytes each, at least one record), read by a
//	                     per-stream engine.LogReader: the newest records from
//	                     the active's memory (Config.RecentLogBytes, kept
//	                     while a stream is open), older ones from its WAL
//	                     files, resuming where it stopped; it tails new
//	                     records with Engine.WaitApplied. pad is 0-7 zero
//	                     bytes so that each payload starts at a frame offset
//	                     that is a multiple of 8 (the standby decodes
//	                     payloads in place, float32 vectors aligned). A
//	                     frame is encoded once and sent to every standby at
//	                     that position (the Sender's frame cache), its large
//	                     payloads sent from where they are, not copied.
//
// A snapshot is the active's last checkpoint (engine.OpenSnapshot: reused,
// or taken if there is none or much WAL followed it; its files are
// hard-linked so a concurrent checkpoint cannot delete them, and the WAL
// after it is pinned):
//
//	SnapshotBegin{lsn u64, total bytes u64, epoch history [(epoch u64, first lsn u64)],
//	              files [(name str, size u64)]}
//	  files are "MANIFEST" first, then "segments/<file>" (segment, index and
//	  tombstone files the manifest references); total = sum of sizes.
//	SnapshotChunk{file u32, offset u64, data bytes}...
//	  every file's bytes in order, files in order, each chunk at most
//	  SenderOptions.SnapshotChunkBytes (1 MiB) of data. Like every frame, a
//	  chunk is covered by the frame's CRC32C; in addition each file ends
//	  with the CRC32C of its other bytes (the checkpoint file formats),
//	  which the standby verifies as the file completes.
//	SnapshotEnd{lsn u64}
//	  the standby fsyncs the staged files, loads and verifies the whole
//	  checkpoint, swaps it in as its data (engine.InstallSnapshot: its WAL
//	  then continues at lsn+1), acks lsn, and Records follow from lsn+1.
//
// Any bad frame, out-of-order chunk, size or CRC mismatch ends the stream;
// the staged files are dropped and the standby reconnects (and gets a new
// snapshot). Mid-stream, if retention removed records the standby still
// needs, the active sends NeedSnapshot{first} (first = oldest LSN still in
// its WAL) and ends the stream; the standby reconnects with want_snapshot.
//
// Flow control: the active keeps at most Options.WindowBytes of record
// payload (and at least one batch) unacknowledged; it resumes sending as
// Acks arrive (an Ack acknowledges everything <= applied_lsn). Snapshot
// chunks rely on gRPC's flow control. The standby's connection uses a
// fixed HTTP/2 window of 32 MiB, so a multi-MB frame is not held back by
// window updates; frames of any size are accepted (a Records frame holds
// at least one whole record).
//
// WAL retention: the active pins (engine.PinWAL) each connected standby's
// position (its last acknowledged min(durable, applied) LSN + 1, from the
// hello's durable LSN + 1 until the first Ack: what it would still have
// after a crash) so checkpoints keep the
// WAL it still needs, within the engine's Config.WALRetainBytes (1 GiB);
// after a disconnect the pin is kept for SenderOptions.RetainAfterDisconnect
// (10 min). A standby beyond either bound gets a snapshot.
//
// Fencing: every frame carries the sender's epoch. The active refuses a
// Hello from a standby that has seen a higher epoch than its own (it is a
// stale active) and refuses Acks with an epoch older than its own. The
// standby refuses frames (records and snapshot frames alike) whose epoch
// is lower than the highest epoch it has seen (its follow epoch, its log's
// epoch, earlier frames), records whose own epoch exceeds the frame's, and
// snapshots whose epoch history has an epoch above the frame's.
//
// Epoch histories: the engine's history lists its epoch-start records.
// Records written before the first epoch-start record (standalone, no HA)
// belong to an implicit epoch 0 beginning at LSN 1 (normalizeHistory).
//
// Sync mode's building block is Sender.WaitDurable (a standby has an LSN
// durable); internal/node/syncset.go keeps the arbiter's sync set and
// installs the engine's AckHook on it (internal/node/replicator.go is the
// node's Replicator: Sender on the peer port, Receiver while standby,
// drain before promotion).
//
// Limits: snapshots are not resumable (a broken transfer starts over).
package replication
