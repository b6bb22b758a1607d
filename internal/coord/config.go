package coord

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Coordinator roles.
const (
	RoleRoot  = "root"
	RoleData  = "data"
	RoleQuery = "query"
	RoleIndex = "index"
)

// AllRoles lists the roles in the order they are reported.
var AllRoles = []string{RoleRoot, RoleData, RoleQuery, RoleIndex}

// Sentinel errors.
var (
	// ErrInvalidConfig: a Config field is out of range (the message names it).
	ErrInvalidConfig = errors.New("coord: invalid config")
	// ErrFenced: a write for a role was refused because this coordinator no
	// longer holds the role (its election key is gone or not the leader's).
	ErrFenced = errors.New("coord: fenced: this coordinator no longer holds the role")
	// ErrNotActive: a request needs a role this coordinator does not hold now.
	ErrNotActive = errors.New("coord: not the active for the role")
)

// Config configures a Coordinator. DefaultConfig gives the defaults.
type Config struct {
	// Cluster is the cluster name (required; no '/').
	Cluster string
	// ID names this coordinator in the cluster (required; no '/'); two
	// live coordinators must not share it.
	ID string
	// Roles this coordinator campaigns for (default: all four).
	Roles []string
	// SessionTTL is the etcd lease of the coordinator's session (default
	// 2 s, whole seconds; etcd may raise it to its minimum). A role is
	// taken over within about this long after its active dies.
	SessionTTL time.Duration
	// IDBatch is how many ids the root reserves in etcd at a time
	// (default 10,000).
	IDBatch int64
	// TSWindow is how far ahead of its clock the root reserves physical
	// time for timestamps (default 3 s).
	TSWindow time.Duration
	// Addr is published in the member key (e.g. the side port), may be "".
	Addr string
	// EndDeadActiveLease lets this coordinator, while it waits as a
	// standby, revoke the session of a role's active whose side port
	// refuses connections (the process is gone), so the role moves at once
	// instead of after SessionTTL (default true; see watchDeadActives).
	EndDeadActiveLease bool
	// ProbeInterval is how often a standby probes the actives' side ports
	// (default 100 ms).
	ProbeInterval time.Duration
}

// DefaultConfig returns a Config with the defaults (Cluster and ID empty).
func DefaultConfig() Config {
	return Config{
		Roles:      slices.Clone(AllRoles),
		SessionTTL: 2 * time.Second,
		IDBatch:    10000,
		TSWindow:   3 * time.Second,

		EndDeadActiveLease: true,
		ProbeInterval:      100 * time.Millisecond,
	}
}

// Validate reports the first invalid field, naming it and its value.
func (c Config) Validate() error {
	if !validName(c.Cluster) {
		return fmt.Errorf("%w: Cluster = %q: must be non-empty without '/'", ErrInvalidConfig, c.Cluster)
	}
	if !validName(c.ID) {
		return fmt.Errorf("%w: ID = %q: must be non-empty without '/'", ErrInvalidConfig, c.ID)
	}
	if len(c.Roles) == 0 {
		return fmt.Errorf("%w: Roles is empty: give at least one of %s", ErrInvalidConfig, strings.Join(AllRoles, ","))
	}
	seen := map[string]bool{}
	for _, r := range c.Roles {
		if !slices.Contains(AllRoles, r) {
			return fmt.Errorf("%w: Roles: unknown role %q (roles: %s)", ErrInvalidConfig, r, strings.Join(AllRoles, ","))
		}
		if seen[r] {
			return fmt.Errorf("%w: Roles: %q given twice", ErrInvalidConfig, r)
		}
		seen[r] = true
	}
	if c.SessionTTL < time.Second {
		return fmt.Errorf("%w: SessionTTL = %v: must be >= 1s", ErrInvalidConfig, c.SessionTTL)
	}
	if c.IDBatch < 1 {
		return fmt.Errorf("%w: IDBatch = %d: must be >= 1", ErrInvalidConfig, c.IDBatch)
	}
	if c.EndDeadActiveLease && c.ProbeInterval <= 0 {
		return fmt.Errorf("%w: ProbeInterval = %v: must be > 0", ErrInvalidConfig, c.ProbeInterval)
	}
	if c.TSWindow < 100*time.Millisecond {
		return fmt.Errorf("%w: TSWindow = %v: must be >= 100ms", ErrInvalidConfig, c.TSWindow)
	}
	return nil
}

// ParseRoles parses a comma-separated role list ("root,data").
func ParseRoles(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

func validName(s string) bool { return s != "" && !strings.Contains(s, "/") }

// Keys.
const keyPrefix = "/tandem/clusters/"

func clusterPrefix(c string) string    { return keyPrefix + c + "/" }
func coordsPrefix(c string) string     { return clusterPrefix(c) + "coords/" }
func coordKey(c, id string) string     { return coordsPrefix(c) + id }
func rolePrefix(c, role string) string { return clusterPrefix(c) + "roles/" + role }
func idKey(c string) string            { return clusterPrefix(c) + "alloc/id" }
func tsKey(c string) string            { return clusterPrefix(c) + "alloc/ts" }
