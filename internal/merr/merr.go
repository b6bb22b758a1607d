// Package merr holds Tandem's sentinel errors, each carrying the Milvus
// error code and wording that Milvus's own `merr` package uses, so that
// the official SDKs and users' code that key on codes (for example
// HasCollection treating code 100 as "absent") behave unchanged.
//
// Wrap a sentinel with a detail using the helpers below, or with
// fmt.Errorf("...: %w", merr.ErrX). Status turns any error into a
// commonpb.Status; errors that carry no Milvus code map to code 65535
// ("unexpected error").
package merr

import (
	"context"
	"errors"
	"fmt"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
)

// Error is a Milvus-coded error. Code is the Milvus v2 error code; Msg the
// Milvus wording of the error kind.
type Error struct {
	Code      int32
	Msg       string
	Retriable bool
}

func (e *Error) Error() string { return e.Msg }

func newErr(msg string, code int32, retriable bool) *Error {
	return &Error{Code: code, Msg: msg, Retriable: retriable}
}

// Sentinel errors; codes and wording follow milvus/pkg/util/merr.
var (
	ErrServiceNotReady       = newErr("service not ready", 1, true)
	ErrServiceUnavailable    = newErr("service unavailable", 2, true)
	ErrServiceMemoryLimit    = newErr("memory limit exceeded", 3, false)
	ErrServiceInternal       = newErr("service internal error", 5, false)
	ErrServiceDiskLimit      = newErr("disk limit exceeded", 7, false)
	ErrServiceUnimplemented  = newErr("service unimplemented", 10, false)
	ErrCollectionNotFound    = newErr("collection not found", 100, false)
	ErrCollectionNotLoaded   = newErr("collection not loaded", 101, false)
	ErrCollectionNumLimit    = newErr("exceeded the limit number of collections", 102, false)
	ErrCollectionIllegal     = newErr("illegal collection schema", 105, false)
	ErrCollectionSchemaMism  = newErr("collection schema mismatch", 109, false)
	ErrPartitionNotFound     = newErr("partition not found", 200, false)
	ErrPartitionNotLoaded    = newErr("partition not loaded", 201, false)
	ErrIndexNotFound         = newErr("index not found", 700, false)
	ErrIndexNotSupported     = newErr("index type not supported", 701, false)
	ErrIndexDuplicate        = newErr("index duplicates", 702, false)
	ErrDatabaseNotFound      = newErr("database not found", 800, false)
	ErrDatabaseNumLimit      = newErr("exceeded the limit number of database", 801, false)
	ErrDatabaseInvalidName   = newErr("invalid database name", 802, false)
	ErrIoFailed              = newErr("IO failed", 1001, false)
	ErrParameterInvalid      = newErr("invalid parameter", 1100, false)
	ErrParameterMissing      = newErr("missing parameter", 1101, false)
	ErrParameterTooLarge     = newErr("parameter too large", 1102, false)
	ErrMetricNotFound        = newErr("metric not found", 1200, false)
	ErrNotAuthenticated      = newErr("not authenticated", 1400, false)
	ErrPrivilegeNotPermitted = newErr("privilege not permitted", 1401, false)
	ErrAliasNotFound         = newErr("alias not found", 1600, false)
	ErrAliasNameConflict     = newErr("alias and collection name conflict", 1601, false)
	ErrAliasAlreadyExist     = newErr("alias already exist", 1602, false)
	ErrFieldNotFound         = newErr("field not found", 1700, false)
	ErrFieldInvalidName      = newErr("field name invalid", 1701, false)
	ErrIncorrectParamFormat  = newErr("can only accept json format request", 1801, false)
	ErrMissingRequiredParams = newErr("missing required parameters", 1802, false)
	ErrInvalidInsertData     = newErr("fail to deal the insert data", 1804, false)
	ErrCheckPrimaryKey       = newErr("please check the primary key and its' type can only in [int, string]", 1806, false)
	ErrOperationNotSupported = newErr("unsupported operation", 3000, false)
	ErrUnexpected            = newErr("unexpected error", 65535, false)
)

// Codes for cancelled and timed-out requests, as Milvus reports them.
const (
	CanceledCode int32 = 10000
	TimeoutCode  int32 = 10001
)

// Wrap returns an error that matches base with errors.Is and whose text is
// "<base>[k=v]...: detail" in Milvus's style. kv are alternating keys and
// values (for example "collection", name).
func Wrap(base *Error, detail string, kv ...any) error {
	msg := base.Msg
	for i := 0; i+1 < len(kv); i += 2 {
		msg += fmt.Sprintf("[%v=%v]", kv[i], kv[i+1])
	}
	if detail != "" {
		msg += ": " + detail
	}
	return &wrapped{base: base, msg: msg}
}

// NotServingTag ends the reason of a request a Tandem node refused before
// applying anything (a standby, candidate, fenced or stopping node, or a
// closed write gate before the WAL append): a proxy or client may send it
// again to the active. A write that reached the WAL but was not
// acknowledged never carries it alone: its reason says "NOT acknowledged".
const NotServingTag = "[not serving: nothing applied]"

// NotServing is ErrServiceUnavailable with the formatted reason and
// NotServingTag.
func NotServing(format string, args ...any) error {
	return Wrapf(ErrServiceUnavailable, "%s %s", fmt.Sprintf(format, args...), NotServingTag)
}

// WithMessage returns an error with base's code whose message is msg as
// given (for messages that must read exactly as Milvus's, which do not
// always follow "base: detail").
func WithMessage(base *Error, msg string) error {
	return &wrapped{base: base, msg: msg}
}

// Wrapf is Wrap with a formatted detail and no fields.
func Wrapf(base *Error, format string, args ...any) error {
	return Wrap(base, fmt.Sprintf(format, args...))
}

type wrapped struct {
	base *Error
	msg  string
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.base }

// CollectionNotFound is ErrCollectionNotFound naming the collection.
func CollectionNotFound(name string) error {
	return Wrap(ErrCollectionNotFound, "", "collection", name)
}

// CollectionNotLoaded is ErrCollectionNotLoaded naming the collection.
func CollectionNotLoaded(name string) error {
	return Wrap(ErrCollectionNotLoaded, "", "collection", name)
}

// PartitionNotFound is ErrPartitionNotFound naming the partition.
func PartitionNotFound(name string) error {
	return Wrap(ErrPartitionNotFound, "", "partition", name)
}

// FieldNotFound is ErrFieldNotFound naming the field.
func FieldNotFound(name string) error { return Wrap(ErrFieldNotFound, "", "field", name) }

// IndexNotFound is ErrIndexNotFound naming the index.
func IndexNotFound(name string) error { return Wrap(ErrIndexNotFound, "", "indexName", name) }

// InvalidParam is ErrParameterInvalid with a formatted reason.
func InvalidParam(format string, args ...any) error {
	return Wrapf(ErrParameterInvalid, format, args...)
}

// Code returns the Milvus code of err: 0 for nil, the code of the Milvus
// error it wraps, CanceledCode/TimeoutCode for context errors, and 65535
// otherwise.
func Code(err error) int32 {
	if err == nil {
		return 0
	}
	var me *Error
	if errors.As(err, &me) {
		return me.Code
	}
	if errors.Is(err, context.Canceled) {
		return CanceledCode
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return TimeoutCode
	}
	return ErrUnexpected.Code
}

// Status converts err into a Milvus status; nil becomes success.
func Status(err error) *commonpb.Status {
	if err == nil {
		return &commonpb.Status{}
	}
	code := Code(err)
	var me *Error
	retriable := errors.As(err, &me) && me.Retriable
	return &commonpb.Status{
		Code:      code,
		Reason:    err.Error(),
		ErrorCode: oldCode(code),
		Retriable: retriable,
		Detail:    err.Error(),
	}
}

// oldCode maps a v2 code to the deprecated ErrorCode enum, as Milvus does.
func oldCode(code int32) commonpb.ErrorCode {
	switch code {
	case ErrServiceNotReady.Code:
		return commonpb.ErrorCode_NotReadyServe
	case ErrCollectionNotFound.Code:
		return commonpb.ErrorCode_CollectionNotExists
	case ErrParameterInvalid.Code:
		return commonpb.ErrorCode_IllegalArgument
	case ErrPartitionNotFound.Code:
		return commonpb.ErrorCode_MetaFailed
	case ErrServiceMemoryLimit.Code:
		return commonpb.ErrorCode_InsufficientMemoryToLoad
	case ErrServiceDiskLimit.Code:
		return commonpb.ErrorCode_DiskQuotaExhausted
	case ErrIndexNotFound.Code:
		return commonpb.ErrorCode_IndexNotExist
	case ErrCollectionSchemaMism.Code:
		return commonpb.ErrorCode_SchemaMismatch
	case ErrNotAuthenticated.Code:
		return commonpb.ErrorCode_NotReadyServe
	default:
		return commonpb.ErrorCode_UnexpectedError
	}
}
