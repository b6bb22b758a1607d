package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/coord"
	"github.com/tandem-db/tandem/internal/groupclient"
)

func newCoordCmd() *cobra.Command {
	d := coord.DefaultConfig()
	var (
		lf                                  *logFlags
		cluster, arbiters, id, roles, httpL string
		ttl                                 time.Duration
		endDead                             bool
		arbTLS                              *arbiterTLS
	)
	cmd := &cobra.Command{
		Use:   "coord",
		Short: "Run a cluster coordinator (root, data, query, index roles, each elected in the arbiter)",
		Long: `Run a coordinator of cluster --cluster. It campaigns in the arbiter (etcd
at --arbiter) for each role in --roles — root (catalog, DDL, ids and
timestamps), data, query, index — each an election of its own, so two or
three coordinators share or split the roles. The oldest live campaigner of
a role is its active; the others are its standbys, in order. When the
active's session (an etcd lease of --session-ttl) ends, the next standby
takes the role over; a standby that finds the active's side port refusing
connections (the process is gone) ends that session at once
(--end-dead-active-lease). Every etcd write a coordinator makes for a role is
conditioned on its election key (the fencing token), so one that was paused
past its lease changes nothing after it resumes.

The root's active keeps the cluster catalog in the arbiter: it records
each DDL (create/drop collection, index, load/release, partitions) as an
intent, applies it to every shard group that holds the collection, and
then marks it done, so a new root resumes a half-done DDL and a retried
request is answered once. Shard groups are HA groups whose nodes run with
--cluster; clients use "tandem proxy --cluster". Data and search never go
through a coordinator.

The process logs "tandem coord serving" once it campaigns, and
"coordinator role acquired" / "coordinator role dropped" on each change.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := lf.logger()
			if err != nil {
				return err
			}
			cfg := coord.DefaultConfig()
			cfg.Cluster, cfg.ID, cfg.Roles, cfg.SessionTTL = cluster, id, coord.ParseRoles(roles), ttl
			cfg.EndDeadActiveLease = endDead
			if cfg.ID == "" {
				host, _ := os.Hostname()
				cfg.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cli, err := arbTLS.dial(dctx, splitAddrList(arbiters), logger)
			cancel()
			if err != nil {
				return err
			}
			defer cli.Close()
			var ln net.Listener
			if httpL != "off" {
				if ln, err = net.Listen("tcp", httpL); err != nil {
					return fmt.Errorf("--http-listen %s: %w", httpL, err)
				}
				cfg.Addr = ln.Addr().String()
			}
			c, err := coord.New(cli.Etcd(), cfg, logger)
			if err != nil {
				return err
			}
			dial, err := arbTLS.options(logger)
			if err != nil {
				return err
			}
			pool := groupclient.NewPool(splitAddrList(arbiters), dial, 10*time.Second, logger)
			defer pool.Close()
			c.SetGroupCaller(coord.PoolCaller{Pool: pool})
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			var srv *http.Server
			if ln != nil {
				srv = &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 10 * time.Second}
				go srv.Serve(ln)
				defer srv.Close()
			}
			logger.Info("tandem coord serving", "cluster", cfg.Cluster, "id", cfg.ID, "roles", strings.Join(cfg.Roles, ","), "http", cfg.Addr)
			err = c.Run(ctx)
			if errors.Is(err, context.Canceled) {
				logger.Info("shutting down")
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cluster, "cluster", "", "cluster name (required)")
	f.StringVar(&arbiters, "arbiter", "127.0.0.1:2379", "comma-separated etcd endpoints of the arbiter")
	f.StringVar(&id, "id", "", "coordinator id, unique among the cluster's live coordinators (default: HOSTNAME-PID)")
	f.StringVar(&roles, "roles", strings.Join(d.Roles, ","), "roles to campaign for, comma-separated: root, data, query, index")
	f.DurationVar(&ttl, "session-ttl", d.SessionTTL, "etcd lease of the coordinator's session (whole seconds): a dead active's roles are taken over after about this long")
	f.BoolVar(&endDead, "end-dead-active-lease", d.EndDeadActiveLease, "while waiting as a standby, end a role active's session when its side port refuses connections (its process is gone), so the role moves at once instead of after --session-ttl")
	f.StringVar(&httpL, "http-listen", "127.0.0.1:9095", "HTTP address for /healthz, /metrics, /status and the allocation endpoints (\"off\" disables)")
	lf = addLogFlags(f)
	arbTLS = arbiterTLSFlags(f)
	return cmd
}
