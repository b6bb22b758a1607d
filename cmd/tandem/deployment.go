package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/cdc"
	"github.com/tandem-db/tandem/internal/deployctl"
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

// ctlOptions is the orchestration's options (package deployctl): arbiters
// dialed with the --arbiter-tls-* flags, their logs discarded.
func ctlOptions(at *arbiterTLS) deployctl.Options {
	return deployctl.Options{Dial: func(ctx context.Context, eps []string) (*arbiter.Client, error) { return quietDial(ctx, at, eps) }}
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
			rep, err := deployctl.Switchover(ctx, ctlOptions(at), splitAddrList(leadEps), splitAddrList(altEps), leadName, altName)
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

func newDeploymentFailoverCmd(at *arbiterTLS) *cobra.Command {
	var leadEps, altEps, altName string
	var timeout, fenceTimeout time.Duration
	var noFence bool
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Unplanned: fence the old leading deployment, promote the alternative at once and print the loss window (the last replicated position of the old leading one)",
		Long: `Unplanned failover. First the old leading deployment is fenced: its record
becomes demoting, and the command waits until its active confirms that it
acknowledges no more writes or, when no active answers, until the record's
fence bound (3s by default) has passed: a node that cannot confirm its
leading record for that long stops acknowledging writes. Then the
alternative is promoted at once and the old leading record is told to
rejoin as the alternative (its nodes export what they had after the loss
window to DATA_DIR/diverged/).

If the old leading deployment's arbiter cannot be reached, the failover is
refused and nothing changes. --no-fence promotes anyway: the old side's
nodes may then keep acknowledging client writes (a split brain) until its
record is changed with 'tandem deployment rejoin'; every write it
acknowledges after the printed loss window (last_replicated) is lost to
the new leading deployment.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			o := ctlOptions(at)
			o.NoFence, o.FenceTimeout = noFence, fenceTimeout
			rep, err := deployctl.Failover(ctx, o, splitAddrList(leadEps), splitAddrList(altEps), altName)
			if err != nil {
				return err
			}
			if rep.Risk != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "WARNING: %s. Loss window: everything %s committed after %+v.\n", rep.Risk, rep.OldLeading, rep.LastReplicated)
			}
			b, _ := json.Marshal(rep)
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&leadEps, "leading-arbiter", "", "the old leading deployment's arbiter endpoints (default: as recorded); fenced first, then told to rejoin as the alternative")
	f.StringVar(&altEps, "alternative-arbiter", "", "the alternative deployment's arbiter endpoints")
	f.StringVar(&altName, "alternative", "", "the alternative deployment's name (default: the only alternative record)")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	f.DurationVar(&fenceTimeout, "fence-timeout", 5*time.Second, "how long to try reaching the old leading deployment's arbiter to fence it")
	f.BoolVar(&noFence, "no-fence", false, "DANGEROUS: promote even if the old leading deployment cannot be fenced (its arbiter unreachable): its nodes may keep acknowledging writes that are lost (split brain) until 'tandem deployment rejoin'")
	cmd.MarkFlagRequired("alternative-arbiter")
	return cmd
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
			return deployctl.Rejoin(ctx, ctlOptions(at), splitAddrList(eps), splitAddrList(newEps))
		},
	}
	cmd.Flags().StringVar(&eps, "arbiter", "", "the old leading deployment's arbiter endpoints")
	cmd.Flags().StringVar(&newEps, "new-leading-arbiter", "", "the new leading deployment's arbiter endpoints")
	return cmd
}
