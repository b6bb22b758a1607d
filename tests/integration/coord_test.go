package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var coordReady = regexp.MustCompile(`tandem coord serving.* http=(\S+)`)

// coordProc is a running `tandem coord`.
type coordProc struct {
	*proc
	id, http string
}

func startCoord(t *testing.T, arbiters, cluster, id string, extra ...string) *coordProc {
	t.Helper()
	args := append([]string{"coord", "--cluster", cluster, "--arbiter", arbiters, "--id", id,
		"--http-listen", "127.0.0.1:0", "--session-ttl", "1s"}, extra...)
	p, m := startProc(t, "coord-"+id, coordReady, args...)
	return &coordProc{proc: p, id: id, http: m[1]}
}

type clusterStatusJSON struct {
	Roles []struct {
		Role     string   `json:"role"`
		Active   string   `json:"active"`
		FenceRev int64    `json:"fence_rev"`
		Standbys []string `json:"standbys"`
	} `json:"roles"`
	Coordinators []struct {
		ID string `json:"id"`
	} `json:"coordinators"`
	IDHighWater int64 `json:"id_high_water"`
	Revision    int64 `json:"revision"`
}

func clusterStatus(t *testing.T, arbiters, cluster string) (*clusterStatusJSON, error) {
	t.Helper()
	out, err := exec.Command(tandemBin, "status", "--arbiter", arbiters, "--cluster", cluster, "--json").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("tandem status --cluster: %v: %s", err, out)
	}
	var st clusterStatusJSON
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	return &st, nil
}

func (s *clusterStatusJSON) active(role string) string {
	for _, r := range s.Roles {
		if r.Role == role {
			return r.Active
		}
	}
	return ""
}

func awaitCluster(t *testing.T, arbiters, cluster, what string, cond func(*clusterStatusJSON) bool) *clusterStatusJSON {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := clusterStatus(t, arbiters, cluster)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: last %+v, %v", what, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// allocIDs asks a coordinator's side port for n ids.
func allocIDs(addr string, n int) (first int64, code int, body string, err error) {
	resp, err := http.Post(fmt.Sprintf("http://%s/v1/alloc/ids?count=%d", addr, n), "", nil)
	if err != nil {
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		First int64  `json:"first"`
		Error string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return out.First, resp.StatusCode, out.Error, nil
}

// TestCoordinatorTakeoverAndFencing runs two real coordinators on a real
// arbiter. The first holds every role; SIGKILLed, the second takes each
// role over. Then the second is SIGSTOPped past its session: the first
// (restarted) takes over, and after SIGCONT the paused one can reserve no
// ids: the high-water mark in etcd is unchanged by it (fencing), and ids
// never repeat.
func TestCoordinatorTakeoverAndFencing(t *testing.T) {
	arb := startArbiters(t, 1)
	eps := arb.Endpoints
	if _, err := clusterStatus(t, eps, "nope"); err == nil || !strings.Contains(err.Error(), `no such cluster: "nope"`) {
		t.Fatalf("status of a cluster that does not exist: %v", err)
	}
	c1 := startCoord(t, eps, "cl", "c1")
	awaitCluster(t, eps, "cl", "c1 active in every role", func(s *clusterStatusJSON) bool {
		for _, r := range s.Roles {
			if r.Active != "c1" {
				return false
			}
		}
		return true
	})
	c2 := startCoord(t, eps, "cl", "c2")
	awaitCluster(t, eps, "cl", "c2 queued", func(s *clusterStatusJSON) bool {
		return len(s.Coordinators) == 2 && len(s.Roles[0].Standbys) == 1
	})
	first1, code, msg, err := allocIDs(c1.http, 10)
	if err != nil || code != 200 {
		t.Fatalf("alloc on c1: %d %s %v", code, msg, err)
	}
	if _, code, msg, _ := allocIDs(c2.http, 10); code != 503 || !strings.Contains(msg, "not the active") {
		t.Fatalf("alloc on the standby c2: %d %q, want 503 not the active", code, msg)
	}

	killed := time.Now()
	c1.Kill()
	awaitCluster(t, eps, "cl", "c2 active in every role", func(s *clusterStatusJSON) bool {
		for _, r := range s.Roles {
			if r.Active != "c2" {
				return false
			}
		}
		return true
	})
	t.Logf("roles taken over %v after SIGKILL of their active (session TTL 1s)", time.Since(killed).Round(time.Millisecond))
	first2, code, msg, err := allocIDs(c2.http, 10)
	if err != nil || code != 200 || first2 <= first1+9 {
		t.Fatalf("alloc on c2 after takeover: first %d (c1's batch started at %d), %d %s %v", first2, first1, code, msg, err)
	}

	// Pause c2 past its session; c1 comes back and takes over.
	c2.cmd.Process.Signal(syscall.SIGSTOP)
	c1 = startCoord(t, eps, "cl", "c1")
	st := awaitCluster(t, eps, "cl", "c1 active again while c2 is paused", func(s *clusterStatusJSON) bool {
		return s.active("root") == "c1"
	})
	first3, code, msg, err := allocIDs(c1.http, 10)
	if err != nil || code != 200 || first3 <= first2+9 {
		t.Fatalf("alloc on c1 after c2's pause: first %d (c2's started at %d), %d %s %v", first3, first2, code, msg, err)
	}
	st, _ = clusterStatus(t, eps, "cl")
	mark := st.IDHighWater
	c2.cmd.Process.Signal(syscall.SIGCONT)
	// Ask the resumed coordinator for more ids than its old batch holds, so
	// that it has to reserve in etcd: refused, nothing changed.
	_, code, msg, err = allocIDs(c2.http, 50000)
	if err != nil || code == 200 {
		t.Fatalf("the resumed coordinator reserved ids after losing the root role: %d %s %v", code, msg, err)
	}
	t.Logf("resumed coordinator refused: %d %s", code, msg)
	st, _ = clusterStatus(t, eps, "cl")
	if st.IDHighWater != mark {
		t.Fatalf("alloc/id changed from %d to %d after the paused coordinator resumed", mark, st.IDHighWater)
	}
	if st.active("root") != "c1" {
		t.Fatalf("root active after c2 resumed: %q", st.active("root"))
	}
	// c2 rejoins as a standby once it noticed its session ended.
	awaitCluster(t, eps, "cl", "c2 back as a standby", func(s *clusterStatusJSON) bool {
		return len(s.Coordinators) == 2 && len(s.Roles[0].Standbys) == 1 && s.Roles[0].Standbys[0] == "c2"
	})
}
