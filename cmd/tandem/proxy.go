package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/clusterproxy"
	"github.com/tandem-db/tandem/internal/proxy"
	"github.com/tandem-db/tandem/internal/security"
	"github.com/tandem-db/tandem/internal/server"
)

func newProxyCmd() *cobra.Command {
	d := proxy.DefaultConfig()
	var (
		lf                                  *logFlags
		group, arbiters, listen, httpListen string
		cluster                             string
		hold                                time.Duration
		rest                                bool
		cert, key, ca, clientAuth           string
		beCA, beCert, beKey                 string
		arbTLS                              *arbiterTLS
	)
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Run a stateless Milvus-protocol proxy that forwards to the active of an HA group",
		Long: `Run a stateless proxy for HA group --group: it follows the group's leader
key in the arbiter (etcd at --arbiter) and forwards every Milvus gRPC call
(and, with --rest, RESTful v2 requests) received on --listen to the current
active, so an unmodified Milvus SDK pointed at the proxy survives a
failover. Run as many proxies as you like.

While the group has no active, requests are held up to --hold (never past
the client's deadline) and then fail with gRPC Unavailable ("no active in
group G"; nothing was applied). The proxy retries on its own only what is
safe: reads, and Insert, Upsert and Delete (sent with a request id,
metadata "tandem-request-id", that the node deduplicates: a re-sent write
already applied returns the original result) after any failure; every
other write (DDL) only when it provably was not applied (no connection,
or the node's standby refusal). /healthz, /metrics and /status are served on
--http-listen.

TLS: --tls-cert/--tls-key serve TLS on --listen (gRPC and REST);
--backend-tls-ca (and, for nodes with --tls-client-auth require,
--backend-tls-cert/--backend-tls-key) reach TLS nodes; --arbiter-tls-*
reach a TLS arbiter. Client credentials (Milvus user/password, API key)
are forwarded to the node unchanged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := lf.logger()
			if err != nil {
				return err
			}
			if hold <= 0 {
				return fmt.Errorf("--hold = %v: must be > 0", hold)
			}
			if cluster != "" {
				if cmd.Flags().Changed("group") {
					return fmt.Errorf("--cluster and --group are exclusive: a cluster proxy reaches every shard group of the cluster")
				}
				return runClusterProxy(cluster, splitAddrList(arbiters), listen, httpListen, hold, arbTLS, logger)
			}
			cfg := proxy.DefaultConfig()
			cfg.Group, cfg.Arbiter = group, strings.Split(arbiters, ",")
			cfg.Listen, cfg.HTTPListen = listen, httpListen
			cfg.Hold, cfg.REST = hold, rest
			if cfg.Dial, err = arbTLS.options(logger); err != nil {
				return err
			}
			cfg.TLS = security.TLSFiles{Cert: cert, Key: key, CA: ca, ClientAuth: clientAuth}
			cfg.BackendTLS = security.TLSFiles{Cert: beCert, Key: beKey, CA: beCA}
			cfg.Version, cfg.Logger = server.Version, logger
			if err := cfg.Validate(); err != nil {
				return err
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(sig)
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			p, err := proxy.Start(sctx, cfg)
			cancel()
			if err != nil {
				return err
			}
			select {
			case s := <-sig:
				logger.Info("shutting down", "signal", s.String())
			case <-p.Done():
				logger.Error("proxy listener stopped unexpectedly")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return p.Close(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&group, "group", d.Group, "HA group to forward to")
	f.StringVar(&cluster, "cluster", "", "serve cluster C instead of one group: DDL through its root coordinator, writes routed to shard groups by primary key, searches and queries merged over them (gRPC only)")
	f.StringVar(&arbiters, "arbiter", strings.Join(d.Arbiter, ","), "comma-separated etcd endpoints of the arbiter")
	f.StringVar(&listen, "listen", d.Listen, "client address: Milvus gRPC (and RESTful v2 with --rest)")
	f.StringVar(&httpListen, "http-listen", d.HTTPListen, "HTTP address for /healthz, /metrics, /status (\"off\" disables)")
	f.DurationVar(&hold, "hold", d.Hold, "how long a request may wait for an active (from its arrival, never past the client's deadline) before it fails with Unavailable")
	f.BoolVar(&rest, "rest", d.REST, "also forward RESTful v2 (HTTP/1.x) requests on --listen to the active")
	lf = addLogFlags(f)
	f.StringVar(&cert, "tls-cert", "", "TLS certificate (PEM) of --listen; with --tls-key turns TLS on for clients (gRPC and REST)")
	f.StringVar(&key, "tls-key", "", "TLS private key (PEM) of --listen")
	f.StringVar(&ca, "tls-ca", "", "CA bundle (PEM) verifying client certificates on --listen (with --tls-client-auth require)")
	f.StringVar(&clientAuth, "tls-client-auth", "none", "client certificates on --listen: none or require (mTLS, signed by --tls-ca)")
	f.StringVar(&beCA, "backend-tls-ca", "", "CA bundle (PEM) verifying the nodes' client port certificates; setting any --backend-tls-* flag dials the nodes with TLS (default CA: the system roots)")
	f.StringVar(&beCert, "backend-tls-cert", "", "client certificate (PEM) presented to the nodes (for nodes with --tls-client-auth require)")
	f.StringVar(&beKey, "backend-tls-key", "", "private key (PEM) of --backend-tls-cert")
	arbTLS = arbiterTLSFlags(f)
	return cmd
}

// runClusterProxy serves `tandem proxy --cluster` until SIGINT/SIGTERM.
func runClusterProxy(cluster string, arbiters []string, listen, httpListen string, hold time.Duration, arbTLS *arbiterTLS, logger *slog.Logger) error {
	dial, err := arbTLS.options(logger)
	if err != nil {
		return err
	}
	cfg := clusterproxy.Config{Cluster: cluster, Arbiter: arbiters, Dial: dial, Listen: listen, HTTPListen: httpListen,
		Hold: hold, Version: server.Version, Logger: logger}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	p, err := clusterproxy.Start(sctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	s := <-sig
	logger.Info("shutting down", "signal", s.String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.Close(ctx)
}
