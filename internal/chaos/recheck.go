package chaos

import (
	"os"
	"path/filepath"
	"time"
)

// Recheck runs the register checker again over a kept run folder (its
// history.jsonl; in async mode also the nodes' diverged/ files under
// cluster/nodes), e.g. after changing the checker or to get the
// visualizations: written to vizDir when it is not "".
func Recheck(dir, mode string, timeout time.Duration, vizDir string) (map[int]*RegisterResult, error) {
	ops, err := ReadOps(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return nil, err
	}
	if mode == ModeAsync {
		dirs := map[string]string{}
		ents, _ := os.ReadDir(filepath.Join(dir, "cluster", "nodes"))
		for _, e := range ents {
			dirs[e.Name()] = filepath.Join(dir, "cluster", "nodes", e.Name())
		}
		ops, _ = AsyncRegisters(ops, dirs)
	}
	return CheckRegisters(ops, timeout, vizDir), nil
}
