package coord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/tandem-db/tandem/internal/metrics"
)

// Member is a live coordinator, as published in its member key.
type Member struct {
	ID            string   `json:"id"`
	Addr          string   `json:"addr"`
	Roles         []string `json:"roles"` // the roles it campaigns for
	StartedUnixMs int64    `json:"started_unix_ms"`
}

// Lead is a role this coordinator holds now.
type Lead struct {
	Fence Fence
	Since time.Time
}

// Coordinator campaigns for its roles and holds those it wins until its
// session ends. Create with New, drive with Run.
type Coordinator struct {
	cli *clientv3.Client
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	leads map[string]Lead // roles held now; guarded by mu
	alloc *Allocator      // the root role's allocator while held; guarded by mu

	ddl ddl
}

// New validates cfg and returns a coordinator that is not running yet.
func New(cli *clientv3.Client, cfg Config, log *slog.Logger) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	for _, r := range cfg.Roles {
		metrics.CoordRoleActive.WithLabelValues(r).Set(0)
	}
	return &Coordinator{cli: cli, cfg: cfg, log: log, leads: map[string]Lead{}}, nil
}

// Leads returns the roles held now.
func (c *Coordinator) Leads() map[string]Lead {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Lead, len(c.leads))
	for r, l := range c.leads {
		out[r] = l
	}
	return out
}

// Allocator returns the root role's allocator, or ErrNotActive when this
// coordinator is not the root's active.
func (c *Coordinator) Allocator() (*Allocator, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.alloc == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotActive, RoleRoot)
	}
	return c.alloc, nil
}

// Config returns the coordinator's configuration.
func (c *Coordinator) Config() Config { return c.cfg }

// Run campaigns until ctx ends. Each session (an etcd lease of
// SessionTTL) carries the member key and one election key per role; when
// the session ends (Done: the lease expired or was revoked) every role is
// dropped at once and a new session campaigns again. When ctx ends the
// session is closed, which revokes the lease, so standbys take the roles
// over at once. Run returns ctx's error.
func (c *Coordinator) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.runSession(ctx)
		if ctx.Err() != nil {
			break
		}
		c.log.Warn("coordinator session ended; starting a new one", "cluster", c.cfg.Cluster, "id", c.cfg.ID, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return ctx.Err()
}

func (c *Coordinator) runSession(ctx context.Context) error {
	secs := int((c.cfg.SessionTTL + time.Second - 1) / time.Second)
	// The session's own context is not ctx: Close revokes the lease with
	// it, and that must work after ctx ended (a clean stop frees the roles
	// at once instead of after the TTL).
	sess, err := concurrency.NewSession(c.cli, concurrency.WithTTL(secs), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return fmt.Errorf("coord: new session: %w", err)
	}
	defer sess.Close() // revokes the lease (bounded by the TTL): roles are free at once
	m := Member{ID: c.cfg.ID, Addr: c.cfg.Addr, Roles: c.cfg.Roles, StartedUnixMs: time.Now().UnixMilli()}
	b, _ := json.Marshal(m)
	key := coordKey(c.cfg.Cluster, c.cfg.ID)
	// The member key is created only if absent: two live coordinators with
	// one id would make the status ambiguous.
	r, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b), clientv3.WithLease(sess.Lease()))).Commit()
	if err != nil {
		return fmt.Errorf("coord: publish member key: %w", err)
	}
	if !r.Succeeded {
		return fmt.Errorf("coord: a coordinator with id %q is already live in cluster %q", c.cfg.ID, c.cfg.Cluster)
	}
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if c.cfg.EndDeadActiveLease {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.watchDeadActives(sctx)
		}()
	}
	for _, role := range c.cfg.Roles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.campaign(sctx, sess, role)
		}()
	}
	select {
	case <-sess.Done():
		err = errors.New("coord: session lease ended")
	case <-ctx.Done():
		err = ctx.Err()
	}
	cancel()
	wg.Wait()
	return err
}

// campaign waits to win role's election, holds it until ctx ends, then
// drops it.
func (c *Coordinator) campaign(ctx context.Context, sess *concurrency.Session, role string) {
	e := concurrency.NewElection(sess, rolePrefix(c.cfg.Cluster, role))
	if err := e.Campaign(ctx, c.cfg.ID); err != nil {
		return // ctx ended (session lost or stop)
	}
	f := Fence{Role: role, Key: e.Key(), Rev: e.Rev()}
	c.mu.Lock()
	c.leads[role] = Lead{Fence: f, Since: time.Now()}
	if role == RoleRoot {
		c.alloc = NewAllocator(c.cli, c.cfg.Cluster, f, c.cfg.IDBatch, c.cfg.TSWindow)
	}
	c.mu.Unlock()
	c.log.Info("coordinator role acquired", "cluster", c.cfg.Cluster, "id", c.cfg.ID, "role", role, "fence_rev", f.Rev)
	metrics.CoordRoleActive.WithLabelValues(role).Set(1)
	metrics.CoordRoleChanges.WithLabelValues(role, "acquired").Inc()
	if role == RoleRoot {
		go c.resumePending(ctx)
	}
	<-ctx.Done()
	c.mu.Lock()
	delete(c.leads, role)
	if role == RoleRoot {
		c.alloc = nil
	}
	c.mu.Unlock()
	c.log.Warn("coordinator role dropped", "cluster", c.cfg.Cluster, "id", c.cfg.ID, "role", role, "fence_rev", f.Rev)
	metrics.CoordRoleActive.WithLabelValues(role).Set(0)
	metrics.CoordRoleChanges.WithLabelValues(role, "dropped").Inc()
}

// RoleReport is one role's election as the arbiter holds it.
type RoleReport struct {
	Role     string   `json:"role"`
	Active   string   `json:"active"`    // coordinator id, "" when nobody holds the role
	FenceRev int64    `json:"fence_rev"` // the active's election key create revision
	Standbys []string `json:"standbys"`  // waiting campaigners, in takeover order
}

// Report is a cluster's coordinator status.
type Report struct {
	Cluster      string       `json:"cluster"`
	Coordinators []Member     `json:"coordinators"`
	Roles        []RoleReport `json:"roles"`
	IDHighWater  int64        `json:"id_high_water"`
	TSHighWater  int64        `json:"ts_high_water_unix_ms"`
	Revision     int64        `json:"revision"`
}

// ErrNoCluster: nothing is recorded under the cluster's name.
var ErrNoCluster = errors.New("coord: no such cluster")

// ReadStatus reads cluster's coordinators and role elections in one read.
func ReadStatus(ctx context.Context, cli *clientv3.Client, cluster string) (*Report, error) {
	if !validName(cluster) {
		return nil, fmt.Errorf("%w: cluster name %q", ErrInvalidConfig, cluster)
	}
	r, err := cli.Get(ctx, clusterPrefix(cluster), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("coord: read cluster %s: %w", cluster, err)
	}
	if len(r.Kvs) == 0 {
		return nil, fmt.Errorf("%w: %q (no coordinator has run for it)", ErrNoCluster, cluster)
	}
	rep := &Report{Cluster: cluster, Revision: r.Header.Revision, Coordinators: []Member{}}
	type cand struct {
		id  string
		rev int64
	}
	byRole := map[string][]cand{}
	for _, kv := range r.Kvs {
		k := string(kv.Key)
		switch {
		case len(k) > len(coordsPrefix(cluster)) && k[:len(coordsPrefix(cluster))] == coordsPrefix(cluster):
			var m Member
			if json.Unmarshal(kv.Value, &m) == nil {
				rep.Coordinators = append(rep.Coordinators, m)
			}
		case k == idKey(cluster):
			fmt.Sscan(string(kv.Value), &rep.IDHighWater)
		case k == tsKey(cluster):
			fmt.Sscan(string(kv.Value), &rep.TSHighWater)
		default:
			for _, role := range AllRoles {
				p := rolePrefix(cluster, role) + "/"
				if len(k) > len(p) && k[:len(p)] == p {
					byRole[role] = append(byRole[role], cand{string(kv.Value), kv.CreateRevision})
				}
			}
		}
	}
	slices.SortFunc(rep.Coordinators, func(a, b Member) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	for _, role := range AllRoles {
		cs := byRole[role]
		slices.SortFunc(cs, func(a, b cand) int { return int(a.rev - b.rev) })
		rr := RoleReport{Role: role, Standbys: []string{}}
		for i, c := range cs {
			if i == 0 {
				rr.Active, rr.FenceRev = c.id, c.rev
			} else {
				rr.Standbys = append(rr.Standbys, c.id)
			}
		}
		rep.Roles = append(rep.Roles, rr)
	}
	return rep, nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
