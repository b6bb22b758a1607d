package milvus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/metrics"
)

// restPrefix is the path prefix of the Milvus RESTful v2 API.
const restPrefix = "/v2/vectordb"

// restDBHeader names the database of a REST request when the body does
// not.
const restDBHeader = "DB-Name"

// restFunc serves one REST endpoint: it decodes body and returns the
// envelope's "data" member, or an error carrying a Milvus code.
type restFunc func(ctx context.Context, body []byte) (any, error)

// restExtra lets an endpoint add members beside "data" in the envelope.
type restExtra struct {
	data  any
	extra map[string]any
}

// restBase holds the members most REST requests share.
type restBase struct {
	DbName         string `json:"dbName"`
	CollectionName string `json:"collectionName"`
}

// collection returns the collection name, which is required.
func (b *restBase) collection() (string, error) {
	if b.CollectionName == "" {
		return "", merr.Wrap(merr.ErrMissingRequiredParams, "collectionName is required")
	}
	return b.CollectionName, nil
}

// newRESTHandler builds the /v2/vectordb/... mux.
func (s *Server) newRESTHandler() http.Handler {
	routes := map[string]restFunc{
		"/collections/create":         restDecode(s.restCreateCollection),
		"/collections/drop":           restDecode(s.restDropCollection),
		"/collections/has":            restDecode(s.restHasCollection),
		"/collections/describe":       restDecode(s.restDescribeCollection),
		"/collections/list":           restDecode(s.restListCollections),
		"/collections/get_stats":      restDecode(s.restCollectionStats),
		"/collections/load":           restDecode(s.restLoadCollection),
		"/collections/release":        restDecode(s.restReleaseCollection),
		"/collections/get_load_state": restDecode(s.restGetLoadState),
		"/entities/insert":            restDecode(s.restInsert),
		"/entities/upsert":            restDecode(s.restUpsert),
		"/entities/delete":            restDecode(s.restDelete),
		"/entities/search":            restDecode(s.restSearch),
		"/entities/query":             restDecode(s.restQuery),
		"/entities/get":               restDecode(s.restGet),
		"/partitions/create":          restDecode(s.restCreatePartition),
		"/partitions/drop":            restDecode(s.restDropPartition),
		"/partitions/has":             restDecode(s.restHasPartition),
		"/partitions/list":            restDecode(s.restListPartitions),
		"/partitions/load":            restDecode(s.restLoadPartitions),
		"/partitions/release":         restDecode(s.restReleasePartitions),
		"/indexes/create":             restDecode(s.restCreateIndex),
		"/indexes/describe":           restDecode(s.restDescribeIndex),
		"/indexes/drop":               restDecode(s.restDropIndex),
		"/indexes/list":               restDecode(s.restListIndexes),
	}
	mux := http.NewServeMux()
	for path, fn := range routes {
		mux.Handle("POST "+restPrefix+path, s.restEndpoint(restPrefix+path, fn))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusNotFound
		if sub, isREST := strings.CutPrefix(r.URL.Path, restPrefix); isREST && routes[sub] != nil {
			status = http.StatusMethodNotAllowed
		}
		writeREST(w, status, merr.Wrapf(merr.ErrParameterInvalid, "no such endpoint: %s %s (the REST API accepts POST /v2/vectordb/...)", r.Method, r.URL.Path), nil)
	})
	return mux
}

// restDecode adapts a typed endpoint to a restFunc: it decodes the JSON
// body into a new T (an empty body is an empty object).
func restDecode[T any](fn func(ctx context.Context, req *T) (any, error)) restFunc {
	return func(ctx context.Context, body []byte) (any, error) {
		req := new(T)
		if err := decodeJSON(body, req); err != nil {
			return nil, err
		}
		return fn(ctx, req)
	}
}

// decodeJSON decodes a request body strictly enough to catch garbage:
// one JSON value, nothing after it.
func decodeJSON(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return merr.Wrap(merr.ErrIncorrectParamFormat, err.Error())
	}
	if dec.More() {
		return merr.Wrap(merr.ErrIncorrectParamFormat, "trailing data after the JSON body")
	}
	return nil
}

// restEndpoint wraps fn with body reading and size limits, database
// selection, panic recovery, metrics and the Milvus JSON envelope.
func (s *Server) restEndpoint(path string, fn restFunc) http.Handler {
	method := "rest:" + path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var (
			data any
			err  error
		)
		func() {
			defer func() {
				if p := recover(); p != nil {
					s.log.Error("milvus api: panic in REST handler", "path", path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					err = merr.Wrapf(merr.ErrServiceInternal, "panic in %s: %v", path, p)
				}
			}()
			if s.auth != nil {
				if _, err = s.auth.authenticateHTTP(r); err != nil {
					return
				}
			}
			if g := s.opts.RoleGate; g != nil {
				if err = g.ServeClient(); err != nil {
					return
				}
			}
			body, rerr := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.opts.MaxRecvMsgBytes)))
			if rerr != nil {
				var tooBig *http.MaxBytesError
				if errors.As(rerr, &tooBig) {
					err = merr.Wrapf(merr.ErrParameterTooLarge, "request body exceeds %d bytes", tooBig.Limit)
				} else {
					err = merr.Wrapf(merr.ErrIncorrectParamFormat, "reading the request body: %v", rerr)
				}
				return
			}
			ctx := r.Context()
			if d := s.opts.RequestTimeout; d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			md := metadata.MD{}
			if db := r.Header.Get(restDBHeader); db != "" {
				md.Set(dbHeader, db)
			}
			if ids := r.Header.Values(RequestIDHeader); len(ids) > 0 {
				md.Set(RequestIDHeader, ids...)
			}
			if len(md) > 0 {
				ctx = metadata.NewIncomingContext(ctx, md)
			}
			data, err = fn(ctx, body)
		}()
		metrics.RequestSeconds.WithLabelValues(method).Observe(time.Since(start).Seconds())
		metrics.Requests.WithLabelValues(method, strconv.Itoa(int(merr.Code(err)))).Inc()
		if err != nil {
			writeREST(w, http.StatusOK, err, nil)
			return
		}
		writeREST(w, http.StatusOK, nil, data)
	})
}

// writeREST writes the Milvus envelope: {"code":0,"data":...} on success,
// {"code":N,"message":"..."} on error.
func writeREST(w http.ResponseWriter, httpStatus int, err error, data any) {
	env := map[string]any{"code": merr.Code(err)}
	if err != nil {
		env["message"] = err.Error()
	} else {
		if x, isExtra := data.(restExtra); isExtra {
			data = x.data
			for k, v := range x.extra {
				env[k] = v
			}
		}
		if data == nil {
			data = map[string]any{}
		}
		env["data"] = data
	}
	b, merr2 := json.Marshal(env)
	if merr2 != nil {
		b, _ = json.Marshal(map[string]any{
			"code":    merr.ErrServiceInternal.Code,
			"message": "encoding the response: " + merr2.Error(),
		})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	w.Write(b)
}
