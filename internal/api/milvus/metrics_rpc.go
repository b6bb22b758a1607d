package milvus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
)

// GetMetrics answers Milvus's metrics RPC. The request is JSON naming the
// metric type under "metric_type" (or "req_type"); Tandem knows
// "system_info", answered as Milvus's proxy answers it: a JSON system
// topology in Response (one node, the Tandem server, of type "proxy",
// with its hardware and build information). Other types get Milvus's
// refusal. The Node.js SDK's getMetric parses Response as JSON, so it is
// never empty on success.
func (s *Server) GetMetrics(ctx context.Context, req *milvuspb.GetMetricsRequest) (*milvuspb.GetMetricsResponse, error) {
	typ, err := metricRequestType(req.GetRequest())
	if err != nil {
		return &milvuspb.GetMetricsResponse{Status: errStatus(err)}, nil
	}
	if typ != "system_info" {
		return &milvuspb.GetMetricsResponse{Status: errStatus(errors.New("sorry, but this metric type is not implemented"))}, nil
	}
	b, err := json.Marshal(s.systemTopology())
	if err != nil {
		return &milvuspb.GetMetricsResponse{Status: errStatus(err)}, nil
	}
	return &milvuspb.GetMetricsResponse{Status: successStatus(), Response: string(b), ComponentName: metricsComponent}, nil
}

// metricsComponent names the one component Tandem reports.
const metricsComponent = "proxy1"

// metricRequestType reads the metric type of a GetMetrics request, with
// Milvus's wording when it is absent.
func metricRequestType(req string) (string, error) {
	var m map[string]any
	_ = json.Unmarshal([]byte(req), &m)
	for _, k := range []string{"req_type", "metric_type"} {
		if v, ok := m[k]; ok {
			if s, ok := v.(string); ok {
				return s, nil
			}
			return fmt.Sprint(v), nil
		}
	}
	return "", errors.New("metric_type or req_type not found in request")
}

// The system topology, in the JSON shape of Milvus's metricsinfo package.
type (
	metricsTopology struct {
		NodesInfo []metricsNode `json:"nodes_info"`
	}
	metricsNode struct {
		Identifier int64            `json:"identifier"`
		Connected  []map[string]any `json:"connected"`
		Infos      metricsNodeInfo  `json:"infos"`
	}
	metricsNodeInfo struct {
		HasError      bool             `json:"has_error"`
		ErrorReason   string           `json:"error_reason"`
		Name          string           `json:"name"`
		HardwareInfos metricsHardware  `json:"hardware_infos"`
		SystemInfo    metricsBuildInfo `json:"system_info"`
		CreatedTime   string           `json:"created_time"`
		UpdatedTime   string           `json:"updated_time"`
		Type          string           `json:"type"`
		ID            int64            `json:"id"`
	}
	metricsHardware struct {
		IP           string  `json:"ip"`
		CPUCoreCount int     `json:"cpu_core_count"`
		CPUCoreUsage float64 `json:"cpu_core_usage"`
		Memory       uint64  `json:"memory"`
		MemoryUsage  uint64  `json:"memory_usage"`
		Disk         float64 `json:"disk"`
		DiskUsage    float64 `json:"disk_usage"`
	}
	metricsBuildInfo struct {
		SystemVersion string `json:"system_version"`
		DeployMode    string `json:"deploy_mode"`
		BuildVersion  string `json:"build_version"`
		BuildTime     string `json:"build_time"`
		UsedGoVersion string `json:"used_go_version"`
	}
)

var metricsStarted = time.Now()

func (s *Server) systemTopology() metricsTopology {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	now := time.Now()
	return metricsTopology{NodesInfo: []metricsNode{{
		Identifier: 1,
		Connected:  []map[string]any{},
		Infos: metricsNodeInfo{
			Name: metricsComponent,
			HardwareInfos: metricsHardware{
				CPUCoreCount: runtime.NumCPU(),
				Memory:       ms.Sys,
				MemoryUsage:  ms.HeapInuse,
			},
			SystemInfo: metricsBuildInfo{
				SystemVersion: MilvusVersion,
				DeployMode:    "STANDALONE",
				BuildVersion:  s.opts.ServerVersion,
				UsedGoVersion: runtime.Version(),
			},
			CreatedTime: metricsStarted.Format(time.DateTime),
			UpdatedTime: now.Format(time.DateTime),
			Type:        "proxy",
			ID:          1,
		},
	}}}
}
