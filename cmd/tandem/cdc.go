package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/cdc"
	"github.com/tandem-db/tandem/internal/engine"
)

func newCDCCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cdc",
		Short: "The change stream (see internal/cdc): tail it as JSON lines",
	}
	cmd.AddCommand(newCDCTailCmd())
	return cmd
}

// parsePosition parses "EPOCH:LSN" or "LSN" ("" = empty: snapshot).
func parsePosition(s string) (cdc.Position, error) {
	if s == "" {
		return cdc.Position{}, nil
	}
	var p cdc.Position
	var err error
	if e, l, ok := strings.Cut(s, ":"); ok {
		if p.Epoch, err = strconv.ParseUint(e, 10, 64); err != nil {
			return p, fmt.Errorf("position %q: %w", s, err)
		}
		s = l
	}
	if p.LSN, err = strconv.ParseUint(s, 10, 64); err != nil {
		return p, fmt.Errorf("position %q: %w", s, err)
	}
	return p, nil
}

// tailApplier prints records as JSON lines and keeps the position.
type tailApplier struct {
	w        *bufio.Writer
	source   string
	pos      cdc.Position
	snapshot bool
	count    int
	limit    int
	done     context.CancelFunc
}

func (t *tailApplier) Resume() (string, cdc.Position, bool) { return t.source, t.pos, t.snapshot }

func (t *tailApplier) Apply(ctx context.Context, source string, recs []cdc.Record) error {
	enc := json.NewEncoder(t.w)
	for _, r := range recs {
		line := map[string]any{"deployment": source, "epoch": r.Epoch, "lsn": r.LSN, "type": engine.UpstreamTypeName(r.Type)}
		if r.Flags&cdc.FlagSnapshot != 0 {
			line["snapshot"] = true
		}
		if v, err := engine.ViewRecord(r.Type, r.Payload); err == nil {
			line["record"] = v
		} else {
			line["error"] = err.Error()
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
		if r.Flags&cdc.FlagSnapshot == 0 {
			t.source, t.pos, t.snapshot = source, r.Position, false
		}
		t.count++
		if t.limit > 0 && t.count >= t.limit {
			t.w.Flush()
			t.done()
			return context.Canceled
		}
	}
	return t.w.Flush()
}

func newCDCTailCmd() *cobra.Command {
	var eps, group, peer, from, name string
	var arbTLS *arbiterTLS
	var peerSec *peerClient
	var snapshot bool
	var limit int
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print a deployment's change stream as JSON lines (snapshot when --from is empty or too old, then live records); follows failovers",
		Long: `Subscribe to the change stream of the active of --group (found through
the arbiter at --arbiter, and again after every failover) or of the node at
--peer, from position --from (EPOCH:LSN, or LSN; empty: a snapshot of all
data first), and print one JSON object per record on stdout:

  {"deployment":..., "epoch":E, "lsn":L, "type":"insert", "snapshot":true?, "record":{...}}

Resume later with --from E:L of the last line without "snapshot". Snapshot
lines all carry the snapshot's position; the "snapshot_end" line ends it.

On a secured deployment give the change stream credential (--secret-file)
and the peer TLS files (--peer-tls-ca, and --peer-tls-cert/--peer-tls-key
where the peer port requires a client certificate). A refusal (wrong or
missing credential, failed TLS handshake) is printed and the command exits
non-zero at once; other failures (node down, failover) are retried
(TANDEM_CDC_DEBUG=1 logs them on stderr).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pos, err := parsePosition(from)
			if err != nil {
				return err
			}
			dial, err := peerSec.dialOptions()
			if err != nil {
				return err
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer cancel()
			var target cdc.Target
			if peer != "" {
				target = &cdc.StaticTarget{Addrs: splitAddrList(peer)}
			} else {
				tlsCfg, err := arbTLS.config()
				if err != nil {
					return err
				}
				at := &cdc.ArbiterTarget{Endpoints: splitAddrList(eps), Group: group, TLS: tlsCfg}
				defer at.Close()
				target = at
			}
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			if os.Getenv("TANDEM_CDC_DEBUG") != "" {
				quiet = slog.New(slog.NewTextHandler(os.Stderr, nil))
			}
			ta := &tailApplier{w: bufio.NewWriter(cmd.OutOrStdout()), pos: pos, snapshot: snapshot, limit: limit, done: cancel}
			sub := cdc.NewSubscriber(cdc.SubscriberOptions{Target: target, Group: group, Name: name, Applier: ta, Logger: quiet,
				DialOptions: dial, StopOnRefusal: true})
			if err := sub.Run(ctx); err != nil {
				ta.w.Flush()
				return fmt.Errorf("cdc tail: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&eps, "arbiter", "127.0.0.1:2379", "the deployment's arbiter endpoints")
	f.StringVar(&group, "group", "default", "the HA group")
	f.StringVar(&peer, "peer", "", "a node's peer address instead of --arbiter (comma-separated: tried in turn)")
	f.StringVar(&from, "from", "", "resume after this position (EPOCH:LSN); empty: start with a snapshot")
	f.BoolVar(&snapshot, "snapshot", false, "start with a snapshot whatever --from says")
	f.StringVar(&name, "name", "cdc-tail", "subscriber name (status, WAL retention)")
	f.IntVar(&limit, "limit", 0, "exit after this many records (0: follow forever)")
	arbTLS = arbiterTLSFlags(f)
	peerSec = peerClientFlags(f)
	return cmd
}
