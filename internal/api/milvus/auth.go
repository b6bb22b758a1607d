package milvus

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/security"
)

// RootUser is the built-in administrator.
const RootUser = "root"

// AuthOptions turns on Milvus-compatible user/password authentication.
type AuthOptions struct {
	// RootPasswordHash (security.HashPassword) is root's password while
	// the replicated catalog holds no root credential (the initial
	// password, set at first start); once root's password is changed
	// through UpdateCredential the catalog's wins.
	RootPasswordHash string
}

// authCtxKey carries the authenticated user in a request context.
type authCtxKey struct{}

// authUser returns the authenticated user of ctx ("" without auth).
func authUser(ctx context.Context) string {
	u, _ := ctx.Value(authCtxKey{}).(string)
	return u
}

// authenticator checks credentials against the engine's users.
type authenticator struct {
	s    *Server
	opts AuthOptions
	// cache maps user to the last (stored hash, sha256(password)) that
	// verified, so PBKDF2 runs once per user and password.
	cache sync.Map // string -> cachedCred
}

type cachedCred struct {
	hash string
	sum  [32]byte
}

// storedHash returns user's password hash.
func (a *authenticator) storedHash(user string) (string, bool) {
	if h, ok := a.s.eng.Credential(user); ok {
		return h, true
	}
	if user == RootUser && a.opts.RootPasswordHash != "" {
		return a.opts.RootPasswordHash, true
	}
	return "", false
}

// verify reports whether user/password are valid.
func (a *authenticator) verify(user, password string) bool {
	hash, ok := a.storedHash(user)
	if !ok {
		// Same work as a wrong password, so user names cannot be probed
		// by timing.
		security.CheckPassword(a.opts.RootPasswordHash, password)
		return false
	}
	sum := sha256.Sum256([]byte(password))
	if c, ok := a.cache.Load(user); ok {
		if cc := c.(cachedCred); cc.hash == hash && cc.sum == sum {
			return true
		}
	}
	if !security.CheckPassword(hash, password) {
		return false
	}
	a.cache.Store(user, cachedCred{hash: hash, sum: sum})
	return true
}

// parseToken splits a Milvus token "user:password".
func parseToken(tok string) (user, password string, ok bool) {
	user, password, ok = strings.Cut(tok, ":")
	return user, password, ok && user != ""
}

// authenticate returns the user of a gRPC call's authorization metadata
// (base64 "user:password", as the official SDKs send it for
// Username/Password and for an API key "user:password").
func (a *authenticator) authenticate(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", merr.Wrapf(merr.ErrNotAuthenticated, "authentication required: connect with a user and password (or an API key user:password)")
	}
	raw, err := base64.StdEncoding.DecodeString(vals[0])
	if err != nil {
		return "", merr.Wrapf(merr.ErrNotAuthenticated, "malformed authorization metadata")
	}
	return a.check(string(raw))
}

func (a *authenticator) check(token string) (string, error) {
	user, pw, ok := parseToken(token)
	if !ok || !a.verify(user, pw) {
		return "", merr.Wrapf(merr.ErrNotAuthenticated, "auth check failure: wrong user name or password")
	}
	return user, nil
}

// authenticateHTTP checks a REST request's "Authorization: Bearer
// user:password" header.
func (a *authenticator) authenticateHTTP(r *http.Request) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return "", merr.Wrapf(merr.ErrNotAuthenticated, "authentication required: send Authorization: Bearer user:password")
	}
	return a.check(tok)
}

// authInterceptor refuses every RPC without valid credentials when auth
// is on; the refusal is a Milvus status with code 1400 in the method's
// response type (a gRPC Unauthenticated error where the response has no
// status). Nothing is served before the check.
func (s *Server) authInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.auth == nil {
		return handler(ctx, req)
	}
	user, err := s.auth.authenticate(ctx)
	if err != nil {
		st := merr.Status(err)
		if r, ok := statusResponse(info.FullMethod, st); ok {
			return r, nil
		}
		return nil, status.Error(codes.Unauthenticated, st.GetReason())
	}
	return handler(context.WithValue(ctx, authCtxKey{}, user), req)
}

// decodePassword decodes the base64 password the SDKs send in credential
// requests.
func decodePassword(p string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return "", merr.Wrapf(merr.ErrParameterInvalid, "password must be base64 encoded")
	}
	if len(b) < 6 || len(b) > 256 {
		return "", merr.Wrapf(merr.ErrParameterInvalid, "password must be 6-256 characters")
	}
	return string(b), nil
}

// requireRoot refuses callers other than root when auth is on.
func (s *Server) requireRoot(ctx context.Context) error {
	if s.auth != nil && authUser(ctx) != RootUser {
		return merr.Wrapf(merr.ErrPrivilegeNotPermitted, "only %s may manage users", RootUser)
	}
	return nil
}

// CreateCredential implements MilvusService: a new user (root only).
func (s *Server) CreateCredential(ctx context.Context, req *milvuspb.CreateCredentialRequest) (*commonpb.Status, error) {
	if err := s.requireRoot(ctx); err != nil {
		return merr.Status(err), nil
	}
	pw, err := decodePassword(req.GetPassword())
	if err != nil {
		return merr.Status(err), nil
	}
	hash, err := security.HashPassword(pw)
	if err != nil {
		return merr.Status(merr.Wrapf(merr.ErrServiceInternal, "hash password: %v", err)), nil
	}
	return merr.Status(s.eng.PutCredential(ctx, req.GetUsername(), hash, true)), nil
}

// UpdateCredential implements MilvusService: root, or the user itself
// with its old password, sets a new password.
func (s *Server) UpdateCredential(ctx context.Context, req *milvuspb.UpdateCredentialRequest) (*commonpb.Status, error) {
	user := req.GetUsername()
	caller := authUser(ctx)
	if s.auth != nil && caller != RootUser {
		old, err := base64.StdEncoding.DecodeString(req.GetOldPassword())
		if caller != user || err != nil || !s.auth.verify(user, string(old)) {
			return merr.Status(merr.Wrapf(merr.ErrPrivilegeNotPermitted, "only %s or the user itself (with its old password) may change a password", RootUser)), nil
		}
	}
	pw, err := decodePassword(req.GetNewPassword())
	if err != nil {
		return merr.Status(err), nil
	}
	hash, err := security.HashPassword(pw)
	if err != nil {
		return merr.Status(merr.Wrapf(merr.ErrServiceInternal, "hash password: %v", err)), nil
	}
	_, exists := s.eng.Credential(user)
	if !exists && user == RootUser {
		// root still has its initial password: the first change creates
		// the replicated credential.
		return merr.Status(s.eng.PutCredential(ctx, user, hash, true)), nil
	}
	return merr.Status(s.eng.PutCredential(ctx, user, hash, false)), nil
}

// DeleteCredential implements MilvusService (root only; root itself
// cannot be deleted).
func (s *Server) DeleteCredential(ctx context.Context, req *milvuspb.DeleteCredentialRequest) (*commonpb.Status, error) {
	if err := s.requireRoot(ctx); err != nil {
		return merr.Status(err), nil
	}
	if req.GetUsername() == RootUser {
		return merr.Status(merr.Wrapf(merr.ErrParameterInvalid, "user %s cannot be deleted", RootUser)), nil
	}
	return merr.Status(s.eng.DeleteCredential(ctx, req.GetUsername())), nil
}

// ListCredUsers implements MilvusService.
func (s *Server) ListCredUsers(ctx context.Context, req *milvuspb.ListCredUsersRequest) (*milvuspb.ListCredUsersResponse, error) {
	users := s.eng.CredentialUsers()
	if s.auth != nil && s.auth.opts.RootPasswordHash != "" {
		if _, ok := s.eng.Credential(RootUser); !ok {
			users = append([]string{RootUser}, users...)
		}
	}
	return &milvuspb.ListCredUsersResponse{Status: merr.Status(nil), Usernames: users}, nil
}

// deadlineInterceptor gives calls without a deadline Options.RequestTimeout.
func (s *Server) deadlineInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if d := s.opts.RequestTimeout; d > 0 {
		if _, has := ctx.Deadline(); !has {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
	}
	return handler(ctx, req)
}
