package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/arbiter"
)

func newSetModeCmd() *cobra.Command {
	var (
		endpoints, group, mode string
		timeout                time.Duration
		at                     *arbiterTLS
	)
	cmd := &cobra.Command{
		Use:   "set-mode --group G --mode sync|async",
		Short: "Change a stopped HA group's acknowledgement mode (sync or async)",
		Long: `Record MODE as group G's acknowledgement mode in the arbiter. Nodes refuse
to start with a --sync-mode other than the group's (the first active
records it), so this is how a group changes mode:

  1. stop every node of the group (set-mode refuses while any is live);
  2. tandem set-mode --group G --mode MODE;
  3. start the nodes with --sync-mode MODE.

To async: the sync set is deleted too (an async active does not keep it;
a stale one would restrict every later election). To sync: the first
election after the restart is by position (no write was acknowledged
synchronously yet), then the active writes the sync set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if group == "" {
				return fmt.Errorf("set-mode: --group is required")
			}
			if mode != arbiter.ModeSync && mode != arbiter.ModeAsync {
				return fmt.Errorf("set-mode: --mode = %q: must be sync or async", mode)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			c, err := at.dial(ctx, splitAddrList(endpoints), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				return err
			}
			defer c.Close()
			g := c.Group(group)
			old, err := g.Mode(ctx)
			if err != nil {
				return quorumHint(err)
			}
			if err := g.SetMode(ctx, mode); err != nil {
				return fmt.Errorf("set-mode: %w", err)
			}
			was := "none recorded"
			if old != nil {
				was = old.Mode
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "group %s: mode %s (was %s); start its nodes with --sync-mode %s\n", group, mode, was, mode)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoints, "arbiter", "127.0.0.1:2379", "arbiter (etcd) client endpoints, comma-separated")
	f.StringVar(&group, "group", "", "the HA group (required)")
	f.StringVar(&mode, "mode", "", "the new mode: sync or async (required)")
	f.DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	at = arbiterTLSFlags(f)
	return cmd
}
