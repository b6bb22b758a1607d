package milvus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
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
		"/collections/create":               restDecode(s.restCreateCollection),
		"/collections/drop":                 restDecode(s.restDropCollection),
		"/collections/has":                  restDecode(s.restHasCollection),
		"/collections/describe":             restDecode(s.restDescribeCollection),
		"/collections/list":                 restDecode(s.restListCollections),
		"/collections/get_stats":            restDecode(s.restCollectionStats),
		"/collections/load":                 restDecode(s.restLoadCollection),
		"/collections/release":              restDecode(s.restReleaseCollection),
		"/collections/get_load_state":       restDecode(s.restGetLoadState),
		"/entities/insert":                  restDecode(s.restInsert),
		"/entities/upsert":                  restDecode(s.restUpsert),
		"/entities/delete":                  restDecode(s.restDelete),
		"/entities/search":                  restDecode(s.restSearch),
		"/entities/query":                   restDecode(s.restQuery),
		"/entities/get":                     restDecode(s.restGet),
		"/partitions/create":                restDecode(s.restCreatePartition),
		"/partitions/drop":                  restDecode(s.restDropPartition),
		"/partitions/has":                   restDecode(s.restHasPartition),
		"/partitions/list":                  restDecode(s.restListPartitions),
		"/partitions/load":                  restDecode(s.restLoadPartitions),
		"/partitions/release":               restDecode(s.restReleasePartitions),
		"/indexes/create":                   restDecode(s.restCreateIndex),
		"/indexes/describe":                 restDecode(s.restDescribeIndex),
		"/indexes/drop":                     restDecode(s.restDropIndex),
		"/indexes/list":                     restDecode(s.restListIndexes),
		"/collections/rename":               restDecode(s.restRenameCollection),
		"/databases/create":                 restDecode(s.restCreateDatabase),
		"/databases/drop":                   restDecode(s.restDropDatabase),
		"/databases/alter":                  restDecode(s.restAlterDatabase),
		"/databases/drop_properties":        restDecode(s.restDropDatabaseProperties),
		"/databases/list":                   restDecode(s.restListDatabases),
		"/databases/describe":               restDecode(s.restDescribeDatabase),
		"/aliases/create":                   restDecode(s.restCreateAlias),
		"/aliases/alter":                    restDecode(s.restAlterAlias),
		"/aliases/drop":                     restDecode(s.restDropAlias),
		"/aliases/describe":                 restDecode(s.restDescribeAlias),
		"/aliases/list":                     restDecode(s.restListAliases),
		"/collections/compact":              restDecode(s.restCompact),
		"/collections/get_compaction_state": restDecode(s.restGetCompactionState),
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
		return jsonFormatError(describeJSONError(err, "the request body", reflect.TypeOf(v)))
	}
	if dec.More() {
		return jsonFormatError("trailing data after the JSON body")
	}
	return nil
}

// jsonFormatError is code 1801 in Milvus's words: "can only accept json
// format request, error: <detail>".
func jsonFormatError(detail string) error {
	return merr.WithMessage(merr.ErrIncorrectParamFormat, merr.ErrIncorrectParamFormat.Msg+", error: "+detail)
}

// describeJSONError says what is wrong with a JSON value (top names it:
// "the request body") in the terms of the JSON a client sent (field names
// as in the request, JSON type names), never in Go's (struct and Go type
// names): `field "dimension": want a number, got a string`.
//
// root, if not nil, is the type decoded into: embedded structs' Go names,
// which encoding/json puts in an error's field path, are left out.
func describeJSONError(err error, top string, root reflect.Type) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		want := jsonTypeName(typeErr.Type)
		got := typeErr.Value
		switch {
		case strings.HasPrefix(got, "number "):
			// A number that does not fit (a fraction or out of range).
			got = strings.TrimPrefix(got, "number ")
			if k := jsonKind(typeErr.Type); k >= reflect.Int && k <= reflect.Uint64 {
				want = "an integer that fits " + k.String()
			}
		case got == "array" || got == "object":
			got = "an " + got
		case got == "":
			got = "something else"
		default:
			got = "a " + got
		}
		if typeErr.Field == "" {
			return fmt.Sprintf("%s: want %s, got %s", top, want, got)
		}
		return fmt.Sprintf("field %q: want %s, got %s", jsonFieldPath(root, typeErr.Field), want, got)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("invalid JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return top + " ends in the middle of a JSON value"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// jsonFieldPath returns path (dotted, as in json.UnmarshalTypeError.Field)
// without the segments that name an embedded struct of root (the JSON
// object has no such level).
func jsonFieldPath(root reflect.Type, path string) string {
	if root == nil {
		return path
	}
	var out []string
	t := root
	for _, seg := range strings.Split(path, ".") {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			out, t = append(out, seg), nil
			continue
		}
		if f, ok := t.FieldByName(seg); ok && f.Anonymous && f.Tag.Get("json") == "" {
			t = f.Type // an embedded struct: its fields are the object's
			continue
		}
		out = append(out, seg)
		t = jsonFieldType(t, seg)
	}
	return strings.Join(out, ".")
}

// jsonFieldType returns the type of the field of struct t (or of a struct
// it embeds) whose JSON name is name; nil if none.
func jsonFieldType(t reflect.Type, name string) reflect.Type {
	for _, f := range reflect.VisibleFields(t) {
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name || tag == "" && strings.EqualFold(f.Name, name) {
			if !f.Anonymous {
				return f.Type
			}
		}
	}
	return nil
}

// jsonKind is t's kind, through pointers.
func jsonKind(t reflect.Type) reflect.Kind {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return reflect.Invalid
	}
	return t.Kind()
}

// jsonTypeName names the JSON value a Go type decodes from: "a number",
// "a string", "a boolean", "an array", "an object".
func jsonTypeName(t reflect.Type) string {
	switch k := jsonKind(t); {
	case k >= reflect.Int && k <= reflect.Float64:
		return "a number"
	case k == reflect.String:
		return "a string"
	case k == reflect.Bool:
		return "a boolean"
	case k == reflect.Slice || k == reflect.Array:
		return "an array"
	case k == reflect.Map || k == reflect.Struct:
		return "an object"
	}
	return "another JSON value"
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
