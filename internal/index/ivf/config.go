package ivf

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/merr"
)

// Parameter limits and defaults, following Milvus for IVF_FLAT.
const (
	MinNlist      = 1
	MaxNlist      = 65536
	DefaultNlist  = 128 // Milvus's default nlist
	DefaultNprobe = 8   // Milvus's default nprobe
	// SamplePerList bounds the k-means training sample at SamplePerList*nlist rows.
	SamplePerList = 256
	// DefaultIters is the number of Lloyd iterations of k-means.
	DefaultIters = 10
)

// Milvus parameter names.
const (
	ParamNlist      = "nlist"
	ParamNprobe     = "nprobe"
	ParamMetricType = "metric_type"
)

// Config is an IVF_FLAT index's build configuration.
type Config struct {
	// Metric is the similarity metric (default Cosine, as Milvus).
	Metric distance.Metric
	// Nlist is the number of clusters (inverted lists), 1..65536 (default 128).
	Nlist int
	// Seed fixes the training sample and the initial centroids.
	Seed uint64
	// Iters is the number of k-means iterations (0: DefaultIters).
	Iters int
}

// DefaultConfig returns Metric Cosine, Nlist 128, Seed 0, Iters 10.
func DefaultConfig() Config {
	return Config{Metric: distance.Cosine, Nlist: DefaultNlist, Iters: DefaultIters}
}

// Validate checks every field; errors name the field and value and wrap
// merr.ErrParameterInvalid.
func (c Config) Validate() error {
	switch c.Metric {
	case distance.L2, distance.IP, distance.Cosine:
	default:
		return paramErr("metric_type %d is not supported, supported: [L2 IP COSINE]", uint8(c.Metric))
	}
	if c.Nlist < MinNlist || c.Nlist > MaxNlist {
		return paramErr("nlist=%d out of range [%d, %d]", c.Nlist, MinNlist, MaxNlist)
	}
	if c.Iters < 0 || c.Iters > 1000 {
		return paramErr("iters=%d out of range [0, 1000]", c.Iters)
	}
	return nil
}

func paramErr(format string, args ...any) error {
	return fmt.Errorf("ivf: %w", merr.Wrapf(merr.ErrParameterInvalid, format, args...))
}

// ParseParams reads Milvus index parameters: "nlist" (1..65536, default
// 128) and optionally "metric_type" (L2, IP, COSINE; default COSINE).
// Other keys are ignored; errors wrap merr.ErrParameterInvalid.
func ParseParams(params map[string]string) (Config, error) {
	cfg := DefaultConfig()
	if s, ok := params[ParamMetricType]; ok {
		m, err := distance.ParseMetric(s)
		if err != nil {
			return Config{}, fmt.Errorf("ivf: %w", err)
		}
		cfg.Metric = m
	}
	var err error
	if cfg.Nlist, err = intParam(params, ParamNlist, DefaultNlist); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ParseSearchParams reads the Milvus search parameter "nprobe" (1..nlist;
// default min(8, nlist)). Errors wrap merr.ErrParameterInvalid.
func ParseSearchParams(params map[string]string, nlist int) (int, error) {
	if _, ok := params[ParamNprobe]; !ok {
		return max(1, min(DefaultNprobe, nlist)), nil
	}
	np, err := intParam(params, ParamNprobe, 0)
	if err != nil {
		return 0, err
	}
	if np < 1 || np > nlist {
		return 0, paramErr("nprobe=%d out of range [1, nlist=%d]", np, nlist)
	}
	return np, nil
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
