package cdc

import (
	"context"

	"github.com/tandem-db/tandem/internal/engine"
)

// EngineApplier applies a subscription to an engine through its WAL
// (engine.ApplyUpstream): each record becomes one local RecUpstream
// record carrying its upstream position, so the position is part of the
// replicated state and Resume reads it back from the catalog.
type EngineApplier struct {
	Eng *engine.Engine
}

// Resume implements Applier.
func (a *EngineApplier) Resume() (string, Position, bool) {
	p := a.Eng.UpstreamPosition()
	return p.Source, Position{Epoch: p.Epoch, LSN: p.LSN}, false
}

// Apply implements Applier.
func (a *EngineApplier) Apply(ctx context.Context, source string, recs []Record) error {
	ups := make([]engine.UpstreamRecord, len(recs))
	for i, r := range recs {
		pos := engine.UpstreamPos{Source: source, Epoch: r.Epoch, LSN: r.LSN}
		if r.Flags&FlagSnapshot != 0 {
			pos.Epoch, pos.LSN = 0, 0 // inside a snapshot: not a resume point
		}
		ups[i] = engine.UpstreamRecord{Pos: pos, Type: r.Type, Payload: r.Payload}
	}
	lsn, err := a.Eng.ApplyUpstream(ctx, ups)
	if err != nil {
		return err
	}
	// One fsync per batch (the WAL syncs when someone waits for it).
	return a.Eng.WaitDurable(ctx, lsn)
}
