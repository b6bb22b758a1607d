package clusterproxy

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tandem-db/tandem/internal/coord"
)

// catalogCache is the cluster catalog as last seen, kept by a watch from
// the revision it was read at. A miss is read from the arbiter (a
// collection created a moment ago may not have reached the watch yet).
type catalogCache struct {
	cli     *clientv3.Client
	cluster string

	mu    sync.RWMutex
	colls map[string]*coord.CollectionMeta // "db/name"; guarded by mu
}

func newCatalogCache(ctx, runCtx context.Context, cli *clientv3.Client, cluster string, log *slog.Logger, wg *sync.WaitGroup) (*catalogCache, error) {
	c := &catalogCache{cli: cli, cluster: cluster, colls: map[string]*coord.CollectionMeta{}}
	all, rev, err := coord.ReadCatalog(ctx, cli, cluster)
	if err != nil {
		return nil, err
	}
	for _, m := range all {
		c.colls[m.DB+"/"+m.Name] = m
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.watch(runCtx, rev, log)
	}()
	return c, nil
}

func (c *catalogCache) watch(ctx context.Context, rev int64, log *slog.Logger) {
	prefix := coord.CollectionsPrefix(c.cluster)
	for ctx.Err() == nil {
		wch := c.cli.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range wch {
			if err := resp.Err(); err != nil {
				log.Warn("clusterproxy: catalog watch", "err", err)
				break
			}
			c.mu.Lock()
			for _, ev := range resp.Events {
				key := strings.TrimPrefix(string(ev.Kv.Key), prefix)
				if ev.Type == clientv3.EventTypeDelete {
					delete(c.colls, key)
					continue
				}
				m := &coord.CollectionMeta{}
				if json.Unmarshal(ev.Kv.Value, m) == nil {
					c.colls[key] = m
				}
			}
			c.mu.Unlock()
			rev = resp.Header.Revision
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
		// Re-read everything: events may have been compacted away.
		all, r, err := coord.ReadCatalog(ctx, c.cli, c.cluster)
		if err == nil {
			m := map[string]*coord.CollectionMeta{}
			for _, x := range all {
				m[x.DB+"/"+x.Name] = x
			}
			c.mu.Lock()
			c.colls = m
			c.mu.Unlock()
			rev = r
		}
	}
}

// get returns the entry of db/name, reading the arbiter on a miss; nil
// when the collection does not exist.
func (c *catalogCache) get(ctx context.Context, db, name string) (*coord.CollectionMeta, error) {
	if db == "" {
		db = "default"
	}
	c.mu.RLock()
	m := c.colls[db+"/"+name]
	c.mu.RUnlock()
	if m != nil {
		return m, nil
	}
	return coord.ReadCollection(ctx, c.cli, c.cluster, db, name)
}

// forget drops a cached entry (after a DDL changed it).
func (c *catalogCache) forget(db, name string) {
	if db == "" {
		db = "default"
	}
	c.mu.Lock()
	delete(c.colls, db+"/"+name)
	c.mu.Unlock()
}

// list returns the entries of db.
func (c *catalogCache) list(ctx context.Context, db string) ([]*coord.CollectionMeta, error) {
	if db == "" {
		db = "default"
	}
	all, _, err := coord.ReadCatalog(ctx, c.cli, c.cluster)
	if err != nil {
		return nil, err
	}
	var out []*coord.CollectionMeta
	for _, m := range all {
		if m.DB == db {
			out = append(out, m)
		}
	}
	return out, nil
}

func (c *catalogCache) size() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.colls)
}
