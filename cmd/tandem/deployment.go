package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/cdc"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/node"
)

// deploymentFlags adds the leading/alternative flags of `tandem node` and
// returns a function building the config once flags are parsed.
func deploymentFlags(f *pflag.FlagSet) func() node.DeploymentConfig {
	var name, altOf, leadGroup, leadName string
	var hb time.Duration
	f.StringVar(&name, "deployment", "", "deployment name (leading/alternative pairs; default: the group name). Setting it makes the node follow the deployment record /tandem/deployments/<name> in its arbiter")
	f.StringVar(&altOf, "alternative-of", "", "run as the read-only alternative of the leading deployment whose arbiter endpoints (comma-separated) are given: the active subscribes to its change stream")
	f.StringVar(&leadGroup, "leading-group", "", "with --alternative-of: the leading HA group (default: --group)")
	f.StringVar(&leadName, "leading-deployment", "", "with --alternative-of: the leading deployment's name (default: the leading group)")
	f.DurationVar(&hb, "cdc-heartbeat", 500*time.Millisecond, "change stream heartbeat interval (lag detection while nothing is written)")
	return func() node.DeploymentConfig {
		return node.DeploymentConfig{Name: name, AlternativeOf: splitAddrList(altOf), LeadingGroup: leadGroup, LeadingName: leadName, Heartbeat: hb}
	}
}

func quietDial(ctx context.Context, at *arbiterTLS, eps []string) (*arbiter.Client, error) {
	return at.dial(ctx, eps, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// findRecord returns the record named name, or the only one with role
// (when name is "").
func findRecord(ctx context.Context, cli *arbiter.Client, name, role string) (*cdc.DeploymentRecord, int64, error) {
	if name == "" {
		recs, err := cdc.ListRecords(ctx, cli)
		if err != nil {
			return nil, 0, err
		}
		for _, r := range recs {
			if role == "" || r.Role == role {
				if name != "" {
					return nil, 0, fmt.Errorf("several %s deployments in this arbiter; name one", role)
				}
				name = r.Name
			}
		}
		if name == "" {
			return nil, 0, fmt.Errorf("no %s deployment record in this arbiter", role)
		}
	}
	rec, rev, err := cdc.GetRecord(ctx, cli, name)
	if err == nil && rec == nil {
		err = fmt.Errorf("no deployment record %q", name)
	}
	return rec, rev, err
}

// awaitState polls name's published state until cond holds.
func awaitState(ctx context.Context, cli *arbiter.Client, name, what string, cond func(*cdc.DeploymentState) bool) (*cdc.DeploymentState, error) {
	var last *cdc.DeploymentState
	for {
		st, err := cdc.GetState(ctx, cli, name)
		if err == nil && st != nil {
			last = st
			if cond(st) {
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			b, _ := json.Marshal(last)
			return nil, fmt.Errorf("deployment %s: waiting for %s: %w (last state %s)", name, what, ctx.Err(), b)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func newDeploymentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deployment",
		Short: "Leading/alternative deployments: status, switchover, failover, rejoin",
	}
	// One set of --arbiter-tls-* flags for every arbiter the subcommands
	// dial (leading and alternative arbiters share the CA).
	at := arbiterTLSFlags(cmd.PersistentFlags())
	cmd.AddCommand(newDeploymentStatusCmd(at), newDeploymentSwitchoverCmd(at), newDeploymentFailoverCmd(at), newDeploymentRejoinCmd(at))
	return cmd
}

func newDeploymentStatusCmd(at *arbiterTLS) *cobra.Command {
	var eps, name string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the deployment records and the state their actives publish (role, positions, subscription lag), as JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			cli, err := quietDial(ctx, at, splitAddrList(eps))
			if err != nil {
				return err
			}
			defer cli.Close()
			recs, err := cdc.ListRecords(ctx, cli)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			for _, r := range recs {
				if name != "" && r.Name != name {
					continue
				}
				st, _ := cdc.GetState(ctx, cli, r.Name)
				enc.Encode(struct {
					Record cdc.DeploymentRecord `json:"record"`
					State  *cdc.DeploymentState `json:"state"`
				}{r, st})
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&eps, "arbiter", "127.0.0.1:2379", "the deployment's arbiter endpoints")
	cmd.Flags().StringVar(&name, "name", "", "only this deployment")
	return cmd
}

// SwitchoverReport is what `tandem deployment switchover` prints.
type SwitchoverReport struct {
	OldLeading string `json:"old_leading"`
	NewLeading string `json:"new_leading"`
	// Final is the old leading deployment's last position (every write it
	// acknowledged is at or before it); Resume the new leading
	// deployment's position the old one resumes after.
	Final   cdc.Position `json:"final"`
	Resume  cdc.Position `json:"resume"`
	PauseMs float64      `json:"pause_ms"`
}

func newDeploymentSwitchoverCmd(at *arbiterTLS) *cobra.Command {
	var leadEps, altEps, leadName, altName string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "switchover",
		Short: "Planned role swap without loss: the leading deployment stops writes, the alternative catches up to its final position, roles swap, the old leading one subscribes back",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			rep, err := runDeploymentSwitchover(ctx, at, splitAddrList(leadEps), splitAddrList(altEps), leadName, altName)
			if err != nil {
				return err
			}
			b, _ := json.Marshal(rep)
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&leadEps, "leading-arbiter", "", "the leading deployment's arbiter endpoints")
	f.StringVar(&altEps, "alternative-arbiter", "", "the alternative deployment's arbiter endpoints")
	f.StringVar(&leadName, "leading", "", "the leading deployment's name (default: the only leading record)")
	f.StringVar(&altName, "alternative", "", "the alternative deployment's name (default: the only alternative record)")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "give up after this long (the old leading deployment is reopened for writes if the alternative did not take over)")
	cmd.MarkFlagRequired("leading-arbiter")
	cmd.MarkFlagRequired("alternative-arbiter")
	return cmd
}

func runDeploymentSwitchover(ctx context.Context, at *arbiterTLS, leadEps, altEps []string, leadName, altName string) (*SwitchoverReport, error) {
	lc, err := quietDial(ctx, at, leadEps)
	if err != nil {
		return nil, err
	}
	defer lc.Close()
	ac, err := quietDial(ctx, at, altEps)
	if err != nil {
		return nil, err
	}
	defer ac.Close()
	lrec, lrev, err := findRecord(ctx, lc, leadName, cdc.RoleLeading)
	if err != nil {
		return nil, err
	}
	arec, arev, err := findRecord(ctx, ac, altName, cdc.RoleAlternative)
	if err != nil {
		return nil, err
	}
	switch {
	case lrec.Role != cdc.RoleLeading:
		return nil, fmt.Errorf("deployment %s is %s, not leading", lrec.Name, lrec.Role)
	case arec.Role != cdc.RoleAlternative:
		return nil, fmt.Errorf("deployment %s is %s, not alternative", arec.Name, arec.Role)
	case arec.Peer == nil || arec.Peer.Name != lrec.Name:
		return nil, fmt.Errorf("deployment %s is not the alternative of %s", arec.Name, lrec.Name)
	}
	start := time.Now()
	// 1. The leading deployment stops client writes and publishes its final position.
	demote := *lrec
	demote.Role, demote.Generation = cdc.RoleDemoting, lrec.Generation+1
	if err := cdc.PutRecord(ctx, lc, &demote, lrev); err != nil {
		return nil, err
	}
	reopen := func(cause error) error {
		_, rev, _ := cdc.GetRecord(context.Background(), lc, lrec.Name)
		back := *lrec
		back.Generation = demote.Generation + 1
		if err := cdc.PutRecord(context.Background(), lc, &back, rev); err != nil {
			return fmt.Errorf("%w; reopening %s for writes failed too: %v", cause, lrec.Name, err)
		}
		return fmt.Errorf("%w (deployment %s is leading again)", cause, lrec.Name)
	}
	lst, err := awaitState(ctx, lc, lrec.Name, "the final position", func(s *cdc.DeploymentState) bool {
		return s.Generation == demote.Generation && s.Final != nil
	})
	if err != nil {
		return nil, reopen(err)
	}
	final := *lst.Final
	// 2. The alternative catches up to it.
	if _, err := awaitState(ctx, ac, arec.Name, fmt.Sprintf("upstream position %v", final), func(s *cdc.DeploymentState) bool {
		return s.Upstream.Source == lrec.Name && s.Upstream.LSN >= final.LSN
	}); err != nil {
		return nil, reopen(err)
	}
	// 3. The alternative becomes the leading deployment.
	promote := *arec
	promote.Role, promote.Generation = cdc.RoleLeading, arec.Generation+1
	promote.Peer = &cdc.PeerDeployment{Name: lrec.Name, Arbiter: leadEps, Group: lrec.Group}
	promote.Resume, promote.Rejoin, promote.Failover = nil, nil, nil
	if err := cdc.PutRecord(ctx, ac, &promote, arev); err != nil {
		return nil, reopen(err)
	}
	ast, err := awaitState(ctx, ac, arec.Name, "the leading role", func(s *cdc.DeploymentState) bool {
		return s.Generation == promote.Generation && s.Role == cdc.RoleLeading && s.Final != nil
	})
	if err != nil {
		return nil, err
	}
	pause := time.Since(start)
	if ast.Upstream.LSN != final.LSN {
		return nil, fmt.Errorf("deployment %s took over at upstream position %+v, not the final %v", arec.Name, ast.Upstream, final)
	}
	// 4. The old leading deployment subscribes back.
	_, lrev, err = cdc.GetRecord(ctx, lc, lrec.Name)
	if err != nil {
		return nil, err
	}
	alt := demote
	alt.Role, alt.Generation = cdc.RoleAlternative, demote.Generation+1
	alt.Peer = &cdc.PeerDeployment{Name: arec.Name, Arbiter: altEps, Group: arec.Group}
	alt.Resume = &engine.UpstreamPos{Source: arec.Name, Epoch: ast.Final.Epoch, LSN: ast.Final.LSN}
	alt.Rejoin, alt.Failover = nil, nil
	if err := cdc.PutRecord(ctx, lc, &alt, lrev); err != nil {
		return nil, err
	}
	return &SwitchoverReport{OldLeading: lrec.Name, NewLeading: arec.Name, Final: final, Resume: *ast.Final,
		PauseMs: float64(pause.Microseconds()) / 1000}, nil
}

// FailoverReport is what `tandem deployment failover` prints.
type FailoverReport struct {
	OldLeading string `json:"old_leading"`
	NewLeading string `json:"new_leading"`
	// LastReplicated is the old leading deployment's last position the
	// new one applied: everything the old one committed after it is lost
	// (the loss window).
	LastReplicated engine.UpstreamPos `json:"last_replicated"`
	// OldLeadingTold: the old leading deployment's record now says
	// alternative + rejoin (its arbiter answered); otherwise run
	// `tandem deployment rejoin` once it is back.
	OldLeadingTold bool   `json:"old_leading_told"`
	Note           string `json:"note,omitempty"`
}

func newDeploymentFailoverCmd(at *arbiterTLS) *cobra.Command {
	var leadEps, altEps, altName string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Unplanned: promote the alternative deployment at once and print the loss window (the last replicated position of the old leading one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			rep, err := runDeploymentFailover(ctx, at, splitAddrList(leadEps), splitAddrList(altEps), altName)
			if err != nil {
				return err
			}
			b, _ := json.Marshal(rep)
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&leadEps, "leading-arbiter", "", "the old leading deployment's arbiter endpoints (default: as recorded); told to rejoin as alternative if it answers")
	f.StringVar(&altEps, "alternative-arbiter", "", "the alternative deployment's arbiter endpoints")
	f.StringVar(&altName, "alternative", "", "the alternative deployment's name (default: the only alternative record)")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	cmd.MarkFlagRequired("alternative-arbiter")
	return cmd
}

func runDeploymentFailover(ctx context.Context, at *arbiterTLS, leadEps, altEps []string, altName string) (*FailoverReport, error) {
	ac, err := quietDial(ctx, at, altEps)
	if err != nil {
		return nil, err
	}
	defer ac.Close()
	arec, arev, err := findRecord(ctx, ac, altName, cdc.RoleAlternative)
	if err != nil {
		return nil, err
	}
	if arec.Role != cdc.RoleAlternative || arec.Peer == nil {
		return nil, fmt.Errorf("deployment %s is %s, not an alternative", arec.Name, arec.Role)
	}
	old := *arec.Peer
	if len(leadEps) == 0 {
		leadEps = old.Arbiter
	}
	promote := *arec
	promote.Role, promote.Generation = cdc.RoleLeading, arec.Generation+1
	promote.Resume, promote.Rejoin = nil, nil
	if err := cdc.PutRecord(ctx, ac, &promote, arev); err != nil {
		return nil, err
	}
	ast, err := awaitState(ctx, ac, arec.Name, "the leading role", func(s *cdc.DeploymentState) bool {
		return s.Generation == promote.Generation && s.Role == cdc.RoleLeading && s.Final != nil
	})
	if err != nil {
		return nil, err
	}
	rep := &FailoverReport{OldLeading: old.Name, NewLeading: arec.Name, LastReplicated: ast.Upstream}
	// Record the loss window on the new leading record (for a later rejoin).
	if _, rev, err := cdc.GetRecord(ctx, ac, arec.Name); err == nil {
		up := ast.Upstream
		promote.Failover = &up
		_ = cdc.PutRecord(ctx, ac, &promote, rev)
	}
	if err := tellRejoin(ctx, at, leadEps, old.Name, arec.Name, altEps, arec.Group, ast.Upstream.LSN, promote.Generation); err != nil {
		rep.Note = fmt.Sprintf("the old leading deployment's arbiter did not take the rejoin instruction (%v): before restarting its nodes run `tandem deployment rejoin --arbiter %v --new-leading-arbiter %v`; until then its nodes still act as leading",
			err, leadEps, altEps)
	} else {
		rep.OldLeadingTold = true
	}
	return rep, nil
}

// tellRejoin writes the old leading record: alternative of newName,
// rejoin after lsn.
func tellRejoin(ctx context.Context, at *arbiterTLS, oldEps []string, oldName, newName string, newEps []string, newGroup string, after uint64, gen int64) error {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	lc, err := quietDial(cctx, at, oldEps)
	if err != nil {
		return err
	}
	defer lc.Close()
	lrec, lrev, err := cdc.GetRecord(cctx, lc, oldName)
	if err != nil {
		return err
	}
	if lrec == nil {
		return fmt.Errorf("no record %s", oldName)
	}
	nr := *lrec
	nr.Role, nr.Generation = cdc.RoleAlternative, lrec.Generation+1
	nr.Peer = &cdc.PeerDeployment{Name: newName, Arbiter: newEps, Group: newGroup}
	nr.Rejoin, nr.Resume = &cdc.Rejoin{After: after, Generation: gen}, nil
	return cdc.PutRecord(cctx, lc, &nr, lrev)
}

func newDeploymentRejoinCmd(at *arbiterTLS) *cobra.Command {
	var eps, newEps string
	cmd := &cobra.Command{
		Use:   "rejoin",
		Short: "After a failover whose old leading deployment was unreachable: make it the alternative of the new leading one (it exports what it had past the loss window to diverged/)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			nc, err := quietDial(ctx, at, splitAddrList(newEps))
			if err != nil {
				return err
			}
			defer nc.Close()
			recs, err := cdc.ListRecords(ctx, nc)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if r.Role == cdc.RoleLeading && r.Failover != nil && r.Peer != nil {
					return tellRejoin(ctx, at, splitAddrList(eps), r.Peer.Name, r.Name, splitAddrList(newEps), r.Group, r.Failover.LSN, r.Generation)
				}
			}
			return errors.New("no leading deployment promoted by a failover in that arbiter")
		},
	}
	cmd.Flags().StringVar(&eps, "arbiter", "", "the old leading deployment's arbiter endpoints")
	cmd.Flags().StringVar(&newEps, "new-leading-arbiter", "", "the new leading deployment's arbiter endpoints")
	return cmd
}
