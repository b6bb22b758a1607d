package arbiter

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// StatusReport is the JSON object `tandem status --json` prints for one
// group. Field names are stable; scripts and tests rely on them.
type StatusReport struct {
	Group      string         `json:"group"`
	Leader     string         `json:"leader"`      // leader's node id, "" when none
	LeaderAddr string         `json:"leader_addr"` // leader's client address, "" when none
	Epoch      uint64         `json:"epoch"`       // last epoch handed out
	Members    []MemberReport `json:"members"`     // live members, sorted by node id; [] when none
	SyncNodes  []string       `json:"sync_nodes"`  // the sync set; null when never written
	SyncEpoch  uint64         `json:"sync_epoch"`  // epoch of the leader that wrote the sync set
	Revision   int64          `json:"revision"`    // etcd revision of the snapshot
	// Mode is the group's recorded acknowledgement mode (sync, async); ""
	// until the first election records it.
	Mode string `json:"mode"`
}

// MemberReport is one member in a StatusReport.
type MemberReport struct {
	NodeID string `json:"node_id"`
	// Incarnation is the member's data dir incarnation ("" from older
	// nodes): the sync set names members node@incarnation.
	Incarnation string `json:"incarnation"`
	Role        string `json:"role"`
	Leader      bool   `json:"leader"` // holds the leader key
	InSync      bool   `json:"in_sync"`
	Epoch       uint64 `json:"epoch"`
	DurableLSN  uint64 `json:"durable_lsn"`
	AppliedLSN  uint64 `json:"applied_lsn"`
	// Lag is the leader's durable LSN minus this member's; null when the
	// leader has no member status.
	Lag      *int64 `json:"lag"`
	Addr     string `json:"addr"`
	PeerAddr string `json:"peer_addr"`
	HTTPAddr string `json:"http_addr"`
	AgeMs    int64  `json:"age_ms"` // now - the status's UpdatedUnixMs
	// StateDigest is the member's state digest at StateDigestLSN (see
	// MemberStatus); "" until it has published one.
	StateDigest    string `json:"state_digest"`
	StateDigestLSN uint64 `json:"state_digest_lsn"`
	// WaitingForStandby: the member (an active in sync mode) holds client
	// writes back because its sync set lists fewer standbys than
	// required, since WaitingSinceUnixMs (its clock; 0 when not waiting).
	// WaitingMs is now - WaitingSinceUnixMs.
	WaitingForStandby  bool  `json:"waiting_for_standby"`
	WaitingSinceUnixMs int64 `json:"waiting_since_unix_ms,omitempty"`
	WaitingMs          int64 `json:"waiting_ms,omitempty"`
}

// Report summarizes s as of now.
func (s *GroupStatus) Report(now time.Time) StatusReport {
	r := StatusReport{Group: s.Group, Epoch: s.Epoch, Revision: s.Rev, Members: []MemberReport{}}
	var leaderLSN *uint64
	if s.Leader != nil {
		r.Leader, r.LeaderAddr = s.Leader.NodeID, s.Leader.Addr
		for _, m := range s.Members {
			if m.NodeID == s.Leader.NodeID {
				lsn := m.DurableLSN
				leaderLSN = &lsn
			}
		}
	}
	if s.Mode != nil {
		r.Mode = s.Mode.Mode
	}
	if s.Sync != nil {
		r.SyncNodes, r.SyncEpoch = normNodes(s.Sync.Nodes), s.Sync.Epoch
	}
	for _, m := range s.Members {
		mr := MemberReport{
			NodeID: m.NodeID, Incarnation: m.Incarnation, Role: m.Role, Epoch: m.Epoch,
			Leader:     s.Leader != nil && s.Leader.NodeID == m.NodeID,
			InSync:     s.Sync.Admits(m.NodeID, m.Incarnation, m.LegacyIncarnation),
			DurableLSN: m.DurableLSN, AppliedLSN: m.AppliedLSN,
			Addr: m.Addr, PeerAddr: m.PeerAddr, HTTPAddr: m.HTTPAddr,
			StateDigest: m.StateDigest, StateDigestLSN: m.StateDigestLSN,
			WaitingForStandby: m.WaitingSinceUnixMs != 0, WaitingSinceUnixMs: m.WaitingSinceUnixMs,
		}
		if leaderLSN != nil {
			lag := int64(*leaderLSN - m.DurableLSN)
			mr.Lag = &lag
		}
		if m.UpdatedUnixMs != 0 {
			mr.AgeMs = max(0, now.UnixMilli()-m.UpdatedUnixMs)
		}
		if m.WaitingSinceUnixMs != 0 {
			mr.WaitingMs = max(0, now.UnixMilli()-m.WaitingSinceUnixMs)
		}
		r.Members = append(r.Members, mr)
	}
	return r
}

// WriteTable writes the reports for a person to read: one block per group,
// a header line and one row per member ("*" marks the leader, "s" a member
// of the sync set, at the incarnation shown last; a member holding client
// writes back for want of sync standbys gets a NOTE "waiting-for-standby"
// and how long).
func WriteTable(w io.Writer, reports []StatusReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		leader := "none"
		if r.Leader != "" {
			leader = r.Leader
			if r.LeaderAddr != "" {
				leader += " (" + r.LeaderAddr + ")"
			}
		}
		sync := "-"
		if r.SyncNodes != nil {
			sync = fmt.Sprintf("[%s] @%d", strings.Join(r.SyncNodes, " "), r.SyncEpoch)
		}
		mode := ""
		if r.Mode != "" {
			mode = "  mode " + r.Mode
		}
		fmt.Fprintf(tw, "group %s  leader %s  epoch %d  sync %s%s\n", r.Group, leader, r.Epoch, sync, mode)
		if len(r.Members) == 0 {
			fmt.Fprintln(tw, "  (no live members)")
			continue
		}
		fmt.Fprintln(tw, "  \tNODE\tROLE\tEPOCH\tDURABLE\tAPPLIED\tLAG\tADDR\tAGE\tINCARNATION")
		for _, m := range r.Members {
			mark := ""
			if m.Leader {
				mark += "*"
			}
			if m.InSync {
				mark += "s"
			}
			lag := "-"
			if m.Lag != nil {
				lag = fmt.Sprint(*m.Lag)
			}
			age := time.Duration(m.AgeMs) * time.Millisecond
			note := ""
			if m.WaitingForStandby {
				note = fmt.Sprintf("\twaiting-for-standby (%s)", roundAge(time.Duration(m.WaitingMs)*time.Millisecond))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s%s\n",
				mark, m.NodeID, dash(m.Role), m.Epoch, m.DurableLSN, m.AppliedLSN, lag, dash(m.Addr), roundAge(age), dash(m.Incarnation), note)
		}
	}
	return tw.Flush()
}

// roundAge rounds d for a table: to 100 ms under a minute, else to seconds.
func roundAge(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
