package proxy

import (
	"strings"
	"time"
)

// methodClass says which failures of a method the proxy may retry.
type methodClass int

const (
	// classOther: a write that is not provably idempotent (Insert, every
	// DDL and admin write). Retried only when it provably was not
	// applied.
	classOther methodClass = iota
	// classRead: changes nothing; retried after any failure.
	classRead
	// classIdempotent: a write whose repetition changes nothing more
	// (Upsert, Delete); retried after any failure.
	classIdempotent
)

func (c methodClass) String() string {
	switch c {
	case classRead:
		return "read"
	case classIdempotent:
		return "idempotent"
	}
	return "write"
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
	idempotentNames = map[string]bool{"Upsert": true, "Delete": true}
)

// classify returns the class of the MilvusService method name ("Search").
func classify(name string) methodClass {
	if idempotentNames[name] {
		return classIdempotent
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
// an idempotent write (Upsert, Delete). So an Insert is never applied
// twice by the proxy.
func retryable(c methodClass, o outcome) bool {
	switch o {
	case outcomeNoActive, outcomeNotSent, outcomeRefused:
		return true
	case outcomeNotAcked, outcomeBroken:
		return c == classRead || c == classIdempotent
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
