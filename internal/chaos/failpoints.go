package chaos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tandem-db/tandem/internal/localgroup"
)

// The failpoints the nemesis arms in the nodes (the harness builds tandem
// with -tags failpoints; see internal/failpoint). They are named here, in
// one place; each is documented where it is evaluated.
const (
	// FPTxnAmbiguous (internal/arbiter): after a group write the etcd
	// server answered (PutMember, Campaign, Resign, PutSyncSet, Handover),
	// return an error as if the response had been lost.
	FPTxnAmbiguous = "arbiter/txn-ambiguous"
	// FPWALFsync (internal/wal, syncOnce): fail the WAL's fsync; the log
	// fails stickily.
	FPWALFsync = "wal/fsync"
	// FPWALSyncedMark (internal/wal): while armed, the WAL records its
	// synced LSN in <wal dir>/SYNCED; armed at every node's start through
	// TANDEM_FAILPOINTS so that the power-loss fault knows what a power
	// cut may lose.
	FPWALSyncedMark = "wal/synced-mark"
	// FPClockJump (internal/node, being added on branch h2 with the
	// BOOTTIME-based fencing clock): make the node's clock jump as a VM
	// resumed from suspend sees it. Arming a point the binary does not
	// evaluate is harmless: the fault is then a plain SIGSTOP.
	FPClockJump = "node/clock-jump"
)

// Specs the nemesis arms them with.
const (
	// specTxnAmbiguousActive: the active's next three group writes.
	specTxnAmbiguousActive = "3*error(response lost)"
	// specTxnAmbiguousCampaign: each standby's next two group writes
	// (its campaign, then its first writes as the active).
	specTxnAmbiguousCampaign = "2*error(response lost)"
	// specFsync: every fsync fails until the process is replaced.
	specFsync = "error(EIO)"
	// specSyncedMark: "armed" is all the point means.
	specSyncedMark = "error"
)

// specClockJump is the spec that makes node/clock-jump jump by d. The
// point's spec is the h2 branch's to define; this one says "once, by d"
// in the failpoint package's syntax and is the single place to change.
func specClockJump(d time.Duration) string { return fmt.Sprintf("1*error(%s)", d) }

var fpClient = &http.Client{Timeout: 2 * time.Second}

// listFailpoints returns node n's armed points (GET /debug/failpoints/),
// one "name=action(arg) left=N hits=M" line each.
func listFailpoints(ctx context.Context, n *localgroup.Node) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.HTTPAddr+"/debug/failpoints/", nil)
	if err != nil {
		return "", err
	}
	resp, err := fpClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("chaos: list failpoints of %s: %w", n.ID, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return string(b), err
}

// armFailpoint arms point name with spec in node n over its side port
// (PUT /debug/failpoints/<name>); spec "" disarms it (DELETE).
func armFailpoint(ctx context.Context, n *localgroup.Node, name, spec string) error {
	method, body := http.MethodPut, io.Reader(strings.NewReader(spec))
	if spec == "" {
		method, body = http.MethodDelete, nil
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+n.HTTPAddr+"/debug/failpoints/"+name, body)
	if err != nil {
		return fmt.Errorf("chaos: failpoint %s on %s: %w", name, n.ID, err)
	}
	resp, err := fpClient.Do(req)
	if err != nil {
		return fmt.Errorf("chaos: failpoint %s on %s: %w", name, n.ID, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("chaos: failpoint %s=%q on %s: %s: %s", name, spec, n.ID, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
