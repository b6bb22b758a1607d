package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/node"
	"github.com/tandem-db/tandem/internal/security"
)

func newSwitchoverCmd() *cobra.Command {
	var (
		endpoints, group, to string
		timeout              time.Duration
		asJSON               bool
		at                   *arbiterTLS
		secretFile           string
	)
	cmd := &cobra.Command{
		Use:   "switchover",
		Short: "Planned role change: hand the active role to a standby with no loss",
		Long: `Hand the active role of --group to a standby (--to, or the best placed
one: in sync mode a member of the sync set, highest durable LSN first).
The active stops acknowledging writes, waits until the target has every
record durable, and rewrites the leader key to the target in one arbiter
transaction; the target takes over at the next epoch without an election.
Nothing acknowledged is lost; writes pause for about the time the target
needs to catch up plus one arbiter round trip. If it fails before the
hand-over, the active reopens writes and nothing changes. If the arbiter's
answer to the hand-over is lost, the active reads the leader key first: it
reopens writes only if it still holds it, and keeps them closed while the
arbiter cannot say.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			secret := ""
			if secretFile != "" {
				var err error
				if secret, err = security.ReadSecretFile(secretFile); err != nil {
					return fmt.Errorf("--cluster-secret-file: %w", err)
				}
			}
			return runSwitchover(ctx, cmd.OutOrStdout(), at, splitAddrList(endpoints), group, to, secret, timeout, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoints, "arbiter", "127.0.0.1:2379", "arbiter (etcd) client endpoints, comma-separated")
	f.StringVar(&group, "group", "default", "HA group")
	f.StringVar(&to, "to", "", "node id of the new active (default: the best placed standby)")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "give up after this long (writes reopen on the active if the hand-over did not happen)")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	f.StringVar(&secretFile, "cluster-secret-file", "", "the group's cluster secret (required when the nodes run with --cluster-secret-file)")
	at = arbiterTLSFlags(f)
	return cmd
}

// groupLeader reads the group and returns its leader's member status.
func groupLeader(ctx context.Context, c *arbiter.Client, group string) (*arbiter.GroupStatus, *arbiter.MemberStatus, error) {
	st, err := c.Group(group).Status(ctx)
	if err != nil {
		return nil, nil, quorumHint(err)
	}
	if st.Leader == nil {
		return st, nil, nil
	}
	for i := range st.Members {
		if st.Members[i].NodeID == st.Leader.NodeID {
			return st, &st.Members[i], nil
		}
	}
	return st, nil, nil
}

func runSwitchover(ctx context.Context, w io.Writer, at *arbiterTLS, endpoints []string, group, to, secret string, timeout time.Duration, asJSON bool) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := at.dial(ctx, endpoints, quiet)
	if err != nil {
		return err
	}
	defer c.Close()
	st, leader, err := groupLeader(ctx, c, group)
	if err != nil {
		return err
	}
	if st.Leader == nil {
		return fmt.Errorf("switchover: group %s has no active (an election may be running; see tandem status)", group)
	}
	if leader == nil || leader.HTTPAddr == "" {
		return fmt.Errorf("switchover: the active %s of group %s publishes no HTTP address (started with --http-listen off?)", st.Leader.NodeID, group)
	}
	if to == st.Leader.NodeID {
		return fmt.Errorf("switchover: %s is already the active of group %s", to, group)
	}
	t0 := time.Now()
	q := url.Values{"timeout": {timeout.String()}}
	if to != "" {
		q.Set("to", to)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+leader.HTTPAddr+"/v1/switchover?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if secret != "" {
		req.Header.Set(security.SecretHeader, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("switchover: ask the active %s at %s: %w", st.Leader.NodeID, leader.HTTPAddr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("switchover refused by %s: %s", st.Leader.NodeID, e.Error)
		}
		return fmt.Errorf("switchover refused by %s: %s: %s", st.Leader.NodeID, resp.Status, body)
	}
	var res node.SwitchoverResult
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("switchover: answer %q: %w", body, err)
	}
	// Await the new active in the arbiter (it publishes role active once it
	// took the lead).
	var took time.Duration
	for {
		st, nl, err := groupLeader(ctx, c, group)
		if err == nil && st.Leader != nil && st.Leader.NodeID == res.To && nl != nil && nl.Role == "active" {
			took = time.Since(t0)
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("switchover: the leader key was handed to %s at epoch %d, but it has not reported active yet: %w", res.To, res.Epoch, ctx.Err())
		case <-time.After(20 * time.Millisecond): // polling the arbiter
		}
	}
	if asJSON {
		return json.NewEncoder(w).Encode(struct {
			node.SwitchoverResult
			TotalMs float64 `json:"total_ms"`
		}{res, float64(took.Microseconds()) / 1000})
	}
	_, err = fmt.Fprintf(w, "switched over group %s: %s (epoch %d) -> %s (epoch %d) at lsn %d; writes paused on %s for %.1f ms; new active reported after %v\n",
		group, res.From, res.FromEpoch, res.To, res.Epoch, res.LSN, res.From, res.PausedMs, took.Round(time.Millisecond))
	return err
}

func newPromoteCmd() *cobra.Command {
	var (
		endpoints, group   string
		force, evenIfAlive bool
		timeout            time.Duration
		at                 *arbiterTLS
	)
	cmd := &cobra.Command{
		Use:   "promote --force NODE",
		Short: "Operator override: let NODE become the active when no sync-set member is alive",
		Long: `Operator override for a group that cannot elect an active because no
member of the sync set is alive (in sync mode only sync-set members may be
promoted: they hold every acknowledged write). It writes the sync set
{NODE} so NODE can win the next election, then waits for it to become the
active. Writes acknowledged by the lost members after NODE's position may
be LOST: the command prints what it knows of that window. Refused while the
group has an active (use tandem switchover). --force is required.

Also refused while any member of the sync set still has a live member key:
during a normal election gap (the active just died or resigned) such a
member is about to win with every acknowledged write, and forcing the set
would throw those writes away for nothing. The refusal names the live
members. ` + node.EvenIfSyncMembersAliveFlag + ` (with --force) overrides that
too; use it only when those members cannot become the active (for example
their data is known to be lost but their processes still run).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force {
				return fmt.Errorf("promote: --force is required: promoting a node outside the sync set may lose acknowledged writes")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			opts := node.PromoteOptions{EvenIfSyncMembersAlive: evenIfAlive}
			return runPromote(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), at, splitAddrList(endpoints), group, args[0], opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoints, "arbiter", "127.0.0.1:2379", "arbiter (etcd) client endpoints, comma-separated")
	f.StringVar(&group, "group", "default", "HA group")
	f.BoolVar(&force, "force", false, "confirm the override (required)")
	f.BoolVar(&evenIfAlive, strings.TrimPrefix(node.EvenIfSyncMembersAliveFlag, "--"), false,
		"with --force: promote even while members of the sync set are alive (they may be about to win the election with every acknowledged write; their writes are then lost)")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	at = arbiterTLSFlags(f)
	return cmd
}

func runPromote(ctx context.Context, w, warn io.Writer, at *arbiterTLS, endpoints []string, group, target string, opts node.PromoteOptions) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := at.dial(ctx, endpoints, quiet)
	if err != nil {
		return err
	}
	defer c.Close()
	g := c.Group(group)
	if _, err := node.ForcePromote(ctx, g, target, opts, warn); err != nil {
		return quorumHint(err)
	}
	epoch, err := node.AwaitPromoted(ctx, g, target, 50*time.Millisecond)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "promoted %s: active of group %s at epoch %d\n", target, group, epoch)
	return err
}
