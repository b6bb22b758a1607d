package expr

import (
	"encoding/json"
	"strconv"
)

// maxJSONDepth bounds the nesting decoded from a JSON document.
const maxJSONDepth = 512

// jsonLookup returns the value at path inside the JSON document doc, decoded
// as nil (JSON null), bool, int64 (integers that fit), float64, string,
// []any or map[string]any. ok is false when doc is empty or malformed along
// the way, or the path does not exist. Only the parts of doc on the way to
// the value are scanned; siblings are skipped without decoding.
func jsonLookup(doc []byte, path []pathElem) (v any, ok bool) {
	if len(doc) == 0 {
		return nil, false
	}
	s := jscan{b: doc}
	for _, pe := range path {
		if pe.isIdx {
			ok = s.enterIndex(pe.idx)
		} else {
			ok = s.enterKey(pe.key)
		}
		if !ok {
			return nil, false
		}
	}
	return s.value(0)
}

// jsonEachElem calls fn for each element of the array at path in doc,
// stopping early when fn returns false. Scalars are passed decoded (nil,
// bool, int64, float64); strings are passed as their raw bytes in str when
// they contain no escapes (v is nil then) to avoid allocating; containers
// are decoded only when decodeContainers is set and are skipped otherwise.
// ok is false when the path is missing, is not an array, or is malformed.
func jsonEachElem(doc []byte, path []pathElem, decodeContainers bool,
	fn func(v any, str []byte, isStr bool) bool) (ok bool) {
	if len(doc) == 0 {
		return false
	}
	s := jscan{b: doc}
	for _, pe := range path {
		if pe.isIdx {
			ok = s.enterIndex(pe.idx)
		} else {
			ok = s.enterKey(pe.key)
		}
		if !ok {
			return false
		}
	}
	if s.peek() != '[' {
		return false
	}
	s.i++
	if s.peek() == ']' {
		return true
	}
	for {
		switch c := s.peek(); {
		case c == '"':
			start := s.i
			end, escaped, ok := s.scanString()
			if !ok {
				return false
			}
			if escaped {
				str, ok := decodeJSONString(s.b[start:end])
				if !ok {
					return false
				}
				if !fn(nil, []byte(str), true) {
					return true
				}
			} else if !fn(nil, s.b[start+1:end-1], true) {
				return true
			}
		case (c == '[' || c == '{') && !decodeContainers:
			if !s.skip() {
				return false
			}
		default:
			v, ok := s.value(0)
			if !ok {
				return false
			}
			if !fn(v, nil, false) {
				return true
			}
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			return true
		default:
			return false
		}
	}
}

// jscan is a cursor over a JSON document.
type jscan struct {
	b []byte
	i int
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *jscan) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// enterKey moves the cursor from an object to the value of key.
func (s *jscan) enterKey(key string) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	if s.peek() == '}' {
		return false
	}
	for {
		if s.peek() != '"' {
			return false
		}
		start := s.i
		end, escaped, ok := s.scanString()
		if !ok {
			return false
		}
		var match bool
		if !escaped {
			match = string(s.b[start+1:end-1]) == key
		} else {
			k, ok := decodeJSONString(s.b[start:end])
			if !ok {
				return false
			}
			match = k == key
		}
		if s.peek() != ':' {
			return false
		}
		s.i++
		if match {
			return true
		}
		if !s.skip() {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		default:
			return false
		}
	}
}

// enterIndex moves the cursor from an array to its element idx.
func (s *jscan) enterIndex(idx int64) bool {
	if idx < 0 || s.peek() != '[' {
		return false
	}
	s.i++
	if s.peek() == ']' {
		return false
	}
	for n := int64(0); ; n++ {
		if n == idx {
			return true
		}
		if !s.skip() {
			return false
		}
		if s.peek() != ',' {
			return false
		}
		s.i++
	}
}

// scanString advances over the string starting at s.i (a '"'), returning
// the index just past the closing quote and whether it contains escapes.
func (s *jscan) scanString() (end int, escaped, ok bool) {
	i := s.i + 1
	for i < len(s.b) {
		switch s.b[i] {
		case '"':
			s.i = i + 1
			return i + 1, escaped, true
		case '\\':
			escaped = true
			i += 2
		default:
			i++
		}
	}
	return 0, false, false
}

// skip advances over one value without decoding it.
func (s *jscan) skip() bool {
	switch s.peek() {
	case 0:
		return false
	case '"':
		_, _, ok := s.scanString()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, _, ok := s.scanString(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	case '}', ']', ',', ':':
		return false
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r', ':':
			return s.i > start
		}
		s.i++
	}
	return s.i > start
}

// value decodes the value at the cursor.
func (s *jscan) value(depth int) (any, bool) {
	if depth > maxJSONDepth {
		return nil, false
	}
	switch c := s.peek(); c {
	case 0:
		return nil, false
	case '"':
		start := s.i
		end, escaped, ok := s.scanString()
		if !ok {
			return nil, false
		}
		if !escaped {
			return string(s.b[start+1 : end-1]), true
		}
		str, ok := decodeJSONString(s.b[start:end])
		return str, ok
	case '{':
		s.i++
		m := map[string]any{}
		if s.peek() == '}' {
			s.i++
			return m, true
		}
		for {
			if s.peek() != '"' {
				return nil, false
			}
			start := s.i
			end, escaped, ok := s.scanString()
			if !ok {
				return nil, false
			}
			var k string
			if escaped {
				if k, ok = decodeJSONString(s.b[start:end]); !ok {
					return nil, false
				}
			} else {
				k = string(s.b[start+1 : end-1])
			}
			if s.peek() != ':' {
				return nil, false
			}
			s.i++
			v, ok := s.value(depth + 1)
			if !ok {
				return nil, false
			}
			if _, dup := m[k]; !dup {
				m[k] = v
			}
			switch s.peek() {
			case ',':
				s.i++
			case '}':
				s.i++
				return m, true
			default:
				return nil, false
			}
		}
	case '[':
		s.i++
		a := []any{}
		if s.peek() == ']' {
			s.i++
			return a, true
		}
		for {
			v, ok := s.value(depth + 1)
			if !ok {
				return nil, false
			}
			a = append(a, v)
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return a, true
			default:
				return nil, false
			}
		}
	case 't':
		return true, s.word("true")
	case 'f':
		return false, s.word("false")
	case 'n':
		return nil, s.word("null")
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.i++
			continue
		}
		break
	}
	return parseJSONNumber(string(s.b[start:s.i]))
}

// word consumes the literal w.
func (s *jscan) word(w string) bool {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return false
	}
	s.i += len(w)
	return true
}

// parseJSONNumber decodes a JSON number: int64 when it is written as an
// integer and fits, float64 otherwise.
func parseJSONNumber(t string) (any, bool) {
	if t == "" {
		return nil, false
	}
	isInt := true
	for i := 0; i < len(t); i++ {
		if c := t[i]; c == '.' || c == 'e' || c == 'E' {
			isInt = false
			break
		}
	}
	if isInt {
		if v, err := strconv.ParseInt(t, 10, 64); err == nil {
			return v, true
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return nil, false
	}
	return f, true
}

// decodeJSONString decodes a quoted JSON string that contains escapes.
func decodeJSONString(q []byte) (string, bool) {
	var out string
	if err := json.Unmarshal(q, &out); err != nil {
		return "", false
	}
	return out, true
}
