// Package chaos is Tandem's fault-injection harness (docs/architecture.md §6):
// it runs a real deployment on this machine, drives it with concurrent
// clients using the official Milvus Go SDK while a seeded nemesis injects
// faults, records every operation in a history, and checks the history:
// no split brain, no lost acknowledged write, linearizable registers,
// converged replicas.
//
// # Deployment
//
// Run starts, through internal/localgroup, a 3-member arbiter (`tandem
// arbiter`), a group of three `tandem node`s (one becomes the active, two
// standbys) and two `tandem proxy`s, as child processes of the test. Every
// node reaches the arbiter and its peers through fault-injecting TCP
// relays (relay.go), one per link that a partition can cut:
//
//	nX>a1, nX>a2, nX>a3   node nX's connections to each arbiter member
//	                      (the node gets --arbiter <its three relays>)
//	peer>nX               every standby's replication stream to nX's peer
//	                      port (nX publishes --advertise-peer-addr <relay>)
//	client>nX             every connection to nX's client port made by
//	                      whoever looked nX up in the arbiter: the proxies
//	                      and the direct clients (nX publishes
//	                      --advertise-addr <relay>)
//	proxyN>a1..a3         proxy N's connections to each arbiter member
//	c>proxyN              the clients' connections to proxy N
//
// A relay in front of a port is shared by every process connecting to it,
// yet a fault can cut one of them: the relay names the process behind each
// connection it accepts (SocketOwner: the socket's inode from
// /proc/net/tcp, found among the children's /proc/<pid>/fd), and
// Relay.BlockFrom holds that source's connections only — one standby's
// replication stream and not the other's, one proxy's link to the active.
// The harness's own status reads and failpoint calls (the nodes' side
// ports) go direct.
//
// # Partitions: a relay, not iptables
//
// Partitions are made with the relay rather than network namespaces and
// iptables: everything runs on loopback as an unprivileged user, in CI
// and on a laptop alike, with no root, no namespaces, no leftover rules
// after a crash, and with per-link control (one node's arbiter links, the
// standbys' links to the active) that a single shared loopback interface
// could not give iptables without a namespace per process. A blocked relay
// is a true partition, not a reset: it stops forwarding in both
// directions and keeps every socket open, holding the bytes in flight
// (TCP would retransmit them) and even a peer's close until the link
// heals; new connections are accepted but not connected through. So the
// processes see what they would see across a cut cable — silence — and
// whatever times out does so by its own timers (gRPC keep-alives, lease
// renewals, the sync set's standby timeout).
//
// # Faults
//
// The nemesis (nemesis.go) draws faults from a seeded random source in
// rounds — each kind once per round, in a random order — each with a
// random hold time, then heals it and waits until the group is whole
// again (one active with writes open, every other node a standby
// streaming from it, in sync mode every node in the sync set, and after a
// killed active a new epoch): kill-active, kill-standby, kill-arbiter
// (SIGKILL, restart after the hold), pause-active (SIGSTOP for longer than
// the lease TTL, then SIGCONT: the zombie active), partition-active-arbiter,
// partition-active-standbys, partition-standby-arbiter, isolate-active
// (both of the active's partitions at once) and restart-all (SIGKILL every
// node, restart them all) — BaseFaults — and ExtraFaults:
//
//   - proxy and client links: partition-client-proxy (the clients' link to
//     one proxy), partition-proxy-active (one proxy's link to the active),
//     partition-active-clients (every link into the active's client port),
//     proxy-stale-route (one proxy cut from the arbiter while the active is
//     SIGKILLed: its route goes stale), partition-standby-active (one
//     standby's replication link, the other's stays);
//   - ambiguous arbiter transactions, with the failpoint
//     arbiter/txn-ambiguous armed over the node's side port (PUT
//     /debug/failpoints/<name>): ambiguous-txn-active (armed `3*error` on
//     the active while a standby is SIGKILLed and comes back, so its
//     sync-set and member writes come back ambiguous) and
//     ambiguous-txn-failover (armed `2*error` on every standby while the
//     active is SIGKILLed: the campaigns and the new active's first writes);
//   - storage on a standby: fsync-error-standby (wal/fsync armed: its WAL
//     fails stickily; healed by replacing the process on the same data) and
//     power-loss-standby (below);
//   - VM-suspend-like freezes: pause-standby (SIGSTOP past the lease TTL),
//     pause-arbiter (SIGSTOP an arbiter member) and clock-jump-active
//     (node/clock-jump armed on the active, then SIGSTOP past the TTL; the
//     point comes with the BOOTTIME fencing clock of branch h2 — without it
//     the fault is a plain freeze of the active).
//
// The failpoints are named in one place (failpoints.go); each phase's
// notes say how often an armed point fired and whether a WAL failed. With
// Config.Overlap about one fault in three gets a second one during its
// hold (a standby killed or cut off from the arbiter, an arbiter member
// killed).
//
// # Power loss without a special file system
//
// A SIGKILL loses nothing a process wrote (the page cache survives it); a
// power cut loses what was not fsynced. So every node runs with the
// failpoint wal/synced-mark armed (TANDEM_FAILPOINTS), which makes its WAL
// record its synced LSN in <data>/wal/SYNCED whenever it changes — after
// each real fsync, and after the durable cuts of TruncateBack, SetNextLSN
// and recovery. power-loss-standby SIGKILLs a standby, then CutUnsynced
// truncates its segment files after the last frame at or below that LSN
// (like LazyFS's "lose unsynced data"), and restarts it after the hold:
// recovery must cut cleanly, and in sync mode no acknowledged write may be
// missing (only fsynced records count towards the sync set). The phase's
// target says how many records were cut.
//
// # Workloads and history
//
// Clients (workload.go) go through the proxies and, for one register
// client and one set client, straight to the active the arbiter shows:
//
//   - registers: upsert key -> a new unique value, or read the key with
//     consistency level Strong;
//   - an append set: insert new unique primary keys;
//   - search sanity: insert one row, and once acknowledged search for its
//     vector exactly (FLAT index, Strong): the row must be found;
//   - optionally (WorkloadConfig.FlushEvery) a flusher, so that the active
//     checkpoints and truncates its WAL: with a small --wal-retain-bytes,
//     nodes coming back install snapshots and cuts fall behind checkpoints.
//
// Each call is one Op with its invocation and completion times and
// outcome: ok, fail (a failed read: no effect) or info (a failed or timed
// out write: indeterminate). The run is cut into phases at each injection;
// the register keys of a phase are its own, so each phase's register
// history is checked independently and violations are attributed to it.
//
// # Checkers
//
//   - registers: linearizability, key by key, with porcupine (register.go);
//     indeterminate writes get an infinite completion time (they may take
//     effect at any point after their invocation, or never), failed reads
//     are left out, a read returning two rows for one key is a violation;
//   - append set: every acknowledged row is present at the end, and no row
//     is present that nobody inserted (set.go);
//   - split brain: from the nodes' logs ("writes open" epoch=N, "writes
//     closed", role changes, process exits), the spans in which each node
//     had writes open; no epoch is opened by two nodes, no two nodes' spans
//     overlap, epochs never go back (epochs.go). A SIGSTOPped process
//     acknowledges nothing while frozen, and once frozen past the lease
//     TTL minus the fence margin its write gate's deadline has passed, so
//     its span is cut there;
//   - convergence: after the final heal every replica reports the same
//     state digest at the same applied LSN (tandem status's state_digest);
//   - async mode: an acknowledged row or register write may be missing
//     only if it is among the records an old active cut from its log and
//     saved in DataDir/diverged/, inside the reported window (cut_after,
//     last_lsn] (diverged.go).
//
// Failed and indeterminate operations are counted and reported per phase,
// with the longest time no write succeeded (max unavailability).
//
// # Evidence
//
// Each run has a folder (history.jsonl, phases.json, write-windows.json,
// report.txt, porcupine visualizations of non-linearizable keys, and the
// deployment's data and logs under cluster/). It is removed after a
// passing run and kept after a failing one; the report prints the folder
// and the seed, and the same seed replays the same schedule of faults.
package chaos
