package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tandem-db/tandem/internal/fileutil"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/replication"
)

// IncarnationFile is the file in DATA_DIR holding the data dir's
// incarnation.
const IncarnationFile = "INCARNATION"

// An incarnation names one life of a data dir (docs/architecture.md §3, "the sync set
// protocol"): the sync set lists members as node@incarnation, so a node
// whose data dir no longer holds what its sync set membership promised is
// not a member any more. It is a random id (arbiter.IncarnationLen hex
// digits) kept in DATA_DIR/INCARNATION (written to a temporary file,
// fsynced, renamed, directory fsynced), and a new one is made:
//   - when the data dir is created (empty or missing DATA_DIR): a wiped
//     data dir is a new incarnation;
//   - before the log is cut after a divergence, and before a snapshot
//     replaces the state (replication.ReceiverOptions.BeforeReplace): a
//     shortened log is a new incarnation, even if the node crashes right
//     after.
//
// A data dir that exists without the file (created before incarnations)
// adopts a new id marked legacy: it may still match a plain "node" entry
// of a sync set written before the upgrade (arbiter.SyncSet.Admits). Any
// later new incarnation is not legacy.
//
// Restoring DATA_DIR from a backup restores the file too, and nothing in
// the data dir tells the restore from a restart: the operator must delete
// DATA_DIR/INCARNATION after a restore (README, "Restoring a data dir").
// A restored log that diverged or fell behind the active's WAL retention
// is caught anyway (cut, snapshot).
type incarnation struct {
	path string

	mu     sync.Mutex
	id     string // guarded by mu
	legacy bool   // guarded by mu
}

// incarnationRecord is the file's content.
type incarnationRecord struct {
	Incarnation string `json:"incarnation"`
	Legacy      bool   `json:"legacy,omitempty"`
	// Reason says why it was made: "created", "adopted", "cut", "snapshot".
	Reason    string `json:"reason"`
	CreatedMs int64  `json:"created_unix_ms"`
}

// openIncarnation reads dir's incarnation, making one if the file is
// missing (legacy when dir already holds anything). It runs before the
// engine opens dir, so that a new data dir has its incarnation before it
// has any data.
func openIncarnation(dir string) (*incarnation, error) {
	inc := &incarnation{path: filepath.Join(dir, IncarnationFile)}
	b, err := os.ReadFile(inc.path)
	switch {
	case err == nil:
		var rec incarnationRecord
		if err := json.Unmarshal(b, &rec); err != nil || !arbiter.ValidIncarnation(rec.Incarnation) {
			return nil, fmt.Errorf("node: %s is corrupt (%q): delete it to give the data dir a new incarnation (it then loses its sync set membership)", inc.path, b)
		}
		inc.id, inc.legacy = rec.Incarnation, rec.Legacy
		return inc, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("node: read incarnation: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("node: read data dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("node: create data dir: %w", err)
	}
	reason := "created"
	if len(entries) > 0 {
		reason = "adopted"
	}
	if err := inc.renew(reason, len(entries) > 0); err != nil {
		return nil, err
	}
	return inc, nil
}

// get returns the current incarnation and whether it is legacy.
func (i *incarnation) get() (string, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.id, i.legacy
}

// ID returns the current incarnation.
func (i *incarnation) ID() string {
	id, _ := i.get()
	return id
}

// renew makes a new incarnation and stores it durably before returning.
func (i *incarnation) renew(reason string, legacy bool) error {
	var b [arbiter.IncarnationLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("node: new incarnation: %w", err)
	}
	rec := incarnationRecord{Incarnation: hex.EncodeToString(b[:]), Legacy: legacy, Reason: reason, CreatedMs: time.Now().UnixMilli()}
	data, _ := json.Marshal(rec)
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := writeFileSync(i.path, append(data, '\n')); err != nil {
		return fmt.Errorf("node: store incarnation: %w", err)
	}
	i.id, i.legacy = rec.Incarnation, legacy
	return nil
}

// writeFileSync replaces path with data durably: temporary file, fsync,
// rename, fsync of the directory.
func writeFileSync(path string, data []byte) error {
	if err := fileutil.WriteFileAtomic(path, data); err != nil {
		return err
	}
	return fileutil.SyncDir(filepath.Dir(path))
}

// memberPeers presents the replication sender's standbys to the sync set
// under their sync set names, node@incarnation (PeerState.Member): a
// standby that reconnects with another incarnation (its data dir wiped,
// cut or rebuilt) is another member, which must join S anew. Peer and
// WaitDurable take these names (replication.Sender matches them).
type memberPeers struct{ *replication.Sender }

// Peers returns the connected standbys, NodeID set to the Member name.
func (m memberPeers) Peers() []replication.PeerState {
	ps := m.Sender.Peers()
	for i := range ps {
		ps[i].NodeID = ps[i].Member()
	}
	return ps
}

// syncPeers is what the sync set needs of the replication sender.
type syncPeers interface {
	Peers() []replication.PeerState
	Peer(id string) (replication.PeerState, bool)
	WaitDurable(ctx context.Context, id string, lsn uint64) error
}

// qualifySelf names this node in a sync set about to be written: the
// entry for its own node id gets its current incarnation (the standbys'
// entries already carry theirs, memberPeers).
func (n *Node) qualifySelf(nodes []string) []string {
	out := make([]string, len(nodes))
	for i, e := range nodes {
		if e == n.cfg.NodeID {
			e = arbiter.SyncMember(e, n.inc.ID())
		}
		out[i] = e
	}
	return out
}
