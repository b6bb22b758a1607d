package engine

import (
	"fmt"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
)

// Scalar indexes (INVERTED, STL_SORT, TRIE, BITMAP, AUTOINDEX on a scalar
// field) are recorded and listed like vector indexes, with Milvus 2.6's
// per-type rules (its indexparamcheck checkers) and wording; filters do not
// use them yet (they scan the column), so they change no result.

// checkScalarIndex applies Milvus's rules for index type it on scalar
// field f. (JSON fields are refused before: no JSON path indexes yet.)
func checkScalarIndex(f *fieldInfo, it string) error {
	bad := func(format string, args ...any) error {
		return merr.Wrap(merr.ErrParameterInvalid, fmt.Sprintf(format, args...),
			"expected", "valid index params", "actual", "invalid index params")
	}
	t := f.typ
	isInt := t == schemapb.DataType_Int8 || t == schemapb.DataType_Int16 || t == schemapb.DataType_Int32 ||
		t == schemapb.DataType_Int64
	isNum := isInt || t == schemapb.DataType_Float || t == schemapb.DataType_Double
	isStr := t == schemapb.DataType_VarChar || t == schemapb.DataType_String
	switch it {
	case "STL_SORT":
		if !isNum && !isStr {
			return bad("STL_SORT are only supported on numeric, varchar or timestamptz field, got %s", t)
		}
	case "TRIE":
		if !isStr {
			return bad("TRIE are only supported on varchar field")
		}
	case "BITMAP":
		if f.isPK {
			return bad("create bitmap index on primary key not supported")
		}
		if t != schemapb.DataType_Bool && !isInt && !isStr && t != schemapb.DataType_Array {
			return bad("bitmap index are only supported on bool, int, string and array field")
		}
		if t == schemapb.DataType_Array {
			e := f.elem
			if e != schemapb.DataType_Bool && e != schemapb.DataType_Int8 && e != schemapb.DataType_Int16 &&
				e != schemapb.DataType_Int32 && e != schemapb.DataType_Int64 && e != schemapb.DataType_VarChar &&
				e != schemapb.DataType_String {
				return bad("bitmap index are only supported on bool, int, string for array field")
			}
		}
	case "INVERTED":
		if t != schemapb.DataType_Bool && !isNum && !isStr && t != schemapb.DataType_Array && t != schemapb.DataType_JSON {
			return bad("INVERTED are not supported on %s field", t)
		}
	}
	return nil
}
