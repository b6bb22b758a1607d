package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/testutil"
)

// externalEtcd is the Debian package's etcd server binary.
const externalEtcd = "/usr/bin/etcd"

// startExternalEtcd starts a 3-member cluster of real etcd processes (the
// Debian etcd-server package) on loopback and returns its client endpoints.
func startExternalEtcd(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(externalEtcd); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing: .ci/run installs the Debian package etcd-server", externalEtcd)
		}
		t.Skipf("%s not installed (apt-get install etcd-server)", externalEtcd)
	}
	ports := testutil.FreePorts(t, 6)
	var initial, eps []string
	for i := 0; i < 3; i++ {
		initial = append(initial, fmt.Sprintf("e%d=http://127.0.0.1:%d", i+1, ports[2*i+1]))
		eps = append(eps, fmt.Sprintf("127.0.0.1:%d", ports[2*i]))
	}
	ready := regexp.MustCompile(`serving client traffic|ready to serve client requests`)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	procs := make([]*proc, 3)
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("e%d", i+1)
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		cmd := exec.Command(externalEtcd, "--name", name, "--data-dir", filepath.Join(t.TempDir(), name),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "tandem-test", "--logger", "zap")
		procs[i] = runProc(t, name, cmd)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, _, _, errs[i] = procs[i].WaitLine(ready, 0, 60*time.Second)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("etcd e%d: %v\n%s", i+1, err, procs[i].Logs())
		}
	}
	return strings.Join(eps, ",")
}

// TestHAGroupExternalEtcd runs the group against an external 3-member etcd
// cluster (Debian's etcd-server): one active, SIGKILL failover to a higher
// epoch, the killed node back as a standby.
func TestHAGroupExternalEtcd(t *testing.T) {
	eps := startExternalEtcd(t)
	var nodes []*haNode
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("x%d", i)
		nodes = append(nodes, startHANode(t, id, filepath.Join(t.TempDir(), id), eps))
	}
	st := awaitStatus(t, eps, 30*time.Second, "one active", oneActive(1))
	old := byID(nodes, st.Leader)
	t0 := time.Now()
	old.Kill()
	st2 := awaitStatus(t, eps, 30*time.Second, "a new active", oneActive(st.Epoch+1))
	t.Logf("external etcd: killed %s (epoch %d); %s active at epoch %d, seen after %v", old.ID, st.Epoch, st2.Leader, st2.Epoch, time.Since(t0))
	restarted := startHANode(t, old.ID, old.dir, eps)
	awaitStatus(t, eps, 30*time.Second, old.ID+" back as standby", func(s *statusJSON) bool {
		for _, m := range s.Members {
			if m.NodeID == restarted.ID {
				return m.Role == "standby" && s.Leader == st2.Leader
			}
		}
		return false
	})
}
