package engine

import (
	"cmp"
	"context"
	"slices"

	"github.com/tandem-db/tandem/internal/expr"
)

// Query order (Tandem issues 15/16: query iterators).
//
// Milvus returns query results in primary-key order: each segment yields
// its matches by key and the proxy merges them by key, keeping the first
// offset+limit. The SDKs' query iterators rely on it: the Go SDK
// (QueryIterator) and the Node.js SDK (queryIterator) ask for a page with
// a limit and the filter "(user filter) and pk > last", taking the last key
// of each page as the next bound. A page must therefore hold the smallest
// keys above the bound, or rows are skipped.
//
// matchRowsByPK gives that order: with a limit it keeps the want smallest
// keys in a bounded heap while scanning (memory O(want)); without one it
// sorts every match. Equal keys (a key re-inserted in another partition)
// keep scan order, so the order is deterministic: every member of a group
// answers the same rows in the same order.

// matchRowsByPK returns the visible live rows matching x (nil = all) in
// primary-key order: the want smallest (want < 0: all).
func matchRowsByPK(ctx context.Context, c *collection, snaps []segSnap, x *expr.Expr, want int64) ([]rowRef, error) {
	if want == 0 {
		return nil, nil
	}
	cmpRows := rowOrderByPK(c, snaps)
	if want < 0 {
		var rows []rowRef
		err := forEachMatch(ctx, c, snaps, x, func(r rowRef) bool {
			rows = append(rows, r)
			return true
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(rows, cmpRows)
		return rows, nil
	}
	h := &rowHeap{cmp: cmpRows, max: int(want)}
	err := forEachMatch(ctx, c, snaps, x, func(r rowRef) bool {
		h.offer(r)
		return true
	})
	if err != nil {
		return nil, err
	}
	rows := h.rows
	slices.SortFunc(rows, cmpRows)
	return rows, nil
}

// rowOrderByPK compares rows by primary key, then by scan position.
func rowOrderByPK(c *collection, snaps []segSnap) func(a, b rowRef) int {
	pos := func(a, b rowRef) int {
		if a.snap != b.snap {
			return cmp.Compare(a.snap, b.snap)
		}
		return cmp.Compare(a.row, b.row)
	}
	if len(snaps) == 0 {
		return pos
	}
	switch snaps[0].cols[c.pk].data.(type) {
	case []int64:
		return func(a, b rowRef) int {
			ka := snaps[a.snap].cols[c.pk].data.([]int64)[a.row]
			kb := snaps[b.snap].cols[c.pk].data.([]int64)[b.row]
			if ka != kb {
				return cmp.Compare(ka, kb)
			}
			return pos(a, b)
		}
	case []string:
		return func(a, b rowRef) int {
			ka := snaps[a.snap].cols[c.pk].data.([]string)[a.row]
			kb := snaps[b.snap].cols[c.pk].data.([]string)[b.row]
			if ka != kb {
				return cmp.Compare(ka, kb)
			}
			return pos(a, b)
		}
	}
	return pos
}

// rowHeap keeps the max smallest rows under cmp: a max-heap whose root is
// the largest kept row.
type rowHeap struct {
	cmp  func(a, b rowRef) int
	max  int
	rows []rowRef
}

func (h *rowHeap) offer(r rowRef) {
	if len(h.rows) < h.max {
		h.rows = append(h.rows, r)
		h.up(len(h.rows) - 1)
		return
	}
	if h.cmp(r, h.rows[0]) >= 0 {
		return
	}
	h.rows[0] = r
	h.down(0)
}

func (h *rowHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h.cmp(h.rows[i], h.rows[p]) <= 0 {
			return
		}
		h.rows[i], h.rows[p] = h.rows[p], h.rows[i]
		i = p
	}
}

func (h *rowHeap) down(i int) {
	n := len(h.rows)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && h.cmp(h.rows[r], h.rows[c]) > 0 {
			c = r
		}
		if h.cmp(h.rows[c], h.rows[i]) <= 0 {
			return
		}
		h.rows[i], h.rows[c] = h.rows[c], h.rows[i]
		i = c
	}
}
