package milvus

import (
	"context"
	"sort"
	"sync/atomic"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"google.golang.org/grpc/metadata"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/merr"
)

// dbHeader is the gRPC metadata key the SDKs use for the current database.
const dbHeader = "dbname"

// dbName picks the database of a request: the request's own field, else
// the "dbname" metadata header, else the default database.
func dbName(ctx context.Context, fromRequest string) string {
	if fromRequest != "" {
		return fromRequest
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(dbHeader); len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return engine.DefaultDB
}

// logicalBits is the width of the logical part of a Milvus hybrid
// timestamp: ts = physical milliseconds << 18 | logical.
const logicalBits = 18

// hybridTS is the hybrid timestamp of t with logical part 0.
func hybridTS(t time.Time) uint64 {
	return utcMillis(t) << logicalBits
}

// tsoAllocator hands out strictly increasing hybrid timestamps.
type tsoAllocator struct {
	last atomic.Uint64
}

// next returns a timestamp greater than every one returned before.
func (a *tsoAllocator) next() uint64 {
	for {
		prev := a.last.Load()
		ts := hybridTS(time.Now())
		if ts <= prev {
			ts = prev + 1
		}
		if a.last.CompareAndSwap(prev, ts) {
			return ts
		}
	}
}

// kvMap turns key-value pairs into a map; later keys win.
func kvMap(kvs []*commonpb.KeyValuePair) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue()
	}
	return m
}

// mapKVs turns a map into key-value pairs sorted by key.
func mapKVs(m map[string]string) []*commonpb.KeyValuePair {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kvs := make([]*commonpb.KeyValuePair, 0, len(keys))
	for _, k := range keys {
		kvs = append(kvs, &commonpb.KeyValuePair{Key: k, Value: m[k]})
	}
	return kvs
}

// successStatus is the success status.
func successStatus() *commonpb.Status { return merr.Status(nil) }

// errStatus converts an error into a Milvus status.
func errStatus(err error) *commonpb.Status { return merr.Status(err) }

// utcMillis is t in Unix milliseconds, 0 for the zero time.
func utcMillis(t time.Time) uint64 {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0
	}
	return uint64(t.UnixMilli())
}
