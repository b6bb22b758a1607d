package arbiter

import "errors"

// Sentinel errors. Every error this package returns starts with "arbiter:"
// and wraps one of these (or an etcd client error) so callers can test it
// with errors.Is.
var (
	// ErrInvalidConfig: a MemberConfig or DialOptions field has a bad value;
	// the message names the field and the value.
	ErrInvalidConfig = errors.New("arbiter: invalid configuration")

	// ErrInvalidName: a group name or node id is empty or contains '/'.
	ErrInvalidName = errors.New("arbiter: invalid name")

	// ErrLeaseLost: the session's lease no longer exists at the arbiter
	// (expired or revoked). Everything written on it is gone.
	ErrLeaseLost = errors.New("arbiter: lease lost")

	// ErrNotLeader: a write guarded by the leader key was refused because
	// the caller's session does not hold the leader key at the given epoch.
	ErrNotLeader = errors.New("arbiter: not the leader at this epoch")

	// ErrNotInSyncSet: Campaign was refused because the group has a sync
	// set and it does not list the candidate's node@incarnation.
	ErrNotInSyncSet = errors.New("arbiter: not in the sync set")

	// ErrModeMismatch: the candidate's acknowledgement mode differs from
	// the group's recorded mode (GroupMode); the message names both.
	ErrModeMismatch = errors.New("arbiter: acknowledgement mode differs from the group's")

	// ErrGroupRunning: SetMode was refused because the group has live
	// members.
	ErrGroupRunning = errors.New("arbiter: the group has live members")

	// ErrContention: Campaign kept losing compare races without anybody
	// taking the leader key; the caller may retry.
	ErrContention = errors.New("arbiter: campaign contention")

	// ErrSyncMembersAlive: ForceSyncSet was refused because a member of
	// the current sync set has a live member key (it holds every
	// acknowledged write and may be about to win the election). The
	// error is a *SyncMembersAliveError naming them.
	ErrSyncMembersAlive = errors.New("arbiter: members of the sync set are alive")
	// ErrSyncSetChanged: PutSyncSet was refused because the sync set
	// changed between its read and its write (another write of the set
	// landed first, e.g. one of the caller's that was delayed in flight).
	// The caller still leads; S is whatever landed: read it or write again.
	ErrSyncSetChanged = errors.New("arbiter: sync set changed under the write")

	// ErrNoMember: the node named has no live member key in the group.
	ErrNoMember = errors.New("arbiter: no such live member")

	// ErrCorruptValue: a key holds a value this package cannot decode.
	ErrCorruptValue = errors.New("arbiter: corrupt value")

	// ErrWatchInterrupted is carried by a GroupEvent of kind EventErr: the
	// watch ended (compaction, lost etcd quorum, closed client); re-read the
	// state and watch again from the new revision.
	ErrWatchInterrupted = errors.New("arbiter: watch interrupted")

	// ErrMemberStopped: the embedded etcd member stopped serving without
	// Close being called.
	ErrMemberStopped = errors.New("arbiter: embedded member stopped")
)
