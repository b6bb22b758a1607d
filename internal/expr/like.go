package expr

import (
	"strings"
	"unicode/utf8"
)

// likeKind is the shape of a like pattern, chosen so that the common shapes
// run as a single strings call.
type likeKind uint8

const (
	likeExact    likeKind = iota // no wildcards: equality
	likePrefix                   // "abc%"
	likeSuffix                   // "%abc"
	likeContains                 // "%abc%"
	likeAll                      // "%" (any string)
	likeGeneral                  // anything else
)

// likeElem is one element of a general pattern.
type likeElem struct {
	any1 bool   // '_': exactly one character
	anyN bool   // '%': any sequence
	lit  string // one literal character (its UTF-8 bytes)
}

// likeMatcher matches strings against a Milvus like pattern: '%' matches
// any sequence of characters, '_' exactly one character, and a backslash
// makes the next character literal.
type likeMatcher struct {
	kind  likeKind
	lit   string
	elems []likeElem
}

// compileLike classifies pattern.
func compileLike(pattern string) *likeMatcher {
	var elems []likeElem
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '%':
			if len(elems) == 0 || !elems[len(elems)-1].anyN {
				elems = append(elems, likeElem{anyN: true})
			}
			i++
			continue
		case c == '_':
			elems = append(elems, likeElem{any1: true})
			i++
			continue
		case c == '\\' && i+1 < len(pattern):
			i++
		}
		_, size := utf8.DecodeRuneInString(pattern[i:])
		elems = append(elems, likeElem{lit: pattern[i : i+size]})
		i += size
	}
	m := &likeMatcher{kind: likeGeneral, elems: elems}
	// Classify: literal run with optional leading and trailing '%'.
	lo, hi := 0, len(elems)
	lead := lo < hi && elems[lo].anyN
	if lead {
		lo++
	}
	trail := hi > lo && elems[hi-1].anyN
	if trail {
		hi--
	}
	var b strings.Builder
	for _, e := range elems[lo:hi] {
		if e.any1 || e.anyN {
			return m
		}
		b.WriteString(e.lit)
	}
	m.lit = b.String()
	switch {
	case lead && (trail || m.lit == ""):
		if m.lit == "" {
			m.kind = likeAll
		} else {
			m.kind = likeContains
		}
	case lead:
		m.kind = likeSuffix
	case trail:
		m.kind = likePrefix
	default:
		m.kind = likeExact
	}
	return m
}

// match reports whether s matches the pattern.
func (m *likeMatcher) match(s string) bool {
	switch m.kind {
	case likeExact:
		return s == m.lit
	case likePrefix:
		return strings.HasPrefix(s, m.lit)
	case likeSuffix:
		return strings.HasSuffix(s, m.lit)
	case likeContains:
		return strings.Contains(s, m.lit)
	case likeAll:
		return true
	}
	return globMatch(m.elems, s)
}

// globMatch is the classic linear-backtracking wildcard match: on a
// mismatch, retry from the last '%' consuming one more character.
func globMatch(p []likeElem, s string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			e := p[pi]
			switch {
			case e.anyN:
				starP, starS = pi, si
				pi++
				continue
			case e.any1:
				_, w := utf8.DecodeRuneInString(s[si:])
				si += w
				pi++
				continue
			default:
				_, w := utf8.DecodeRuneInString(s[si:])
				if s[si:si+w] == e.lit {
					si += w
					pi++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starS:])
		starS += w
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi].anyN {
		pi++
	}
	return pi == len(p)
}
