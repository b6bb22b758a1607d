package engine

// ANN indexes on sealed segments.
//
// # Model
//
// A vector index recorded in the catalog (indexMeta) is either exact (FLAT)
// or approximate: HNSW, IVF_FLAT, the quantized types of index_quant.go,
// or AUTOINDEX, which is HNSW with Milvus's autoIndex defaults for float
// vectors (M=18, efConstruction=240; M and efConstruction may still be
// given). An approximate index is built per sealed segment,
// in the background (indexbuild.go), over the segment's own vector chunks
// (the index packages read vectors through a Vectors interface: nothing is
// copied). Row IDs in the index are the segment's row numbers.
//
//   - Growing segments, sealed segments with fewer than Config.IndexMinRows
//     rows (default 1024, as Milvus) and sealed segments whose build has not
//     finished are searched exactly. Both paths report Milvus scores (L2
//     squared, IP, cosine similarity), so one top-k merges them.
//   - Visibility is never delegated to the index: the allow function of an
//     index search admits row r iff r < the snapshot's visible row count,
//     r is not deleted as of the snapshot LSN and r passes the filter. The
//     index's own tombstones (hnsw/ivf Delete) are not used, because a
//     delete at LSN D > S must still show the row to a search at snapshot S.
//   - A built index is attached to its segment (segment.ann, one atomic
//     pointer per column) only if its index ID is still the catalog's index
//     on that field; searches use it only if the IDs match, so a dropped or
//     recreated index never serves stale results.
//
// # Index files
//
// DataDir/segments/<segment %020d>.<index ID>.hnsw|ivf, written once after
// the build (under ckptMu, temp file + fsync + rename + directory fsync):
//
//	8  magic "TNDINDX1"
//	4  version (1)
//	8  segment ID, 8 index ID, 8 field ID, 4 rows, 4 kind (1 HNSW, 2 IVF)
//	   the index package's own encoding (WriteTo; it carries its own CRC)
//	4  CRC32C of all preceding bytes
//
// The next checkpoint lists the file in the manifest (version 2) beside
// its segment. At start-up the files listed are loaded without a rebuild;
// a file not yet listed (a crash between build and checkpoint) is found by
// its name. An index file is derived data: a missing (but listed) or
// corrupt file is logged as a warning and the index is rebuilt in the
// background, never failing Open. A checkpoint keeps only the files of
// attached, current indexes of the segments it lists, so dropping an index
// or a collection removes its files at the next checkpoint.
//
// # DescribeIndex counts (as Milvus: sealed segments only)
//
// TotalRows counts the live rows of sealed segments; IndexedRows those of
// sealed segments whose index is built or that need none (FLAT, or fewer
// than IndexMinRows rows); PendingRows those still waiting for a build.
// Growing rows are in none of them. State is Finished when nothing is
// pending, Failed if a build failed (with the reason), else InProgress.

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/index/flat"
	"github.com/tandem-db/tandem/internal/index/hnsw"
	"github.com/tandem-db/tandem/internal/index/ivf"
	"github.com/tandem-db/tandem/internal/index/quant"
	"github.com/tandem-db/tandem/internal/merr"
)

// Vector index types.
const (
	indexFLAT    = "FLAT"
	indexHNSW    = "HNSW"
	indexIVFFlat = "IVF_FLAT"
	indexAuto    = "AUTOINDEX"
)

// Search parameters read besides the index packages' own ("ef", "nprobe").
const (
	// spLevel is AUTOINDEX's search level (SDK index.NewAutoAnnParam):
	// level L in [1, 10] searches with ef = max(topK, 64*L) unless "ef" is
	// given.
	spLevel  = "level"
	maxLevel = 10
)

// annKind is how a segment's vectors are searched.
type annKind uint8

const (
	annExact annKind = iota // FLAT or no index: exact scan
	annHNSW
	annIVF
	annIVFQ  // IVF_SQ8, IVF_PQ, SCANN (index_quant.go)
	annHNSWQ // HNSW_SQ, HNSW_PQ (index_quant.go)
)

func (k annKind) ext() string {
	switch k {
	case annHNSW:
		return "hnsw"
	case annIVF:
		return "ivf"
	case annIVFQ:
		return "ivfq"
	case annHNSWQ:
		return "hnswq"
	}
	return "flat"
}

// annSpec is an index's build configuration, parsed from its stored params.
type annSpec struct {
	kind  annKind
	hnsw  hnsw.Config
	ivf   ivf.Config
	quant quantSpec
}

// parseANNSpec parses normalized vector index params (index_type and
// metric_type upper-case). Errors are user errors (code 1100).
func parseANNSpec(params map[string]string) (annSpec, error) {
	if m, _ := distance.ParseMetric(params[paramMetricType]); m.Binary() {
		// Binary vectors (BIN_FLAT, BIN_IVF_FLAT, AUTOINDEX): exact scan.
		return annSpec{kind: annExact}, nil
	}
	switch params[paramIndexType] {
	case indexHNSW, indexAuto:
		cfg, err := hnsw.ParseParams(params)
		if err != nil {
			return annSpec{}, userParamErr(err)
		}
		if params[paramIndexType] == indexAuto {
			autoIndexDefaults(&cfg, params)
		}
		return annSpec{kind: annHNSW, hnsw: cfg}, nil
	case indexIVFFlat:
		cfg, err := ivf.ParseParams(params)
		if err != nil {
			return annSpec{}, userParamErr(err)
		}
		return annSpec{kind: annIVF, ivf: cfg}, nil
	}
	return parseQuantSpec(params, 0)
}

// validateVectorIndexParams checks the index-specific parameters of
// normalized vector index params at CreateIndex time.
func validateVectorIndexParams(params map[string]string) error {
	_, err := parseANNSpec(params)
	return err
}

// userParamErr re-wraps an index package's parameter error as a merr
// invalid-parameter error without the package prefix.
func userParamErr(err error) error {
	msg := err.Error()
	for _, p := range []string{"hnsw: ", "ivf: ", "distance: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	msg = strings.TrimPrefix(msg, merr.ErrParameterInvalid.Msg+": ")
	if merr.Code(err) != merr.ErrParameterInvalid.Code {
		return fmt.Errorf("engine: %w", err)
	}
	return merr.Wrap(merr.ErrParameterInvalid, msg)
}

// annQuery is one search request's setting for an ANN index.
type annQuery struct {
	spec    annSpec
	indexID int64
	ef      int // HNSW
	nprobe  int // IVF
	q       quantSearch
}

// parseANNQuery validates the search params for index ix and k = topK +
// offset results per segment. FLAT indexes ignore search params.
func parseANNQuery(ix *indexMeta, params map[string]string, k int) (annQuery, error) {
	spec, err := parseANNSpec(ix.params)
	if err != nil {
		return annQuery{}, err
	}
	aq := annQuery{spec: spec, indexID: ix.id}
	switch spec.kind {
	case annHNSW:
		if lv, ok := params[spLevel]; ok && ix.params[paramIndexType] == indexAuto {
			if _, hasEf := params[hnsw.ParamEf]; !hasEf {
				n, err := strconv.Atoi(strings.TrimSpace(lv))
				if err != nil || n < 1 || n > maxLevel {
					return annQuery{}, merr.Wrapf(merr.ErrParameterInvalid, "search param level=%q should be an integer in range [1, %d]", lv, maxLevel)
				}
				params = map[string]string{hnsw.ParamEf: strconv.Itoa(min(hnsw.MaxEf, max(k, 64*n)))}
			}
		}
		if aq.ef, err = hnsw.ParseSearchParams(params, k); err != nil {
			return annQuery{}, userParamErr(err)
		}
	case annIVF:
		if aq.nprobe, err = ivf.ParseSearchParams(params, spec.ivf.Nlist); err != nil {
			return annQuery{}, userParamErr(err)
		}
	}
	if spec.kind == annIVFQ || spec.kind == annHNSWQ || ix.params[paramIndexType] == indexDISKANN {
		if err := parseQuantQuery(ix, &aq, params, k); err != nil {
			return annQuery{}, err
		}
	}
	return aq, nil
}

// segIndex is a built ANN index of one vector column of a sealed segment.
// Immutable once attached (segment.ann).
type segIndex struct {
	indexID int64
	fieldID int64
	rows    int
	h       *hnsw.Index
	v       *ivf.Index
	qi      *quant.IVF
	qh      *quant.HNSW
	file    string // index file name in segments/; "" = not persisted
}

func (si *segIndex) kind() annKind {
	switch {
	case si.h != nil:
		return annHNSW
	case si.qi != nil:
		return annIVFQ
	case si.qh != nil:
		return annHNSWQ
	}
	return annIVF
}

// search returns the k best allowed rows, best first, Milvus scores.
func (si *segIndex) search(q []float32, k int, aq *annQuery, allow func(uint32) bool) []flat.Hit {
	if si.h != nil {
		return si.h.Search(q, k, aq.ef, allow)
	}
	if si.qi != nil || si.qh != nil {
		return si.quantSearch(q, k, aq, allow)
	}
	return si.v.Search(q, k, aq.nprobe, allow)
}

// segVectors exposes a sealed segment's vector column to an index. The
// column header is a copy taken after sealing; sealed chunks never change.
type segVectors struct {
	col       segColumn
	chunkRows int
}

func (v *segVectors) Dim() int { return v.col.dim }

func (v *segVectors) Vector(id uint32) []float32 { return v.col.vector(v.chunkRows, int(id)) }

// annSearcher searches one segment through its ANN index.
type annSearcher struct {
	si    *segIndex
	aq    *annQuery
	k     int
	allow func(uint32) bool
}

func (a *annSearcher) search(q []float32, _ float32, baseID int64, t *flat.TopK, _ []float32) {
	for _, h := range a.si.search(q, a.k, a.aq, a.allow) {
		t.Push(baseID+h.ID, h.Score)
	}
}

// allowFor returns the visibility (+ filter) predicate of an index search
// over snapshot ss of a segment with rows rows: nil when every row is
// allowed. skip (filter and deletes, see buildSkips) may be nil.
func allowFor(ss *segSnap, rows int, skip []bool) func(uint32) bool {
	n := ss.n
	switch {
	case skip != nil:
		return func(id uint32) bool { return int(id) < n && !skip[id] }
	case ss.deletes:
		return func(id uint32) bool { return int(id) < n && ss.live(int(id)) }
	case n < rows:
		return func(id uint32) bool { return int(id) < n }
	}
	return nil
}

// Index files.

const (
	idxMagic   = "TNDINDX1"
	idxVersion = 1
)

func indexFileName(segID, indexID int64, k annKind) string {
	return fmt.Sprintf("%020d.%d.%s", segID, indexID, k.ext())
}

// encodeIndexFile returns the index file of si (without the CRC, which
// writeFileAtomic appends).
func encodeIndexFile(segID int64, si *segIndex) ([]byte, error) {
	w := &enc{}
	w.b = append(w.b, idxMagic...)
	w.u32(idxVersion)
	w.i64(segID)
	w.i64(si.indexID)
	w.i64(si.fieldID)
	w.u32(uint32(si.rows))
	w.u32(uint32(si.kind()))
	buf := bytes.NewBuffer(w.b)
	var err error
	switch {
	case si.h != nil:
		_, err = si.h.WriteTo(buf)
	case si.qi != nil:
		_, err = si.qi.WriteTo(buf)
	case si.qh != nil:
		_, err = si.qh.WriteTo(buf)
	default:
		_, err = si.v.WriteTo(buf)
	}
	if err != nil {
		return nil, fmt.Errorf("engine: encode index of segment %d: %w", segID, err)
	}
	return buf.Bytes(), nil
}

// loadIndexFile reads the index file path of column fi of sealed segment
// s for index ix (spec). Any mismatch or corruption is an error.
func loadIndexFile(path string, s *segment, fi int, ix *indexMeta, spec annSpec) (*segIndex, error) {
	body, err := readChecked(path, idxMagic)
	if err != nil {
		return nil, err
	}
	r := &dec{b: body, off: len(idxMagic) + 4}
	segID, indexID, fieldID, rows, kind := r.i64(), r.i64(), r.i64(), int(r.u32()), annKind(r.u32())
	if r.err != nil {
		return nil, fmt.Errorf("engine: index file %s: %w", path, r.err)
	}
	if segID != s.id || indexID != ix.id || fieldID != ix.fieldID || rows != s.rows || kind != spec.kind {
		return nil, fmt.Errorf("engine: index file %s does not match segment %d index %d: %w", path, s.id, ix.id, errCorrupt)
	}
	vecs := &segVectors{col: s.cols[fi], chunkRows: s.chunkRows}
	br := bytes.NewReader(body[r.off:])
	si := &segIndex{indexID: ix.id, fieldID: ix.fieldID, rows: rows, file: filepath.Base(path)}
	switch kind {
	case annHNSW:
		h, err := hnsw.Load(br, vecs)
		if err != nil {
			return nil, fmt.Errorf("engine: index file %s: %w", path, err)
		}
		c := h.Config()
		if h.Capacity() != rows || h.Len() != rows || c.Metric != spec.hnsw.Metric || c.M != spec.hnsw.M || c.EfConstruction != spec.hnsw.EfConstruction {
			return nil, fmt.Errorf("engine: index file %s: graph does not match the index parameters: %w", path, errCorrupt)
		}
		si.h = h
	case annIVF:
		v, err := ivf.Load(br, vecs)
		if err != nil {
			return nil, fmt.Errorf("engine: index file %s: %w", path, err)
		}
		c := v.Config()
		if !v.Trained() || v.Len() != rows || c.Metric != spec.ivf.Metric || c.Nlist != spec.ivf.Nlist {
			return nil, fmt.Errorf("engine: index file %s: lists do not match the index parameters: %w", path, errCorrupt)
		}
		si.v = v
	case annIVFQ:
		v, err := quant.LoadIVF(br, vecs)
		if err != nil {
			return nil, fmt.Errorf("engine: index file %s: %w", path, err)
		}
		c, w := v.Config(), spec.quant.ivf
		if v.Len() != rows || c.Kind != w.Kind || c.Metric != w.Metric || c.Nlist != w.Nlist || c.Nbits != w.Nbits || c.Refine != w.Refine || (w.M != 0 && c.M != w.M) {
			return nil, fmt.Errorf("engine: index file %s: lists do not match the index parameters: %w", path, errCorrupt)
		}
		si.qi = v
	case annHNSWQ:
		h, err := quant.LoadHNSW(br, vecs)
		if err != nil {
			return nil, fmt.Errorf("engine: index file %s: %w", path, err)
		}
		c, w := h.Config(), spec.quant.hnsw
		if h.Len() != rows || c.Kind != w.Kind || c.M != w.M || c.Nbits != w.Nbits || c.Refine != w.Refine ||
			c.Graph.Metric != w.Graph.Metric || c.Graph.M != w.Graph.M || c.Graph.EfConstruction != w.Graph.EfConstruction {
			return nil, fmt.Errorf("engine: index file %s: graph does not match the index parameters: %w", path, errCorrupt)
		}
		si.qh = h
	}
	if br.Len() != 0 {
		return nil, fmt.Errorf("engine: index file %s: %d trailing bytes: %w", path, br.Len(), errCorrupt)
	}
	return si, nil
}

// manifestIndex is an index file listed with its segment in the manifest.
type manifestIndex struct {
	fieldID, indexID int64
	file             string
}

// loadSegmentIndexes attaches the index files of sealed segment s (just
// loaded from a checkpoint of collection c): those the manifest lists and,
// for current ANN indexes without an entry, a file found by its name. A
// missing listed file or a bad file is logged; the builder rebuilds it.
// Runs single-threaded on a state not yet shared (Open, snapshot install).
// It returns the number of index files attached.
func (e *Engine) loadSegmentIndexes(segDir string, c *collection, s *segment, listed []manifestIndex) int64 {
	var loads int64
	log := e.logger()
	for _, fi := range c.vectorFields() {
		f := &c.fields[fi]
		ix := c.indexOn(f.id)
		if ix == nil {
			continue
		}
		spec, err := parseANNSpec(ix.params)
		if err != nil || spec.kind == annExact {
			continue
		}
		name, fromManifest := indexFileName(s.id, ix.id, spec.kind), false
		for _, m := range listed {
			if m.fieldID == f.id && m.indexID == ix.id {
				name, fromManifest = filepath.Base(m.file), true
			}
		}
		path := filepath.Join(segDir, name)
		si, err := loadIndexFile(path, s, fi, ix, spec)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && !fromManifest {
				continue // never persisted: the builder builds it
			}
			log.Warn("engine: index file unusable, rebuilding in the background",
				slog.String("collection", c.name), slog.Int64("segment", s.id), slog.String("index", ix.name), slog.Any("error", err))
			continue
		}
		s.ann[fi].Store(si)
		loads++
	}
	return loads
}

// indexFilesOf returns the index files of segment s to keep in a
// checkpoint: attached, persisted indexes whose ID is current[fi] (the
// catalog's ANN index ID per column at the checkpoint, 0 = none). Caller
// holds ckptMu (attachments with files happen under it).
func indexFilesOf(s *segment, current []int64) []manifestIndex {
	var out []manifestIndex
	for fi, id := range current {
		if id == 0 {
			continue
		}
		if si := s.ann[fi].Load(); si != nil && si.indexID == id && si.file != "" {
			out = append(out, manifestIndex{fieldID: si.fieldID, indexID: id, file: si.file})
		}
	}
	return out
}

// currentANNIndexes returns, per column of c, the ID of its ANN index (0 =
// none or exact). Caller holds mu.
func currentANNIndexes(c *collection) []int64 {
	out := make([]int64, len(c.fields))
	for _, fi := range c.vectorFields() {
		ix := c.indexOn(c.fields[fi].id)
		if ix == nil {
			continue
		}
		if spec, err := parseANNSpec(ix.params); err == nil && spec.kind != annExact {
			out[fi] = ix.id
		}
	}
	return out
}

// fillIndexProgress sets the row counts and state of the index infos out
// of collection c from snapshots snaps (see the package notes above).
func (e *Engine) fillIndexProgress(c *collection, snaps []segSnap, out []IndexInfo) {
	for i := range out {
		info := &out[i]
		fi, ok := c.fieldByID(info.FieldID)
		var spec annSpec
		if ok && c.fields[fi].isVector {
			spec, _ = parseANNSpec(info.Params)
		}
		var total, indexed, pending int64
		var failure string
		for j := range snaps {
			ss := &snaps[j]
			if !ss.sealed {
				continue
			}
			live := countLive(snaps[j : j+1])
			total += live
			if spec.kind == annExact || ss.rows < e.ix.minRows {
				indexed += live
				continue
			}
			if si := ss.seg.ann[fi].Load(); si != nil && si.indexID == info.IndexID {
				indexed += live
				continue
			}
			pending += live
			if why := e.ix.failure(ss.seg, fi, info.IndexID); why != "" {
				failure = why
			}
		}
		info.TotalRows, info.IndexedRows, info.PendingRows = total, indexed, pending
		switch {
		case failure != "":
			info.State, info.FailReason = commonpb.IndexState_Failed, failure
		case pending > 0:
			info.State = commonpb.IndexState_InProgress
		default:
			info.State = commonpb.IndexState_Finished
		}
	}
}

// logger returns the configured logger or slog's default.
func (e *Engine) logger() *slog.Logger {
	if e.cfg.Logger != nil {
		return e.cfg.Logger
	}
	return slog.Default()
}
