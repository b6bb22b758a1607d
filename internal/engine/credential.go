package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/wal"
)

// RecCredential sets or removes one user's credential (users
// live in the replicated state, so they survive a failover).
//
//	payload: u8 op (credPut | credDelete), str user, str hash
//
// The hash is an opaque salted password hash (package security); the
// engine never sees a password.
const RecCredential wal.RecordType = 16

const (
	credPut    = 1
	credDelete = 2
)

// recCredential is a RecCredential body.
type recCredential struct {
	op   uint8
	user string
	hash string
}

func (b *recCredential) encode(w *enc) error {
	w.u8(b.op)
	w.str(b.user)
	w.str(b.hash)
	return nil
}

func decodeCredential(r *dec) *recCredential {
	return &recCredential{op: r.u8(), user: r.str(), hash: r.str()}
}

// applyCredential applies a RecCredential body. Caller as apply.
func (e *Engine) applyCredential(b *recCredential) error {
	cat := e.cat
	switch b.op {
	case credPut:
		if b.user == "" {
			return fmt.Errorf("engine: apply credential: empty user")
		}
		if cat.users == nil {
			cat.users = map[string]string{}
		}
		cat.users[b.user] = b.hash
		return nil
	case credDelete:
		if _, ok := cat.users[b.user]; !ok {
			return fmt.Errorf("engine: apply credential: user %q not found", b.user)
		}
		delete(cat.users, b.user)
		return nil
	}
	return fmt.Errorf("engine: apply credential: op %d unknown", b.op)
}

// MaxUserNameLen bounds a user name.
const MaxUserNameLen = 32

// PutCredential creates (create) or replaces (!create) user's password
// hash, replicated like any DDL. create fails if the user exists; an
// update fails if it does not.
func (e *Engine) PutCredential(ctx context.Context, user, hash string, create bool) error {
	if user == "" || len(user) > MaxUserNameLen {
		return merr.Wrapf(merr.ErrParameterInvalid, "user name must be 1-%d characters", MaxUserNameLen)
	}
	if hash == "" {
		return merr.Wrapf(merr.ErrParameterInvalid, "empty password hash")
	}
	return e.writeCredential(ctx, &recCredential{op: credPut, user: user, hash: hash}, func(exists bool) error {
		switch {
		case create && exists:
			return merr.Wrapf(merr.ErrParameterInvalid, "user %q already exists", user)
		case !create && !exists:
			return merr.Wrapf(merr.ErrParameterInvalid, "user %q not found", user)
		}
		return nil
	})
}

// DeleteCredential removes user.
func (e *Engine) DeleteCredential(ctx context.Context, user string) error {
	return e.writeCredential(ctx, &recCredential{op: credDelete, user: user}, func(exists bool) error {
		if !exists {
			return merr.Wrapf(merr.ErrParameterInvalid, "user %q not found", user)
		}
		return nil
	})
}

func (e *Engine) writeCredential(ctx context.Context, b *recCredential, pre func(exists bool) error) error {
	if err := e.check(); err != nil {
		return err
	}
	if _, err := e.admit(); err != nil {
		return err
	}
	e.writeMu.Lock()
	_, exists := e.cat.users[b.user] // writers holding writeMu may read the catalog
	if err := pre(exists); err != nil {
		e.writeMu.Unlock()
		return err
	}
	lsn, err := e.commitLocked(RecCredential, b, len(b.user)+len(b.hash)+16)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// Credential returns user's stored password hash.
func (e *Engine) Credential(user string) (string, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	h, ok := e.cat.users[user]
	return h, ok
}

// CredentialUsers lists the users, sorted.
func (e *Engine) CredentialUsers() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]string, 0, len(e.cat.users))
	for u := range e.cat.users {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// encodeUsers appends the users in name order (catalog encoding).
func encodeUsers(w *enc, users map[string]string) {
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	slices.Sort(names)
	w.uv(uint64(len(names)))
	for _, u := range names {
		w.str(u)
		w.str(users[u])
	}
}

func decodeUsers(r *dec) map[string]string {
	n := r.count(2)
	m := make(map[string]string, n)
	for i := 0; i < n && r.err == nil; i++ {
		u := r.str()
		m[u] = r.str()
	}
	return m
}
