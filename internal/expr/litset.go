package expr

import "math"

// smallSet is the list length up to which membership is a linear scan;
// longer lists use hash maps.
const smallSet = 16

// litSet is a set of literals for `in` and the contains functions, split by
// kind so that typed columns test membership without boxing.
//
// Equality follows comparison semantics: integers compare exactly with
// integers, and a number compares with a float as float64 values.
type litSet struct {
	ints   []int64   // integer elements
	floats []float64 // float elements (for integer data: float64(x) == f)
	nums   []float64 // every numeric element as float64 (for float data)
	strs   []string
	lenSet uint64 // bit l set if some element of strs has length l (>= 63: bit 63)
	hasT   bool
	hasF   bool
	lists  []lit // nested arrays (JSON only)

	intMap   map[int64]struct{}
	floatMap map[float64]struct{}
	numMap   map[float64]struct{}
	strMap   map[string]struct{}
}

// newLitSet builds the set of vals. round32 rounds numeric elements to
// float32 for comparison with float32 data, as Milvus casts the values to
// the field's type.
func newLitSet(vals []lit, round32 bool) *litSet {
	s := &litSet{}
	for _, v := range vals {
		switch v.k {
		case lInt:
			s.ints = append(s.ints, v.i)
			s.nums = append(s.nums, roundNum(float64(v.i), round32))
		case lFloat:
			s.floats = append(s.floats, v.f)
			s.nums = append(s.nums, roundNum(v.f, round32))
		case lString:
			s.strs = append(s.strs, v.s)
			s.lenSet |= lenBit(len(v.s))
		case lBool:
			if v.b {
				s.hasT = true
			} else {
				s.hasF = true
			}
		case lList:
			s.lists = append(s.lists, v)
		}
	}
	if len(s.ints) > smallSet {
		s.intMap = make(map[int64]struct{}, len(s.ints))
		for _, x := range s.ints {
			s.intMap[x] = struct{}{}
		}
	}
	if len(s.floats) > smallSet {
		s.floatMap = make(map[float64]struct{}, len(s.floats))
		for _, x := range s.floats {
			s.floatMap[x] = struct{}{}
		}
	}
	if len(s.nums) > smallSet {
		s.numMap = make(map[float64]struct{}, len(s.nums))
		for _, x := range s.nums {
			s.numMap[x] = struct{}{}
		}
	}
	if len(s.strs) > smallSet {
		s.strMap = make(map[string]struct{}, len(s.strs))
		for _, x := range s.strs {
			s.strMap[x] = struct{}{}
		}
	}
	return s
}

// lenBit is the lenSet bit for a string of length l.
func lenBit(l int) uint64 { return 1 << min(l, 63) }

// roundNum rounds f to float32 precision when round32 is set.
func roundNum(f float64, round32 bool) float64 {
	if round32 && !math.IsInf(f, 0) {
		return float64(float32(f))
	}
	return f
}

func hasFloat(list []float64, m map[float64]struct{}, x float64) bool {
	if m != nil {
		_, ok := m[x]
		return ok
	}
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

// hasInt reports whether integer x is in the set.
func (s *litSet) hasInt(x int64) bool {
	if s.intMap != nil {
		if _, ok := s.intMap[x]; ok {
			return true
		}
	} else {
		for _, v := range s.ints {
			if v == x {
				return true
			}
		}
	}
	return len(s.floats) > 0 && hasFloat(s.floats, s.floatMap, float64(x))
}

// hasFloat reports whether float x is in the set.
func (s *litSet) hasFloat(x float64) bool { return hasFloat(s.nums, s.numMap, x) }

// hasStr reports whether string x is in the set.
func (s *litSet) hasStr(x string) bool {
	if s.strMap != nil {
		_, ok := s.strMap[x]
		return ok
	}
	if s.lenSet&lenBit(len(x)) == 0 {
		return false
	}
	for _, v := range s.strs {
		if v == x {
			return true
		}
	}
	return false
}

// hasStrBytes is hasStr for a string given as bytes, without allocating.
func (s *litSet) hasStrBytes(x []byte) bool {
	if s.strMap != nil {
		_, ok := s.strMap[string(x)]
		return ok
	}
	if s.lenSet&lenBit(len(x)) == 0 {
		return false
	}
	for _, v := range s.strs {
		if v == string(x) {
			return true
		}
	}
	return false
}

// hasBool reports whether b is in the set.
func (s *litSet) hasBool(b bool) bool {
	if b {
		return s.hasT
	}
	return s.hasF
}

// hasAny reports whether the JSON value v is in the set.
func (s *litSet) hasAny(v any) bool {
	switch x := v.(type) {
	case int64:
		return s.hasInt(x)
	case float64:
		return s.hasFloat(x)
	case string:
		return s.hasStr(x)
	case bool:
		return s.hasBool(x)
	case []any:
		for _, l := range s.lists {
			if litEqAny(l, x) {
				return true
			}
		}
	}
	return false
}

// litEqAny reports whether literal l equals the JSON value v.
func litEqAny(l lit, v any) bool {
	switch x := v.(type) {
	case int64:
		switch l.k {
		case lInt:
			return l.i == x
		case lFloat:
			return float64(x) == l.f
		}
	case float64:
		return l.isNum() && l.num() == x
	case string:
		return l.k == lString && l.s == x
	case bool:
		return l.k == lBool && l.b == x
	case []any:
		if l.k != lList || len(l.l) != len(x) {
			return false
		}
		for i := range x {
			if !litEqAny(l.l[i], x[i]) {
				return false
			}
		}
		return true
	}
	return false
}
