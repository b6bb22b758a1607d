package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/coord"
	"github.com/tandem-db/tandem/internal/ha"
	"github.com/tandem-db/tandem/internal/node"
	"github.com/tandem-db/tandem/internal/server"
)

func newNodeCmd() *cobra.Command {
	var (
		group, nodeID, listen, peerListen, httpListen string
		cluster                                       string
		advertise, advertisePeer, arbiters            string
		st                                            *storageFlags
		lf                                            *logFlags
		replicationMode, ackMode, syncPolicy          string
		minSyncStandbys                               int
		leaseTTL, degradeAfter, syncTimeout           time.Duration
		endDeadLease                                  bool
		depCfg                                        func() node.DeploymentConfig
		secCfg                                        func(*node.Config) error
		arbTLS                                        *arbiterTLS
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a member of an HA group (active or standby, as the arbiter decides)",
		Long: `Run a member of HA group --group. Every node starts as a standby; the
arbiter (etcd at --arbiter) elects one active, which accepts client
traffic on --listen; standbys refuse client requests with an error naming
the active. A graceful stop (SIGTERM, SIGINT) of the active resigns at
once, so another node takes over without waiting for the lease to expire.

A node whose storage engine fails for good (its WAL cannot write or fsync:
a full disk, an I/O error) resigns at once too: it reports role "broken"
with the cause (/status, tandem status, tandem_engine_broken), refuses
clients naming the cause, and never campaigns again until restarted. To
recover, fix the cause (free disk space) and restart it: it recovers its
WAL and rejoins as a standby. --min-free-disk keeps a nearly full disk
from getting that far: new writes are refused, with a clear error, first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := lf.logger()
			if err != nil {
				return err
			}
			ecfg, err := st.engineConfig(logger)
			if err != nil {
				return err
			}
			if ackMode == node.SyncSync && minSyncStandbys < 1 {
				// Sync mode with no standby required is async mode: refuse
				// rather than silently require one.
				return fmt.Errorf("--min-sync-standbys %d: must be at least 1 with --sync-mode sync (for acknowledgements that wait for no standby, use --sync-mode async)", minSyncStandbys)
			}
			var eps []string
			for _, e := range strings.Split(arbiters, ",") {
				if e = strings.TrimSpace(e); e != "" {
					eps = append(eps, e)
				}
			}
			if len(eps) == 0 {
				return fmt.Errorf("--arbiter: at least one etcd endpoint is required")
			}
			dialOpts, err := arbTLS.options(logger)
			if err != nil {
				return err
			}
			if cluster != "" {
				if err := joinCluster(eps, dialOpts, cluster, group); err != nil {
					return err
				}
			}
			ncfg := node.Config{
				Group: group, NodeID: nodeID, Engine: ecfg,
				Listen: listen, PeerListen: peerListen, HTTPListen: httpListen,
				AdvertiseAddr: advertise, AdvertisePeerAddr: advertisePeer,
				Arbiter: eps, Dial: dialOpts,
				HA:          ha.Config{LeaseTTL: leaseTTL},
				Replication: replicationMode, SyncMode: ackMode, MinSyncStandbys: minSyncStandbys,
				SyncPolicy: syncPolicy, DegradeAfter: degradeAfter, SyncTimeout: syncTimeout, KeepDeadActiveLease: !endDeadLease,
				Version: server.Version, Logger: logger,
				Deployment: depCfg(),
			}
			if err := secCfg(&ncfg); err != nil {
				return err
			}
			n, err := node.Start(ncfg)
			if err != nil {
				return err
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			select {
			case s := <-sig:
				logger.Info("shutting down", "signal", s.String())
			case <-n.Done():
				logger.Error("API server stopped unexpectedly")
			case <-n.Failed():
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.Err(); err != nil {
				n.Close(ctx)
				return err
			}
			return n.Close(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&group, "group", "default", "HA group name")
	f.StringVar(&cluster, "cluster", "", "make --group a shard group of this cluster (recorded in the arbiter at start; see tandem coord)")
	f.StringVar(&nodeID, "node-id", "", "this node's id in the group (required, unique)")
	st = addStorageFlags(f, true)
	f.StringVar(&listen, "listen", node.DefaultListen, "client address: Milvus gRPC and RESTful v2 API")
	f.StringVar(&peerListen, "peer-listen", node.DefaultPeerListen, "replication address (peers connect here)")
	f.StringVar(&httpListen, "http-listen", node.DefaultHTTPListen, "HTTP address for /healthz, /readyz, /metrics, /status and POST /v1/switchover (\"off\" disables; loopback by default: bind it privately)")
	f.StringVar(&advertise, "advertise-addr", "", "client address published to the group (default: the bound --listen address)")
	f.StringVar(&advertisePeer, "advertise-peer-addr", "", "peer address published to the group (default: the bound --peer-listen address)")
	f.StringVar(&arbiters, "arbiter", "127.0.0.1:2379", "comma-separated etcd endpoints of the arbiter")
	f.DurationVar(&leaseTTL, "lease-ttl", ha.DefaultLeaseTTL, "arbiter lease TTL (whole seconds): failover happens about this long (+ up to 0.5 s) after the active dies. etcd raises it to at least 1.5 x its election timeout, rounded up (2s for etcd's default 1s; tandem arbiter --election-timeout 500ms allows 1s)")
	f.StringVar(&replicationMode, "replication", node.ReplicationOn, "replicate the active's log to the standbys over --peer-listen: on or off")
	f.StringVar(&ackMode, "sync-mode", node.SyncSync, "client write acknowledgement: sync (once every standby in the arbiter's sync set, and at least --min-sync-standbys of them, has it durable; only sync-set members may be promoted, so failover loses no acknowledged write) or async (after the local fsync; failover may lose the last writes). Must match the group's mode, recorded in the arbiter by its first active: a node started in another mode exits (see tandem set-mode)")
	f.IntVar(&minSyncStandbys, "min-sync-standbys", 1, "sync mode: standbys that must be in the sync set for a write to be acknowledged (at least 1; 0 is refused: use --sync-mode async)")
	f.StringVar(&syncPolicy, "sync-policy", node.SyncStrict, "sync mode, when fewer than --min-sync-standbys standbys are in sync: strict (writes wait, up to the client's deadline; while they wait it is logged and shown in /status, tandem status and tandem_replication_sync_waiting_writes) or degrade (after --degrade-after, acknowledge locally and report degraded; no automatic promotion until a standby is back)")
	f.DurationVar(&degradeAfter, "degrade-after", 5*time.Second, "sync mode, --sync-policy=degrade: how long writes wait for a standby before degrading")
	f.DurationVar(&syncTimeout, "sync-timeout", time.Second, "sync mode: a standby of the sync set that lags a write this long (dead, stalled) is dropped from the set")
	f.BoolVar(&endDeadLease, "end-dead-active-lease", true, "sync mode: a standby of the sync set whose stream from the active broke and whose connections to the active's peer port are refused (the process is gone) asks the arbiter to end the active's lease at once, instead of waiting for --lease-ttl to expire (a host that dies silently still waits for the TTL)")
	lf = addLogFlags(f)
	depCfg = deploymentFlags(f)
	secCfg = securityFlags(f)
	arbTLS = arbiterTLSFlags(f)
	cmd.MarkFlagRequired("node-id")
	return cmd
}

// joinCluster records group as a shard group of cluster in the arbiter.
func joinCluster(eps []string, dial arbiter.DialOptions, cluster, group string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := arbiter.Dial(ctx, eps, dial)
	if err != nil {
		return fmt.Errorf("--cluster %s: %w", cluster, err)
	}
	defer cli.Close()
	return coord.JoinGroup(ctx, cli.Etcd(), cluster, group)
}
