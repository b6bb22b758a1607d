package coord

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Fence is a role's fencing token: the active's election key and its
// create revision. The key exists with that revision exactly as long as the
// holder leads the role (a newer campaigner's key has a higher revision and
// waits behind it).
type Fence struct {
	Role string
	Key  string
	Rev  int64
}

// Txn commits ops if the fence still holds and every cmp holds. It returns
// ErrFenced (wrapped) when the fence no longer holds, whatever cmps say;
// ok is false when the fence holds but a cmp failed.
func (f Fence) Txn(ctx context.Context, cli *clientv3.Client, cmps []clientv3.Cmp, ops ...clientv3.Op) (ok bool, err error) {
	all := append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(f.Key), "=", f.Rev)}, cmps...)
	resp, err := cli.Txn(ctx).If(all...).Then(ops...).Else(clientv3.OpGet(f.Key)).Commit()
	if err != nil {
		return false, fmt.Errorf("coord: %s write: %w", f.Role, err)
	}
	if resp.Succeeded {
		return true, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 || kvs[0].CreateRevision != f.Rev {
		return false, fmt.Errorf("%w (role %s, key %s rev %d)", ErrFenced, f.Role, f.Key, f.Rev)
	}
	return false, nil
}
