package chaos

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/wal"
)

// Cut is one cut of a node's log, as its DataDir/diverged/*.json summary
// reports it: the loss window of an asynchronous failover, records
// (CutAfter, LastLSN] of the old active's log.
type Cut struct {
	Node         string `json:"-"`
	Summary      string `json:"-"`
	CutAfter     uint64 `json:"cut_after"`
	FirstLSN     uint64 `json:"first_lsn"`
	LastLSN      uint64 `json:"last_lsn"`
	Records      uint64 `json:"records"`
	Saved        uint64 `json:"saved"`
	UnsavedFirst uint64 `json:"unsaved_first_lsn"`
	UnsavedLast  uint64 `json:"unsaved_last_lsn"`
	File         string `json:"file"`
}

// DivergedHit says where a row was found among the cut records.
type DivergedHit struct {
	Node     string
	File     string
	Epoch    uint64
	LSN      uint64
	InWindow bool // CutAfter < LSN <= LastLSN of the file's summary
}

// FindInDiverged reads every node's diverged/ directory (dataDirs: node id
// -> data directory) and looks for the rows ids in the insert and upsert
// records saved there. The engine stores an int64 primary key column as
// the keys' little-endian bytes, so a row is found by its key's 8 bytes
// in a record's payload (the chaos workload's keys are large and
// distinctive, so a false match is not a practical concern). It returns
// the hits by id and every cut found.
func FindInDiverged(dataDirs map[string]string, ids []int64) (map[int64]DivergedHit, []Cut, error) {
	hits := map[int64]DivergedHit{}
	var cuts []Cut
	want := map[int64][]byte{}
	for _, id := range ids {
		b := binary.LittleEndian.AppendUint64(nil, uint64(id))
		want[id] = b
	}
	nodes := make([]string, 0, len(dataDirs))
	for n := range dataDirs {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, node := range nodes {
		dir := filepath.Join(dataDirs[node], "diverged")
		ents, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		for _, ent := range ents {
			if !strings.HasSuffix(ent.Name(), ".json") {
				continue
			}
			path := filepath.Join(dir, ent.Name())
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, nil, err
			}
			var c Cut
			if err := json.Unmarshal(b, &c); err != nil {
				return nil, nil, fmt.Errorf("chaos: %s: %w", path, err)
			}
			c.Node, c.Summary = node, path
			cuts = append(cuts, c)
			if c.File == "" {
				continue
			}
			walPath := filepath.Join(dir, c.File)
			err = wal.ReadFile(walPath, func(r wal.Record) error {
				if r.Type != engine.RecInsert && r.Type != engine.RecUpsert {
					return nil
				}
				for id, key := range want {
					if _, done := hits[id]; done {
						continue
					}
					if bytes.Contains(r.Payload, key) {
						hits[id] = DivergedHit{Node: node, File: walPath, Epoch: r.Epoch, LSN: r.LSN,
							InWindow: r.LSN > c.CutAfter && r.LSN <= c.LastLSN}
					}
				}
				return nil
			})
			if err != nil {
				return nil, nil, err
			}
		}
	}
	return hits, cuts, nil
}
