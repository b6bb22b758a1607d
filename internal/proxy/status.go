package proxy

import (
	"fmt"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tandem-db/tandem/internal/merr"
)

const milvusService = "milvus.proto.milvus.MilvusService"

// methodInfo describes one MilvusService method.
type methodInfo struct {
	name  string // short name, e.g. "Search"
	class methodClass
	// unary is false for streaming methods (forwarded as streams, never
	// retried).
	unary bool
	// statusField is the field number of the response's
	// milvus.proto.common.Status field; 0 when the response is itself a
	// Status; -1 when it has none.
	statusField protowire.Number
}

// methods maps "/milvus.proto.milvus.MilvusService/Search" to its info,
// built from the compiled-in service descriptor.
var methods = buildMethods()

func buildMethods() map[string]*methodInfo {
	out := map[string]*methodInfo{}
	sd := milvuspb.File_milvus_proto.Services().ByName(protoreflect.Name(milvusService[strings.LastIndexByte(milvusService, '.')+1:]))
	if sd == nil {
		return out
	}
	statusName := (&commonpb.Status{}).ProtoReflect().Descriptor().FullName()
	for i := 0; i < sd.Methods().Len(); i++ {
		md := sd.Methods().Get(i)
		mi := &methodInfo{
			name:        string(md.Name()),
			unary:       !md.IsStreamingClient() && !md.IsStreamingServer(),
			statusField: -1,
		}
		mi.class = classify(mi.name)
		if md.Output().FullName() == statusName {
			mi.statusField = 0
		} else if fd := md.Output().Fields().ByName("status"); fd != nil &&
			fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() == statusName && fd.Cardinality() != protoreflect.Repeated {
			mi.statusField = fd.Number()
		}
		out["/"+string(sd.FullName())+"/"+mi.name] = mi
	}
	return out
}

// wireStatus is the part of a milvus.proto.common.Status the proxy reads.
type wireStatus struct {
	ErrorCode int32 // deprecated enum (field 1)
	Reason    string
	Code      int32 // Milvus v2 code (field 3)
}

// Status field numbers (milvus.proto.common.Status).
const (
	statusErrorCode protowire.Number = 1
	statusReason    protowire.Number = 2
	statusCode      protowire.Number = 3
)

// statusOf decodes the status of a raw response: the whole message when
// field is 0, otherwise the message-typed field number field. found is
// false when the field is absent (a success with default status). It only
// walks top-level tags, so it costs O(number of top-level fields) however
// large the response; repeated occurrences are merged as protobuf does.
func statusOf(raw []byte, field protowire.Number) (st wireStatus, found bool, err error) {
	if field < 0 {
		return st, false, nil
	}
	if field == 0 {
		return parseStatus(raw, st)
	}
	b := raw
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return st, false, fmt.Errorf("proxy: decode response: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num == field && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return st, false, fmt.Errorf("proxy: decode response field %d: %w", field, protowire.ParseError(m))
			}
			b = b[m:]
			if st, _, err = parseStatus(v, st); err != nil {
				return st, false, err
			}
			found = true
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return st, false, fmt.Errorf("proxy: decode response field %d: %w", num, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return st, found, nil
}

// parseStatus merges the encoded Status b into st.
func parseStatus(b []byte, st wireStatus) (wireStatus, bool, error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return st, false, fmt.Errorf("proxy: decode status: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case (num == statusErrorCode || num == statusCode) && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return st, false, fmt.Errorf("proxy: decode status field %d: %w", num, protowire.ParseError(m))
			}
			b = b[m:]
			if num == statusCode {
				st.Code = int32(v)
			} else {
				st.ErrorCode = int32(v)
			}
		case num == statusReason && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return st, false, fmt.Errorf("proxy: decode status reason: %w", protowire.ParseError(m))
			}
			b = b[m:]
			st.Reason = string(v)
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return st, false, fmt.Errorf("proxy: decode status field %d: %w", num, protowire.ParseError(m))
			}
			b = b[m:]
		}
	}
	return st, true, nil
}

// codeServiceUnavailable is Milvus's "service unavailable" code, with
// which a Tandem node refuses client requests it does not serve.
const codeServiceUnavailable = 2

// notAckedMarker is in the reason of a write that a node made durable
// but did not acknowledge (sync-mode acknowledgement failed, or the write
// gate closed after the WAL append): it may have been applied.
const notAckedMarker = "NOT acknowledged"

// refusalMarkers are the wordings with which a Tandem node refuses a
// request before applying anything: its role gate (standby, candidate,
// fenced, stopping, becoming active), or its write gate before the WAL
// append (internal/node notServing and writeGate.Allow).
var refusalMarkers = []string{
	"the active is ",
	"there is no active",
	"not open for writes yet",
	" is fenced",
	"(self-fenced)",
	" is stopping",
}

// isRefusal reports whether a status (code and reason) is a node's
// refusal that provably applied nothing: code 2 "service unavailable",
// with merr.NotServingTag (or, from older nodes, a role/write-gate
// wording) and without the "NOT acknowledged" of a
// write that reached the WAL. Anything else with code 2 is not a refusal:
// unknown wordings are treated as "may have been applied".
func isRefusal(code int32, reason string) bool {
	if code != codeServiceUnavailable || strings.Contains(reason, notAckedMarker) {
		return false
	}
	return strings.Contains(reason, merr.NotServingTag) || hasRefusalMarker(reason)
}

func hasRefusalMarker(reason string) bool {
	for _, m := range refusalMarkers {
		if strings.Contains(reason, m) {
			return true
		}
	}
	return false
}

// isNotAcked reports whether a status says a write reached the node's WAL
// but was not acknowledged.
func isNotAcked(code int32, reason string) bool {
	return code == codeServiceUnavailable && strings.Contains(reason, notAckedMarker)
}
