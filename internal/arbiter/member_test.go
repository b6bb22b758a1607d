package arbiter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/testutil"
)

func TestMemberConfigValidate(t *testing.T) {
	ok := DefaultMemberConfig("a", "/tmp/x")
	if err := ok.Validate(); err != nil {
		t.Fatalf("DefaultMemberConfig: %v", err)
	}
	for _, tc := range []struct {
		field string
		edit  func(*MemberConfig)
	}{
		{"Name", func(c *MemberConfig) { c.Name = "" }},
		{"Name", func(c *MemberConfig) { c.Name = "a=b" }},
		{"DataDir", func(c *MemberConfig) { c.DataDir = "" }},
		{"ListenClientURLs", func(c *MemberConfig) { c.ListenClientURLs = nil }},
		{"ListenClientURLs", func(c *MemberConfig) { c.ListenClientURLs = []string{"https://127.0.0.1:2379"} }},
		{"ListenPeerURLs", func(c *MemberConfig) { c.ListenPeerURLs = []string{"127.0.0.1"} }},
		{"AdvertiseClientURLs", func(c *MemberConfig) { c.ListenClientURLs = []string{"0.0.0.0:2379"} }},
		{"AdvertiseClientURLs", func(c *MemberConfig) { c.AdvertiseClientURLs = []string{"0.0.0.0:2379"} }},
		{"AdvertisePeerURLs", func(c *MemberConfig) { c.ListenPeerURLs = []string{":2380"} }},
		{"AdvertisePeerURLs", func(c *MemberConfig) { c.AdvertisePeerURLs = []string{"10.0.0.1:0"} }},
		{"InitialCluster", func(c *MemberConfig) { c.InitialCluster = "b=http://127.0.0.1:2380" }},
		{"InitialCluster", func(c *MemberConfig) { c.InitialCluster = "a=http://127.0.0.1:2381" }},
		{"InitialCluster", func(c *MemberConfig) { c.InitialCluster = "a" }},
		{"AdvertisePeerURLs", func(c *MemberConfig) {
			c.ListenPeerURLs = []string{"127.0.0.1:0"}
			c.InitialCluster = "a=http://127.0.0.1:0,b=http://10.0.0.2:2380"
		}},
		{"ClusterState", func(c *MemberConfig) { c.ClusterState = "old" }},
		{"HeartbeatInterval", func(c *MemberConfig) { c.HeartbeatInterval = 500 * time.Microsecond }},
		{"ElectionTimeout", func(c *MemberConfig) { c.ElectionTimeout = 400 * time.Millisecond }},
		{"ElectionTimeout", func(c *MemberConfig) { c.ElectionTimeout = time.Minute }},
	} {
		c := DefaultMemberConfig("a", "/tmp/x")
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "MemberConfig."+tc.field+" ") {
			t.Errorf("%+v: Validate() = %v, want an ErrInvalidConfig naming %s", c, err, tc.field)
		}
	}
	// host:port works as a URL; advertise defaults to listen.
	c := DefaultMemberConfig("a", "/tmp/x")
	c.ListenClientURLs = []string{"127.0.0.1:2379"}
	c.ListenPeerURLs = []string{"127.0.0.1:2380"}
	c.InitialCluster = "a=127.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.ListenPeerURLs = []string{"0.0.0.0:2380"}
	c.AdvertisePeerURLs = []string{"127.0.0.1:2380"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBoundURLs(t *testing.T) {
	parse := func(ss ...string) []url.URL {
		var out []url.URL
		for _, s := range ss {
			u, _ := url.Parse(s)
			out = append(out, *u)
		}
		return out
	}
	tcp := func(ip string, port int) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
	got := boundURLs(parse("http://127.0.0.1:0", "http://10.1.1.1:2379", "http://localhost:0"),
		[]net.Addr{tcp("10.1.1.1", 2379), tcp("127.0.0.2", 41000), tcp("127.0.0.1", 40000)})
	want := []string{"http://127.0.0.1:40000", "http://10.1.1.1:2379", "http://localhost:41000"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("boundURLs = %v, want %v", got, want)
	}
}

// TestMemberLifecycle starts a member on port 0, checks the reported URLs
// are real, and that Err is closed (not an error) after Close.
func TestMemberLifecycle(t *testing.T) {
	cfg := loopbackConfig("solo", filepath.Join(t.TempDir(), "etcd"))
	m, err := StartMember(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	eps := m.ClientEndpoints()
	if len(eps) != 1 || strings.HasSuffix(eps[0], ":0") || !strings.HasPrefix(eps[0], "http://127.0.0.1:") {
		t.Fatalf("ClientEndpoints() = %v", eps)
	}
	if p := m.PeerEndpoints(); len(p) != 1 || strings.HasSuffix(p[0], ":0") {
		t.Fatalf("PeerEndpoints() = %v", p)
	}
	c, err := Dial(ctxT(t), eps, DialOptions{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	g := c.Group("g")
	s, err := g.NewSession(ctxT(t), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if won, _, err := g.Campaign(ctxT(t), s, Leader{NodeID: "n1"}, Candidate{}); !won || err != nil {
		t.Fatalf("campaign: %v %v", won, err)
	}
	c.Close()
	m.Close()
	if err, ok := <-m.Err(); ok || err != nil {
		t.Fatalf("Err() after Close delivered %v, %v; want closed", err, ok)
	}
	m.Close() // idempotent

	// Restart on the same directory (new ports): the epoch survives, so it
	// keeps growing across restarts of tandem standalone.
	m2, err := StartMember(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer m2.Close()
	c2 := dialT(t, m2.ClientEndpoints())
	if e, err := c2.Group("g").Epoch(ctxT(t)); e != 1 || err != nil {
		t.Fatalf("epoch after restart = %d, %v; want 1", e, err)
	}
	// Bad config: no start, a named error.
	bad := loopbackConfig("", t.TempDir())
	if _, err := StartMember(ctxT(t), bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("StartMember with no name: %v", err)
	}
}

func isAddrInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}

// startCluster starts an n-member cluster in this process on loopback.
func startCluster(t *testing.T, n int) []*Member {
	t.Helper()
	for attempt := 0; ; attempt++ {
		ports := testutil.FreePorts(t, 2*n)
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
		}
		dir := t.TempDir()
		members := make([]*Member, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			cfg := loopbackConfig(fmt.Sprintf("m%d", i), filepath.Join(dir, fmt.Sprint(i)))
			cfg.ListenClientURLs = []string{fmt.Sprintf("127.0.0.1:%d", ports[2*i])}
			cfg.ListenPeerURLs = []string{fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])}
			cfg.InitialCluster = strings.Join(parts, ",")
			wg.Go(func() { members[i], errs[i] = StartMember(ctxT(t), cfg) })
		}
		wg.Wait()
		err := errors.Join(errs...)
		if err == nil {
			t.Cleanup(func() {
				var wg sync.WaitGroup
				for _, m := range members {
					wg.Go(m.Close)
				}
				wg.Wait()
			})
			return members
		}
		for _, m := range members {
			if m != nil {
				m.Close()
			}
		}
		if !isAddrInUse(err) || attempt == 2 {
			t.Fatalf("start %d-member cluster: %v", n, err)
		}
	}
}

// TestThreeMemberCluster runs the campaign race against a 3-member cluster,
// then crashes the etcd leader: the group's leader keeps its lease and key,
// and the arbiter keeps working on the two survivors. Clients reach each
// member through a TCP proxy, so the crash can cut their connections the
// way a dead machine does.
func TestThreeMemberCluster(t *testing.T) {
	members := startCluster(t, 3)
	var eps []string
	proxies := map[*Member]*tcpProxy{}
	for _, m := range members {
		u, _ := url.Parse(m.ClientEndpoints()[0])
		p := startProxy(t, u.Host)
		proxies[m] = p
		eps = append(eps, p.Addr())
	}
	c := dialT(t, eps)
	campaignRounds(t, c, "g3", 3, 2)

	g := c.Group("g3w")
	s := newSession(t, g, 5*time.Second)
	won, epoch, err := g.Campaign(ctxT(t), s, Leader{NodeID: "a"}, Candidate{})
	if !won || err != nil {
		t.Fatalf("campaign: %v %v", won, err)
	}
	var leader *Member
	var changed []<-chan struct{}
	for _, m := range members {
		if m.e.Server.Leader() == m.e.Server.MemberID() {
			leader = m
		} else {
			changed = append(changed, m.e.Server.LeaderChangedNotify())
		}
	}
	if leader == nil {
		t.Fatal("no etcd leader among the members")
	}
	// Crash it: clients' connections drop, raft stops without handing over.
	proxies[leader].Close()
	leader.e.Server.HardStop()
	for _, ch := range changed {
		select {
		case <-ch:
		case <-ctxT(t).Done():
			t.Fatal("no new etcd leader")
		}
	}
	// A renewal may first hit the dead connection; the client moves on to
	// a survivor. Only ErrLeaseLost would be a failure.
	for attempt := 1; ; attempt++ {
		err := s.KeepAliveOnce(ctxT(t))
		if err == nil {
			break
		}
		if errors.Is(err, ErrLeaseLost) || attempt == 10 {
			t.Fatalf("renew after losing etcd member %s: %v", leader.Name(), err)
		}
		t.Logf("renew attempt %d: %v", attempt, err)
	}
	if ok, err := g.IsLeader(ctxT(t), s, epoch); !ok || err != nil {
		t.Fatalf("IsLeader after losing etcd member %s: %v %v", leader.Name(), ok, err)
	}
	select {
	case <-s.Done():
		t.Fatal("session ended when one etcd member of three crashed")
	default:
	}
	s2 := newSession(t, g, 5*time.Second)
	if won, _, err := g.Campaign(ctxT(t), s2, Leader{NodeID: "b"}, Candidate{}); won || err != nil {
		t.Fatalf("second campaign = %v, %v; want lost", won, err)
	}
}

// tcpProxy forwards connections to target until Close, which also cuts
// every connection it carries.
type tcpProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *tcpProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{l: l, target: target, conns: map[net.Conn]bool{}}
	p.wg.Go(p.serve)
	t.Cleanup(p.Close)
	return p
}

func (p *tcpProxy) Addr() string { return p.l.Addr().String() }

func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *tcpProxy) serve() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		if !p.track(in) || !p.track(out) {
			in.Close()
			out.Close()
			continue
		}
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		p.wg.Go(func() { pipe(out, in) })
		p.wg.Go(func() { pipe(in, out) })
	}
}

func (p *tcpProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.l.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestExternalEtcd runs the campaign race against Debian's etcd (package
// etcd-server) started on loopback, when it is installed.
func TestExternalEtcd(t *testing.T) {
	bin := os.Getenv("TANDEM_TEST_ETCD")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("etcd"); err != nil {
			t.Skip("no external etcd binary (apt-get install etcd-server, or set TANDEM_TEST_ETCD)")
		}
	}
	ep := startExternalEtcd(t, bin)
	c := dialT(t, []string{ep})
	campaignRounds(t, c, "ext", 4, 3)
	// Lease expiry deletes the leader key there too.
	g := c.Group("ext-expiry")
	nodeClient, err := Dial(ctxT(t), []string{ep}, DialOptions{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := nodeClient.Group("ext-expiry").NewSession(ctxT(t), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if won, _, err := nodeClient.Group("ext-expiry").Campaign(ctxT(t), s, Leader{NodeID: "a"}, Candidate{}); !won || err != nil {
		t.Fatalf("campaign: %v %v", won, err)
	}
	_, rev, _ := g.Leader(ctxT(t))
	ch := g.Watch(ctxT(t), rev)
	nodeClient.Close()
	expect(t, ch, EventLeaderDeleted)
	t.Logf("external etcd: granted TTL %v for 1s", s.TTL())
}

// servingLine reports whether an etcd log line says it serves clients
// (etcd 3.4 with zap: "serving client traffic insecurely"; other versions
// and loggers: "ready to serve client requests", "serving insecure client
// requests").
func servingLine(line string) bool {
	for _, s := range []string{"serving client traffic insecurely", "ready to serve client requests", "serving insecure client requests"} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func startExternalEtcd(t *testing.T, bin string) string {
	t.Helper()
	for attempt := 0; ; attempt++ {
		ports := testutil.FreePorts(t, 2)
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		cmd := exec.Command(bin,
			"--name", "ext", "--data-dir", filepath.Join(t.TempDir(), "etcd"),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", "ext="+peer, "--logger", "zap", "--log-level", "info")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// etcd says when it serves; await that line (or its exit).
		ready := make(chan bool, 1)
		var tail strings.Builder
		go func() {
			sc := bufio.NewScanner(stderr)
			said := false
			for sc.Scan() {
				line := sc.Text()
				if !said {
					tail.WriteString(line + "\n")
				}
				if !said && servingLine(line) {
					said = true
					ready <- true
				}
			}
			if !said {
				ready <- false
			}
		}()
		var ok bool
		select {
		case ok = <-ready:
		case <-time.After(30 * time.Second):
		}
		if ok {
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
			})
			return client
		}
		cmd.Process.Kill()
		cmd.Wait()
		if !strings.Contains(tail.String(), "address already in use") || attempt == 2 {
			t.Fatalf("external etcd %s did not start:\n%s", bin, tail.String())
		}
	}
}
