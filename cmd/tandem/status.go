package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/coord"
)

func newStatusCmd() *cobra.Command {
	var (
		endpoints, group, cluster string
		asJSON                    bool
		timeout                   time.Duration
		at                        *arbiterTLS
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show HA groups: leader, epoch, members with role, positions and lag",
		Long: `Show the HA groups recorded in the arbiter: the leader, the last epoch,
the sync set, and every live member with its role, epoch, durable and
applied LSN, lag (the leader's durable LSN minus the member's) and the age
of its last status report, and its data dir's incarnation. "*" marks the
leader, "s" a sync-set member (the sync set names members
node@incarnation: a wiped, cut or snapshot-rebuilt data dir is a new
incarnation and not a member). The group line ends with the group's
acknowledgement mode once its first active recorded it.

With --json, each group is printed as one JSON object on one line (JSON
Lines): with --group exactly one object, without it one per group, sorted
by name. Fields: group, leader (node id, "" if none), leader_addr, epoch,
mode (sync, async; "" until recorded), members (node_id, incarnation, role, leader, in_sync, epoch, durable_lsn, applied_lsn,
lag (null when the leader's status is unknown), addr, peer_addr, http_addr,
age_ms, state_digest and state_digest_lsn: a hash of the member's applied
state at that LSN, equal on members whose states agree), sync_nodes (null if never written), sync_epoch, revision.

With --cluster C, shows the cluster's coordinators (tandem coord) and, for
each role (root, data, query, index), its active, its fencing revision and
its standbys in takeover order, and the allocator's high-water marks; with
--json one object: cluster, coordinators (id, addr, roles,
started_unix_ms), roles (role, active, fence_rev, standbys),
id_high_water, ts_high_water_unix_ms, revision.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if cluster != "" {
				if group != "" {
					return fmt.Errorf("--cluster and --group are exclusive")
				}
				return runClusterStatus(ctx, cmd.OutOrStdout(), at, splitAddrList(endpoints), cluster, asJSON)
			}
			return runStatus(ctx, cmd.OutOrStdout(), at, splitAddrList(endpoints), group, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoints, "arbiter", "127.0.0.1:2379", "arbiter (etcd) client endpoints, comma-separated")
	f.StringVar(&group, "group", "", "show only this group (default: all groups)")
	f.StringVar(&cluster, "cluster", "", "show this cluster's coordinators and their roles instead of groups")
	f.BoolVar(&asJSON, "json", false, "print JSON, one object per group per line")
	f.DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	at = arbiterTLSFlags(f)
	return cmd
}

func runStatus(ctx context.Context, w io.Writer, at *arbiterTLS, endpoints []string, group string, asJSON bool) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := at.dial(ctx, endpoints, quiet)
	if err != nil {
		return err
	}
	defer c.Close()
	all, err := c.Groups(ctx)
	if err != nil {
		return quorumHint(err)
	}
	groups := all
	if group != "" {
		if !slices.Contains(all, group) {
			known := "none"
			if len(all) > 0 {
				known = strings.Join(all, ", ")
			}
			return fmt.Errorf("no group %q in the arbiter at %s (groups: %s)", group, strings.Join(endpoints, ","), known)
		}
		groups = []string{group}
	}
	now := time.Now()
	reports := make([]arbiter.StatusReport, 0, len(groups))
	for _, g := range groups {
		st, err := c.Group(g).Status(ctx)
		if err != nil {
			return quorumHint(err)
		}
		reports = append(reports, st.Report(now))
	}
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range reports {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(reports) == 0 {
		_, err := fmt.Fprintln(w, "no groups in the arbiter")
		return err
	}
	return arbiter.WriteTable(w, reports)
}

// quorumHint explains a read that timed out after Dial succeeded: some
// member answered, but reads need a quorum.
func quorumHint(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (an arbiter member answers but no quorum does: are most arbiter members up?)", err)
	}
	return err
}

func runClusterStatus(ctx context.Context, w io.Writer, at *arbiterTLS, endpoints []string, cluster string, asJSON bool) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := at.dial(ctx, endpoints, quiet)
	if err != nil {
		return err
	}
	defer c.Close()
	rep, err := coord.ReadStatus(ctx, c.Etcd(), cluster)
	if err != nil {
		return quorumHint(err)
	}
	if asJSON {
		return json.NewEncoder(w).Encode(rep)
	}
	fmt.Fprintf(w, "cluster %s  (revision %d, ids reserved up to %d)\n", rep.Cluster, rep.Revision, rep.IDHighWater)
	fmt.Fprintf(w, "%-6s  %-20s  %-10s  %s\n", "ROLE", "ACTIVE", "FENCE_REV", "STANDBYS")
	for _, r := range rep.Roles {
		active := r.Active
		if active == "" {
			active = "(none)"
		}
		fmt.Fprintf(w, "%-6s  %-20s  %-10d  %s\n", r.Role, active, r.FenceRev, strings.Join(r.Standbys, ","))
	}
	fmt.Fprintf(w, "%-20s  %-22s  %s\n", "COORDINATOR", "HTTP", "ROLES")
	for _, m := range rep.Coordinators {
		fmt.Fprintf(w, "%-20s  %-22s  %s\n", m.ID, m.Addr, strings.Join(m.Roles, ","))
	}
	return nil
}
