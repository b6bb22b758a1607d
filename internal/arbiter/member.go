package arbiter

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"
)

// Cluster states for MemberConfig.ClusterState.
const (
	ClusterStateNew      = "new"      // bootstrap a new cluster from InitialCluster
	ClusterStateExisting = "existing" // join a running cluster (add the member with `etcdctl member add` first)
)

// MemberTLS names the PEM files of one TLS endpoint of a member (client
// or peer URLs). CertFile == "" means plaintext.
type MemberTLS struct {
	CertFile string // certificate chain (PEM)
	KeyFile  string // private key (PEM)
	// TrustedCAFile verifies client certificates. On the client URLs it
	// is used only with ClientCertAuth. On the peer URLs it also verifies
	// the other members' server certificates, and (as etcd does) implies
	// ClientCertAuth: members authenticate each other both ways.
	TrustedCAFile string
	// ClientCertAuth requires a client certificate signed by
	// TrustedCAFile (mTLS).
	ClientCertAuth bool
}

// Enabled reports whether TLS is configured.
func (t MemberTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

func (t MemberTLS) validate(field string) error {
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		return cfgErr(field, "", "needs both CertFile and KeyFile")
	case t.ClientCertAuth && t.TrustedCAFile == "":
		return cfgErr(field, "", "ClientCertAuth needs TrustedCAFile")
	case t.ClientCertAuth && !t.Enabled():
		return cfgErr(field, "", "ClientCertAuth needs CertFile and KeyFile")
	}
	return nil
}

// info is etcd's TLSInfo of t. etcd requires client certificates
// whenever a TrustedCAFile is set, so on the client side the CA is only
// passed with ClientCertAuth.
func (t MemberTLS) info(peer bool) transport.TLSInfo {
	ti := transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.TrustedCAFile, ClientCertAuth: t.ClientCertAuth}
	if peer {
		ti.ClientCertAuth = t.ClientCertAuth || t.TrustedCAFile != ""
	} else if !t.ClientCertAuth {
		ti.TrustedCAFile = ""
	}
	return ti
}

func (t MemberTLS) scheme() string {
	if t.Enabled() {
		return "https"
	}
	return "http"
}

// MemberConfig configures one embedded etcd member. URLs may be given as
// "host:port" (meaning http://host:port, or https://host:port when the
// side has TLS) or as http:// / https:// URLs; the scheme must match
// whether ClientTLS / PeerTLS is set.
type MemberConfig struct {
	Name    string // member name, unique in the cluster
	DataDir string // etcd data directory (created 0700 if missing)

	ListenClientURLs    []string // where clients connect (port 0: any free port)
	AdvertiseClientURLs []string // what clients are told; default: ListenClientURLs
	ListenPeerURLs      []string // where the other members connect
	AdvertisePeerURLs   []string // what the other members are told; default: ListenPeerURLs

	// InitialCluster lists every member as name=peerURL,... (default:
	// Name=AdvertisePeerURLs, a single-member cluster). Ignored by etcd
	// once the data directory holds a cluster.
	InitialCluster string
	ClusterState   string // ClusterStateNew (default) or ClusterStateExisting

	HeartbeatInterval time.Duration // raft heartbeat (default 100ms)
	ElectionTimeout   time.Duration // raft election timeout (default 1s; >= 5 heartbeats)

	Logger *slog.Logger // etcd's warnings and errors go here (default slog.Default())

	// ClientTLS turns on TLS for the client URLs (default plaintext);
	// PeerTLS for the peer URLs, where the member also presents its
	// certificate when dialling the other members.
	ClientTLS, PeerTLS MemberTLS
}

// DefaultMemberConfig returns a single-member configuration on loopback
// with etcd's usual ports (client 2379, peer 2380). For an in-process
// member on free ports (tandem standalone), see LocalMemberConfig.
func DefaultMemberConfig(name, dataDir string) MemberConfig {
	return MemberConfig{
		Name:              name,
		DataDir:           dataDir,
		ListenClientURLs:  []string{"http://127.0.0.1:2379"},
		ListenPeerURLs:    []string{"http://127.0.0.1:2380"},
		InitialCluster:    name + "=http://127.0.0.1:2380",
		ClusterState:      ClusterStateNew,
		HeartbeatInterval: 100 * time.Millisecond,
		ElectionTimeout:   time.Second,
	}
}

// LocalMemberConfig returns a single-member configuration listening on
// loopback ports chosen by the kernel (port 0): the in-process arbiter of
// `tandem standalone`. ClientEndpoints reports the real client URL. The
// member list inside etcd advertises port 0; a single member never dials
// its own peer URL, so that is harmless, and a restart on the same
// DataDir works (new ports, same data).
func LocalMemberConfig(name, dataDir string) MemberConfig {
	cfg := DefaultMemberConfig(name, dataDir)
	cfg.ListenClientURLs = []string{"http://127.0.0.1:0"}
	cfg.ListenPeerURLs = []string{"http://127.0.0.1:0"}
	cfg.InitialCluster = ""
	return cfg
}

// resolvedMember is a validated MemberConfig with defaults applied.
type resolvedMember struct {
	listenClient, advClient, listenPeer, advPeer []url.URL
	initialCluster, state                        string
	tickMs, electionMs                           uint
}

// Validate reports the first field with an unusable value, naming it.
func (c MemberConfig) Validate() error {
	_, err := c.resolve()
	return err
}

func cfgErr(field string, value any, why string) error {
	return fmt.Errorf("arbiter: MemberConfig.%s = %q: %s: %w", field, fmt.Sprint(value), why, ErrInvalidConfig)
}

func (c MemberConfig) resolve() (*resolvedMember, error) {
	r := &resolvedMember{}
	if c.Name == "" || strings.ContainsAny(c.Name, "=,/ \t\n") {
		return nil, cfgErr("Name", c.Name, "must be non-empty without '=', ',', '/' or spaces")
	}
	if c.DataDir == "" {
		return nil, cfgErr("DataDir", c.DataDir, "must be set")
	}
	if err := c.ClientTLS.validate("ClientTLS"); err != nil {
		return nil, err
	}
	if err := c.PeerTLS.validate("PeerTLS"); err != nil {
		return nil, err
	}
	cs, ps := c.ClientTLS.scheme(), c.PeerTLS.scheme()
	var err error
	if r.listenClient, err = parseURLs("ListenClientURLs", c.ListenClientURLs, true, cs); err != nil {
		return nil, err
	}
	if r.listenPeer, err = parseURLs("ListenPeerURLs", c.ListenPeerURLs, true, ps); err != nil {
		return nil, err
	}
	if r.advClient, err = advertised("AdvertiseClientURLs", c.AdvertiseClientURLs, "ListenClientURLs", r.listenClient, cs); err != nil {
		return nil, err
	}
	if r.advPeer, err = advertised("AdvertisePeerURLs", c.AdvertisePeerURLs, "ListenPeerURLs", r.listenPeer, ps); err != nil {
		return nil, err
	}
	r.state = c.ClusterState
	if r.state == "" {
		r.state = ClusterStateNew
	}
	if r.state != ClusterStateNew && r.state != ClusterStateExisting {
		return nil, cfgErr("ClusterState", c.ClusterState, `must be "new" or "existing"`)
	}
	mine := urlStrings(r.advPeer)
	r.initialCluster = c.InitialCluster
	if r.initialCluster == "" {
		parts := make([]string, len(mine))
		for i, u := range mine {
			parts[i] = c.Name + "=" + u
		}
		r.initialCluster = strings.Join(parts, ",")
	}
	members, normalized, err := parseInitialCluster(r.initialCluster, ps)
	if err != nil {
		return nil, err
	}
	r.initialCluster = normalized
	listed, ok := members[c.Name]
	if !ok {
		return nil, cfgErr("InitialCluster", c.InitialCluster, fmt.Sprintf("does not list this member %q", c.Name))
	}
	slices.Sort(listed)
	if !slices.Equal(listed, slices.Sorted(slices.Values(mine))) {
		return nil, cfgErr("InitialCluster", c.InitialCluster, fmt.Sprintf("lists %s=%v but AdvertisePeerURLs are %v", c.Name, listed, mine))
	}
	for _, u := range r.advPeer {
		if u.Port() == "0" && len(members) > 1 {
			return nil, cfgErr("AdvertisePeerURLs", mine, "port 0 only works for a single-member cluster")
		}
	}
	hb, el := c.HeartbeatInterval, c.ElectionTimeout
	if hb == 0 {
		hb = 100 * time.Millisecond
	}
	if el == 0 {
		el = time.Second
	}
	switch {
	case hb < time.Millisecond || hb%time.Millisecond != 0:
		return nil, cfgErr("HeartbeatInterval", hb, "must be a positive whole number of milliseconds")
	case el%time.Millisecond != 0:
		return nil, cfgErr("ElectionTimeout", el, "must be a whole number of milliseconds")
	case el < 5*hb:
		return nil, cfgErr("ElectionTimeout", el, fmt.Sprintf("must be at least 5 × HeartbeatInterval (%v)", hb))
	case el > 50*time.Second:
		return nil, cfgErr("ElectionTimeout", el, "must be at most 50s")
	}
	r.tickMs, r.electionMs = uint(hb/time.Millisecond), uint(el/time.Millisecond)
	return r, nil
}

// normalizeURL turns "host:port" into "scheme://host:port".
func normalizeURL(s, scheme string) string {
	if !strings.Contains(s, "://") {
		return scheme + "://" + s
	}
	return s
}

// parseURLs parses in; scheme ("http" or "https", as the side has TLS or
// not) is the default and the only scheme accepted.
func parseURLs(field string, in []string, listen bool, scheme string) ([]url.URL, error) {
	if len(in) == 0 {
		return nil, cfgErr(field, in, "must list at least one URL")
	}
	out := make([]url.URL, 0, len(in))
	for _, s := range in {
		u, err := url.Parse(normalizeURL(strings.TrimSpace(s), scheme))
		if err != nil {
			return nil, cfgErr(field, s, err.Error())
		}
		if u.Scheme != scheme {
			if scheme == "https" {
				return nil, cfgErr(field, s, "scheme must be https (TLS is configured)")
			}
			return nil, cfgErr(field, s, "scheme must be http (https needs a TLS certificate and key)")
		}
		if u.Port() == "" || u.Path != "" && u.Path != "/" {
			return nil, cfgErr(field, s, "must be host:port")
		}
		if !listen && u.Hostname() == "" {
			return nil, cfgErr(field, s, "needs a host")
		}
		u.Path = ""
		out = append(out, *u)
	}
	return out, nil
}

func advertised(field string, in []string, listenField string, listen []url.URL, scheme string) ([]url.URL, error) {
	if len(in) > 0 {
		out, err := parseURLs(field, in, false, scheme)
		if err != nil {
			return nil, err
		}
		for _, u := range out {
			if unspecifiedHost(u.Hostname()) {
				return nil, cfgErr(field, u.String(), "must name a reachable host, not an unspecified address")
			}
			if u.Port() == "0" {
				return nil, cfgErr(field, u.String(), "port 0 cannot be advertised; leave it empty to advertise the listen URL")
			}
		}
		return out, nil
	}
	for _, u := range listen {
		if unspecifiedHost(u.Hostname()) {
			return nil, cfgErr(field, in, fmt.Sprintf("must be set when %s listens on an unspecified address (%s)", listenField, u.String()))
		}
	}
	return slices.Clone(listen), nil
}

func unspecifiedHost(h string) bool {
	if h == "" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsUnspecified()
}

// parseInitialCluster parses name=peerURL,... into name -> URLs, and
// returns it re-joined with every URL in scheme:// form (etcd's syntax).
func parseInitialCluster(s, scheme string) (map[string][]string, string, error) {
	out := map[string][]string{}
	var parts []string
	for _, part := range strings.Split(s, ",") {
		name, u, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || u == "" {
			return nil, "", cfgErr("InitialCluster", s, "must be name=peerURL,...")
		}
		pu, err := parseURLs("InitialCluster", []string{u}, false, scheme)
		if err != nil {
			return nil, "", err
		}
		out[name] = append(out[name], pu[0].String())
		parts = append(parts, name+"="+pu[0].String())
	}
	return out, strings.Join(parts, ","), nil
}

func urlStrings(us []url.URL) []string {
	out := make([]string, len(us))
	for i := range us {
		out[i] = us[i].String()
	}
	return out
}

// Member is a running embedded etcd member.
type Member struct {
	e         *embed.Etcd
	name      string
	clientEPs []string
	peerEPs   []string
	errc      chan error
	closing   chan struct{}
	done      chan struct{}
	mute      *atomic.Bool
	closeOnce sync.Once
}

// quietMessages are etcd warnings that say nothing useful in Tandem's setup.
var quietMessages = []string{
	"Running http and grpc server on single port",
	"simple token is not cryptographically signed",
}

// StartMember starts an embedded etcd member and waits, bounded by ctx,
// until it serves clients (for a new multi-member cluster, that needs a
// quorum of members started). etcd logs at warn level and above go to
// cfg.Logger.
func StartMember(ctx context.Context, cfg MemberConfig) (*Member, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("arbiter: member %s: %w", cfg.Name, err)
	}
	mute := new(atomic.Bool)
	ecfg := embed.NewConfig()
	ecfg.Name = cfg.Name
	ecfg.Dir = cfg.DataDir
	ecfg.ListenClientUrls, ecfg.AdvertiseClientUrls = r.listenClient, r.advClient
	ecfg.ListenPeerUrls, ecfg.AdvertisePeerUrls = r.listenPeer, r.advPeer
	ecfg.InitialCluster = r.initialCluster
	ecfg.ClusterState = r.state
	ecfg.InitialClusterToken = "tandem-arbiter"
	if cfg.ClientTLS.Enabled() {
		ecfg.ClientTLSInfo = cfg.ClientTLS.info(false)
	}
	if cfg.PeerTLS.Enabled() {
		ecfg.PeerTLSInfo = cfg.PeerTLS.info(true)
	}
	ecfg.TickMs, ecfg.ElectionMs = r.tickMs, r.electionMs
	ecfg.LogLevel = "warn"
	ecfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(
		newZapLogger(cfg.Logger, zapcore.WarnLevel, "etcd", mute).WithOptions(dropMessages(quietMessages)))
	// Member status keys are rewritten often; keep an hour of history
	// (enough for any watcher to catch up) and compact the rest.
	ecfg.AutoCompactionMode = embed.CompactorModePeriodic
	ecfg.AutoCompactionRetention = "1h"
	// Let clients ping every second to notice a dead connection quickly.
	ecfg.GRPCKeepAliveMinTime = time.Second
	for _, u := range r.listenClient {
		if u.Port() == "0" {
			// The HTTP/JSON gateway dials the configured listen address,
			// which would be port 0; Tandem uses gRPC only.
			ecfg.EnableGRPCGateway = false
		}
	}
	e, err := embed.StartEtcd(ecfg)
	if err != nil {
		return nil, fmt.Errorf("arbiter: start member %s: %w", cfg.Name, err)
	}
	fail := func(err error) (*Member, error) {
		mute.Store(true)
		e.Close()
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-ctx.Done():
		return fail(fmt.Errorf("arbiter: start member %s: waiting to serve: %w", cfg.Name, ctx.Err()))
	case <-e.Server.StopNotify():
		return fail(fmt.Errorf("arbiter: start member %s: %w", cfg.Name, ErrMemberStopped))
	case err := <-e.Err():
		return fail(fmt.Errorf("arbiter: start member %s: %w", cfg.Name, err))
	}
	m := &Member{
		e:       e,
		name:    cfg.Name,
		errc:    make(chan error, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		mute:    mute,
	}
	var clientAddrs, peerAddrs []net.Addr
	for _, l := range e.Clients {
		clientAddrs = append(clientAddrs, l.Addr())
	}
	for _, p := range e.Peers {
		peerAddrs = append(peerAddrs, p.Listener.Addr())
	}
	m.clientEPs = boundURLs(r.advClient, clientAddrs)
	m.peerEPs = boundURLs(r.advPeer, peerAddrs)
	go m.monitor()
	return m, nil
}

func (m *Member) monitor() {
	defer close(m.done)
	defer close(m.errc)
	for {
		select {
		case <-m.closing:
			return
		case err, ok := <-m.e.Err():
			if !ok {
				return
			}
			if err != nil {
				m.report(fmt.Errorf("arbiter: member %s: %w: %w", m.name, ErrMemberStopped, err))
				return
			}
		case <-m.e.Server.StopNotify():
			m.report(fmt.Errorf("arbiter: member %s: %w", m.name, ErrMemberStopped))
			return
		}
	}
}

func (m *Member) report(err error) {
	select {
	case <-m.closing:
	default:
		m.errc <- err
	}
}

// Name is the member's name.
func (m *Member) Name() string { return m.name }

// ClientEndpoints are the URLs clients should dial: the advertised client
// URLs, with port 0 replaced by the port actually bound.
func (m *Member) ClientEndpoints() []string { return slices.Clone(m.clientEPs) }

// PeerEndpoints are the advertised peer URLs, with port 0 replaced by the
// port actually bound.
func (m *Member) PeerEndpoints() []string { return slices.Clone(m.peerEPs) }

// Err delivers at most one error: the member stopped serving without Close
// (it wraps ErrMemberStopped). The channel is closed once the member has
// stopped, so a receive of nil means it was closed.
func (m *Member) Err() <-chan error { return m.errc }

// Close stops the member and releases its ports and data directory. It is
// safe to call more than once. It takes about a second, and up to etcd's
// request timeout (5 s + 2 election timeouts) while clients still hold
// streams (watches, lease keep-alives) on it: in-process users should close
// their Client first.
func (m *Member) Close() {
	m.closeOnce.Do(func() {
		close(m.closing)
		m.mute.Store(true)
		m.e.Close()
		<-m.done
	})
}

// boundURLs returns adv with each port-0 URL's port replaced by the port of
// a bound listener on the same host (the first unused one when no host
// matches).
func boundURLs(adv []url.URL, bound []net.Addr) []string {
	fixed := map[int]bool{}
	for _, u := range adv {
		if p, _ := strconv.Atoi(u.Port()); p != 0 {
			fixed[p] = true
		}
	}
	used := map[string]bool{}
	pick := func(host string, matchHost bool) *net.TCPAddr {
		for _, a := range bound {
			ta, ok := a.(*net.TCPAddr)
			if !ok || used[ta.String()] || fixed[ta.Port] {
				continue
			}
			if matchHost && !ta.IP.Equal(net.ParseIP(host)) {
				continue
			}
			used[ta.String()] = true
			return ta
		}
		return nil
	}
	out := make([]string, 0, len(adv))
	for _, u := range adv {
		if u.Port() == "0" {
			ta := pick(u.Hostname(), true)
			if ta == nil {
				ta = pick("", false)
			}
			if ta != nil {
				u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(ta.Port))
			}
		}
		out = append(out, u.String())
	}
	return out
}
