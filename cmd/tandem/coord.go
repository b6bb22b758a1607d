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
)

func newCoordCmd() *cobra.Command {
	d := coord.DefaultConfig()
	var (
		lf                                  *logFlags
		cluster, arbiters, id, roles, httpL string
		ttl                                 time.Duration
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
takes the role over. Every etcd write a coordinator makes for a role is
conditioned on its election key (the fencing token), so one that was paused
past its lease changes nothing after it resumes.

Built so far: the role elections, fencing, the id and timestamp allocator
of the root role, /status, /metrics and the allocation endpoints on
--http-listen (see internal/coord). The cluster catalog, shard placement
and the cluster proxy are not built yet.

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
	f.StringVar(&httpL, "http-listen", "127.0.0.1:9095", "HTTP address for /healthz, /metrics, /status and the allocation endpoints (\"off\" disables)")
	lf = addLogFlags(f)
	arbTLS = arbiterTLSFlags(f)
	return cmd
}
