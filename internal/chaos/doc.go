// Package chaos is Tandem's fault-injection harness (DESIGN §7, issue 7):
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
//
// Clients, proxies and the harness's own status reads reach the nodes and
// the arbiter directly.
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
// node, restart them all). With Config.Overlap about one fault in three
// gets a second one during its hold (a standby killed or cut off from the
// arbiter, an arbiter member killed).
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
