package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// methodClass says which failures of a method the proxy may retry.
type methodClass int

const (
	// classOther: a write the node does not deduplicate (every DDL and
	// admin write). Retried only when it provably was not applied.
	classOther methodClass = iota
	// classRead: changes nothing; retried after any failure.
	classRead
	// classDedup: a write the node deduplicates by request id (Insert,
	// Upsert, Delete). The proxy sends it with one request id per client
	// call (requestIDHeader), so it is retried after any failure: a
	// re-sent write the node already applied returns the original result
	// and applies nothing (package engine, request.go). Upsert and Delete
	// are NOT idempotent without the id: re-applied after another
	// client's write to the same key, they overwrite or delete that write.
	classDedup
)

func (c methodClass) String() string {
	switch c {
	case classRead:
		return "read"
	case classDedup:
		return "dedup_write"
	}
	return "write"
}

// requestIDHeader is the metadata key of a write's request id; the node
// reads the same key (internal/api/milvus.RequestIDHeader).
const requestIDHeader = "tandem-request-id"

// newRequestID returns a fresh request id: 32 hex digits from
// crypto/rand (128 bits, so ids of different proxies do not collide).
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// readPrefixes and readNames are the MilvusService methods that change
// nothing. The handshake (Connect) only records client info on the node.
var (
	readPrefixes = []string{"Describe", "Has", "Show", "List", "Get", "Select", "Check"}
	readNames    = map[string]bool{
		"Search": true, "HybridSearch": true, "Query": true, "CalcDistance": true,
		"BatchDescribeCollection": true, "Connect": true, "RunAnalyzer": true,
		"AllocTimestamp": true, "Dummy": true, "BackupRBAC": true,
	}
	dedupNames = map[string]bool{"Insert": true, "Upsert": true, "Delete": true}
)

// classify returns the class of the MilvusService method name ("Search").
func classify(name string) methodClass {
	if dedupNames[name] {
		return classDedup
	}
	if readNames[name] {
		return classRead
	}
	for _, p := range readPrefixes {
		if strings.HasPrefix(name, p) && len(name) > len(p) && name[len(p)] >= 'A' && name[len(p)] <= 'Z' {
			return classRead
		}
	}
	return classOther
}

// outcome is what one forwarding attempt came to.
type outcome int

const (
	// outcomeDone: an answer to pass to the client as is (success, or an
	// error that retrying would not change).
	outcomeDone outcome = iota
	// outcomeNoActive: the group had no active to send to.
	outcomeNoActive
	// outcomeNotSent: no connection to the node could be established;
	// the request never left the proxy.
	outcomeNotSent
	// outcomeRefused: the node answered with its role/write-gate refusal
	// (Milvus code 2, see isRefusal): nothing was applied.
	outcomeRefused
	// outcomeNotAcked: the node made the write durable but did not
	// acknowledge it: it may have been applied.
	outcomeNotAcked
	// outcomeBroken: the request was sent but the connection or stream
	// failed before an answer: it may have been applied.
	outcomeBroken
)

func (o outcome) String() string {
	switch o {
	case outcomeDone:
		return "done"
	case outcomeNoActive:
		return "no_active"
	case outcomeNotSent:
		return "not_connected"
	case outcomeRefused:
		return "refused"
	case outcomeNotAcked:
		return "not_acknowledged"
	case outcomeBroken:
		return "broken"
	}
	return "unknown"
}

// retryable is the retry rule: a request whose attempt provably applied
// nothing (no active, no connection, a refusal) is retried whatever the
// method; one that may have been applied only if the method is a read or
// a write sent with a request id (Insert, Upsert, Delete: the node answers
// a known id with the original result). So no write is applied twice by
// the proxy, as long as the node remembers the id: it keeps the last
// engine.RequestTableSize (65536) ids, and the proxy re-sends only within
// its hold (default 5 s).
func retryable(c methodClass, o outcome) bool {
	switch o {
	case outcomeNoActive, outcomeNotSent, outcomeRefused:
		return true
	case outcomeNotAcked, outcomeBroken:
		return c == classRead || c == classDedup
	}
	return false
}

// backoff is the pause before attempt n+1 (n >= 1): first, doubled each
// time, capped at limit.
func backoff(first, limit time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
