package clusterproxy

import (
	"fmt"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// pick names row Row of source Src.
type pick struct{ Src, Row int }

// pickRows builds columns holding the picked rows, in order, from the
// columns of several results (one []*FieldData per source, matched by
// field name). The columns follow the first source that has any.
func pickRows(srcs [][]*schemapb.FieldData, picks []pick) ([]*schemapb.FieldData, error) {
	var shape []*schemapb.FieldData
	for _, s := range srcs {
		if len(s) > 0 {
			shape = s
			break
		}
	}
	out := make([]*schemapb.FieldData, len(shape))
	for i, f := range shape {
		out[i] = emptyLike(f)
	}
	index := make([]map[string]*schemapb.FieldData, len(srcs))
	for i, s := range srcs {
		index[i] = map[string]*schemapb.FieldData{}
		for _, f := range s {
			index[i][f.GetFieldName()] = f
		}
	}
	for _, p := range picks {
		for _, d := range out {
			src := index[p.Src][d.GetFieldName()]
			if src == nil {
				return nil, fmt.Errorf("clusterproxy: field %s missing from one group's result", d.GetFieldName())
			}
			if err := appendRow(d, src, p.Row); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func emptyLike(f *schemapb.FieldData) *schemapb.FieldData {
	d := &schemapb.FieldData{Type: f.GetType(), FieldName: f.GetFieldName(), FieldId: f.GetFieldId(), IsDynamic: f.GetIsDynamic()}
	switch x := f.GetField().(type) {
	case *schemapb.FieldData_Scalars:
		d.Field = &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{}}
	case *schemapb.FieldData_Vectors:
		d.Field = &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: x.Vectors.GetDim()}}
	}
	return d
}

// appendRow appends row i of src to dst (same field).
func appendRow(dst, src *schemapb.FieldData, i int) error {
	if len(src.GetValidData()) > 0 {
		dst.ValidData = append(dst.ValidData, src.ValidData[i])
	}
	switch x := src.GetField().(type) {
	case *schemapb.FieldData_Scalars:
		return appendScalar(dst.GetScalars(), x.Scalars, i)
	case *schemapb.FieldData_Vectors:
		return appendVector(dst.GetVectors(), x.Vectors, i)
	}
	return nil
}

// appendScalar appends element i of src's data array to dst's, whatever
// the oneof (every scalar array message has a repeated "data" field).
func appendScalar(dst, src *schemapb.ScalarField, i int) error {
	sm := src.ProtoReflect()
	od := sm.Descriptor().Oneofs().ByName("data")
	fd := sm.WhichOneof(od)
	if fd == nil {
		return nil
	}
	sarr := sm.Get(fd).Message()
	dm := dst.ProtoReflect()
	fresh := dm.WhichOneof(od) == nil
	darr := dm.Mutable(fd).Message()
	if fresh { // copy the array's other fields (ArrayArray's element_type)
		sarr.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if f.Name() != "data" {
				darr.Set(f, v)
			}
			return true
		})
	}
	dataFd := sarr.Descriptor().Fields().ByName("data")
	if dataFd == nil {
		return fmt.Errorf("clusterproxy: scalar %s has no data field", fd.Name())
	}
	list := sarr.Get(dataFd).List()
	if i >= list.Len() {
		return fmt.Errorf("clusterproxy: row %d of a %d-row %s column", i, list.Len(), fd.Name())
	}
	darr.Mutable(dataFd).List().Append(list.Get(i))
	return nil
}

func appendVector(dst, src *schemapb.VectorField, i int) error {
	dim := int(src.GetDim())
	cut := func(b []byte, width int) ([]byte, error) {
		if (i+1)*width > len(b) {
			return nil, fmt.Errorf("clusterproxy: vector row %d beyond %d bytes", i, len(b))
		}
		return b[i*width : (i+1)*width], nil
	}
	switch x := src.GetData().(type) {
	case *schemapb.VectorField_FloatVector:
		d, ok := dst.Data.(*schemapb.VectorField_FloatVector)
		if !ok {
			d = &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{}}
			dst.Data = d
		}
		v := x.FloatVector.GetData()
		if (i+1)*dim > len(v) {
			return fmt.Errorf("clusterproxy: vector row %d beyond %d floats", i, len(v))
		}
		d.FloatVector.Data = append(d.FloatVector.Data, v[i*dim:(i+1)*dim]...)
	case *schemapb.VectorField_BinaryVector:
		b, err := cut(x.BinaryVector, dim/8)
		if err != nil {
			return err
		}
		d, _ := dst.Data.(*schemapb.VectorField_BinaryVector)
		if d == nil {
			d = &schemapb.VectorField_BinaryVector{}
			dst.Data = d
		}
		d.BinaryVector = append(d.BinaryVector, b...)
	case *schemapb.VectorField_Float16Vector:
		b, err := cut(x.Float16Vector, 2*dim)
		if err != nil {
			return err
		}
		d, _ := dst.Data.(*schemapb.VectorField_Float16Vector)
		if d == nil {
			d = &schemapb.VectorField_Float16Vector{}
			dst.Data = d
		}
		d.Float16Vector = append(d.Float16Vector, b...)
	case *schemapb.VectorField_Bfloat16Vector:
		b, err := cut(x.Bfloat16Vector, 2*dim)
		if err != nil {
			return err
		}
		d, _ := dst.Data.(*schemapb.VectorField_Bfloat16Vector)
		if d == nil {
			d = &schemapb.VectorField_Bfloat16Vector{}
			dst.Data = d
		}
		d.Bfloat16Vector = append(d.Bfloat16Vector, b...)
	case *schemapb.VectorField_Int8Vector:
		b, err := cut(x.Int8Vector, dim)
		if err != nil {
			return err
		}
		d, _ := dst.Data.(*schemapb.VectorField_Int8Vector)
		if d == nil {
			d = &schemapb.VectorField_Int8Vector{}
			dst.Data = d
		}
		d.Int8Vector = append(d.Int8Vector, b...)
	case *schemapb.VectorField_SparseFloatVector:
		c := x.SparseFloatVector.GetContents()
		if i >= len(c) {
			return fmt.Errorf("clusterproxy: sparse row %d beyond %d rows", i, len(c))
		}
		d, _ := dst.Data.(*schemapb.VectorField_SparseFloatVector)
		if d == nil {
			d = &schemapb.VectorField_SparseFloatVector{SparseFloatVector: &schemapb.SparseFloatArray{}}
			dst.Data = d
		}
		d.SparseFloatVector.Contents = append(d.SparseFloatVector.Contents, c[i])
		d.SparseFloatVector.Dim = max(d.SparseFloatVector.Dim, x.SparseFloatVector.GetDim())
	default:
		return fmt.Errorf("clusterproxy: vector type %T is not supported across shards yet", x)
	}
	return nil
}

// numRows is the row count of a column set (from its first column).
func numRows(fs []*schemapb.FieldData) int {
	if len(fs) == 0 {
		return 0
	}
	f := fs[0]
	switch x := f.GetField().(type) {
	case *schemapb.FieldData_Scalars:
		sm := x.Scalars.ProtoReflect()
		fd := sm.WhichOneof(sm.Descriptor().Oneofs().ByName("data"))
		if fd == nil {
			return 0
		}
		arr := sm.Get(fd).Message()
		if dfd := arr.Descriptor().Fields().ByName("data"); dfd != nil {
			return arr.Get(dfd).List().Len()
		}
	case *schemapb.FieldData_Vectors:
		dim := int(x.Vectors.GetDim())
		switch v := x.Vectors.GetData().(type) {
		case *schemapb.VectorField_FloatVector:
			if dim > 0 {
				return len(v.FloatVector.GetData()) / dim
			}
		case *schemapb.VectorField_BinaryVector:
			if dim > 0 {
				return len(v.BinaryVector) / (dim / 8)
			}
		case *schemapb.VectorField_Float16Vector:
			if dim > 0 {
				return len(v.Float16Vector) / (2 * dim)
			}
		case *schemapb.VectorField_Bfloat16Vector:
			if dim > 0 {
				return len(v.Bfloat16Vector) / (2 * dim)
			}
		case *schemapb.VectorField_Int8Vector:
			if dim > 0 {
				return len(v.Int8Vector) / dim
			}
		case *schemapb.VectorField_SparseFloatVector:
			return len(v.SparseFloatVector.GetContents())
		}
	}
	return 0
}
