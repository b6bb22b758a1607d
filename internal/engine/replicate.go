package engine

import (
	"fmt"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/wal"
)

// ApplyRecord applies a record received from another node (replication):
// it must be the next LSN (LastLSN()+1). The record is appended to this
// node's WAL with its own epoch and LSN, then applied through the same
// apply as local writes. It does not wait for durability (see
// WaitDurable). A record that does not decode or does not apply is
// rejected before it is written; a WAL failure fails the engine. The
// engine may keep rec.Payload (recent records for replication): it must
// not be modified afterwards.
func (e *Engine) ApplyRecord(rec wal.Record) error {
	return e.applyRecord(rec, false)
}

// ApplyRecordStartSync is ApplyRecord that also starts an fsync of the
// WAL once the record is written, before it is applied, so that the fsync
// runs while the record is applied (a standby about to wait for the
// record to be durable: the last record of a batch). It does not wait.
func (e *Engine) ApplyRecordStartSync(rec wal.Record) error {
	return e.applyRecord(rec, true)
}

func (e *Engine) applyRecord(rec wal.Record, startSync bool) error {
	if err := e.check(); err != nil {
		return err
	}
	body, err := decodeRecord(rec.Type, rec.Payload)
	if err != nil {
		return fmt.Errorf("engine: apply record lsn %d: %w", rec.LSN, err)
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.check(); err != nil {
		return err
	}
	if want := e.applied.Load() + 1; rec.LSN != want {
		return fmt.Errorf("engine: apply record: %w", merr.Wrapf(merr.ErrParameterInvalid, "lsn %d is not the next lsn %d", rec.LSN, want))
	}
	if err := e.wal.AppendRecord(rec); err != nil {
		return e.fail(fmt.Errorf("wal append record lsn %d: %w", rec.LSN, err))
	}
	if startSync {
		e.wal.StartSync()
	}
	e.walBytes.Add(int64(len(rec.Payload)))
	e.mu.Lock()
	err = e.apply(rec.LSN, body)
	e.mu.Unlock()
	if err != nil {
		return e.fail(fmt.Errorf("apply lsn %d: %w", rec.LSN, err))
	}
	e.committed(rec)
	e.applied.Store(rec.LSN)
	e.advanced(rec.LSN)
	e.tail.advance()
	if e.walBytes.Load() >= e.cfg.CheckpointWALBytes {
		select {
		case e.ckptReq <- struct{}{}:
		default:
		}
	}
	return nil
}

// IterateWAL calls fn for every record in this node's WAL with LSN >= from
// (see wal.Log.Iterate).
func (e *Engine) IterateWAL(from uint64, fn func(wal.Record) error) error {
	if err := e.check(); err != nil {
		return err
	}
	return e.wal.Iterate(from, fn)
}
