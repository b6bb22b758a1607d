package hnsw

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/merr"
)

// Parameter limits and defaults, following Milvus (knowhere) for HNSW.
const (
	MinM              = 2         // smallest accepted M
	MaxM              = 2048      // largest accepted M
	DefaultM          = 16        // M when not given
	MinEfConstruction = 1         // smallest accepted efConstruction
	MaxEfConstruction = 1<<31 - 1 // largest accepted efConstruction
	DefaultEfConstr   = 200       // efConstruction when not given
	MaxEf             = 32768     // largest accepted search ef
	DefaultEf         = 64        // search ef when not given is max(topK, DefaultEf)
)

// Milvus parameter names.
const (
	ParamM              = "M"
	ParamEfConstruction = "efConstruction"
	ParamEf             = "ef"
	ParamMetricType     = "metric_type"
)

// Config is an HNSW index's build configuration.
type Config struct {
	// Metric is the similarity metric (default Cosine, as Milvus).
	Metric distance.Metric
	// M is the number of links per node on levels >= 1 (default 16); level 0
	// keeps up to M0 = 2*M links.
	M int
	// EfConstruction is the candidate list size while inserting (default 200).
	EfConstruction int
	// Seed fixes the level of every row (levels are a hash of Seed and the
	// row id, so they do not depend on insertion order or threads).
	Seed uint64
	// KeepPruned (default false, not a Milvus parameter) fills a node's
	// free link slots with candidates the heuristic discarded.
	KeepPruned bool
}

// DefaultConfig returns Metric Cosine, M 16, EfConstruction 200, Seed 0,
// KeepPruned false.
func DefaultConfig() Config {
	return Config{Metric: distance.Cosine, M: DefaultM, EfConstruction: DefaultEfConstr}
}

// Validate checks every field against its range; the error names the field
// and the value and wraps merr.ErrParameterInvalid.
func (c Config) Validate() error {
	switch c.Metric {
	case distance.L2, distance.IP, distance.Cosine:
	default:
		return paramErr("metric_type %d is not supported, supported: [L2 IP COSINE]", uint8(c.Metric))
	}
	if c.M < MinM || c.M > MaxM {
		return paramErr("M=%d out of range [%d, %d]", c.M, MinM, MaxM)
	}
	if c.EfConstruction < MinEfConstruction || int64(c.EfConstruction) > MaxEfConstruction {
		return paramErr("efConstruction=%d out of range [%d, %d]", c.EfConstruction, MinEfConstruction, int64(MaxEfConstruction))
	}
	return nil
}

func paramErr(format string, args ...any) error {
	return fmt.Errorf("hnsw: %w", merr.Wrapf(merr.ErrParameterInvalid, format, args...))
}

// ParseParams reads Milvus index parameters: "M" (2..2048, default 16),
// "efConstruction" (1..2^31-1, default 200) and optionally "metric_type"
// (L2, IP, COSINE; default COSINE). Other keys (index_type, ...) are
// ignored. Values are decimal integers; errors wrap
// merr.ErrParameterInvalid and name the parameter.
func ParseParams(params map[string]string) (Config, error) {
	cfg := DefaultConfig()
	if s, ok := params[ParamMetricType]; ok {
		m, err := distance.ParseMetric(s)
		if err != nil {
			return Config{}, fmt.Errorf("hnsw: %w", err)
		}
		cfg.Metric = m
	}
	var err error
	if cfg.M, err = intParam(params, ParamM, DefaultM); err != nil {
		return Config{}, err
	}
	if cfg.EfConstruction, err = intParam(params, ParamEfConstruction, DefaultEfConstr); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ParseSearchParams reads the Milvus search parameter "ef". Without it, ef
// is max(topK, DefaultEf=64). An ef below topK or above 32768 is an error
// (as in Milvus), wrapping merr.ErrParameterInvalid.
func ParseSearchParams(params map[string]string, topK int) (int, error) {
	if topK < 1 {
		return 0, paramErr("topK=%d must be >= 1", topK)
	}
	if _, ok := params[ParamEf]; !ok {
		return min(max(topK, DefaultEf), max(topK, MaxEf)), nil
	}
	ef, err := intParam(params, ParamEf, 0)
	if err != nil {
		return 0, err
	}
	if ef < topK || ef > MaxEf {
		return 0, paramErr("ef=%d out of range [topK=%d, %d]", ef, topK, MaxEf)
	}
	return ef, nil
}

func intParam(params map[string]string, key string, def int) (int, error) {
	s, ok := params[key]
	if !ok {
		return def, nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, paramErr("%s=%q is not an integer", key, s)
	}
	if v < -1<<40 || v > 1<<40 {
		return 0, paramErr("%s=%d out of range", key, v)
	}
	return int(v), nil
}
