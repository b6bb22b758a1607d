package expr

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind classifies a token.
type tokKind uint8

const (
	tkEOF     tokKind = iota
	tkIdent           // identifier, including $meta
	tkInt             // integer constant (decimal, octal, hex, binary)
	tkFloat           // floating constant
	tkString          // quoted string, already unescaped
	tkOp              // operator or punctuation
	tkKeyword         // case-insensitive keyword, text lower-cased
)

// token is one lexical token of an expression.
type token struct {
	kind tokKind
	text string // source text (keywords: lower-cased)
	pos  int    // byte offset in the source
	i    int64
	f    float64
	s    string
}

// keywords are the reserved words of the language (matched case-insensitively,
// as in Milvus's grammar).
var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "like": true,
	"exists": true, "true": true, "false": true,
}

// operators, longest first so that maximal munch works.
var operators = []string{
	"==", "!=", "<=", ">=", "<<", ">>", "&&", "||", "**",
	"<", ">", "+", "-", "*", "/", "%", "!", "~", "&", "|", "^",
	"(", ")", "[", "]", ",", "{", "}", "=",
}

// lex splits s into tokens, ending with a tkEOF token.
func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			toks = append(toks, token{kind: tkEOF, pos: i})
			return toks, nil
		}
		c := s[i]
		switch {
		case isIdentStart(c) || (c == '$' && strings.HasPrefix(s[i:], "$meta") && !(i+5 < len(s) && isIdentChar(s[i+5]))):
			j := i + 1
			if c == '$' {
				j = i + 5
			}
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			word := s[i:j]
			if lw := strings.ToLower(word); keywords[lw] {
				toks = append(toks, token{kind: tkKeyword, text: lw, pos: i})
			} else {
				toks = append(toks, token{kind: tkIdent, text: word, pos: i})
			}
			i = j
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			t, n, err := lexNumber(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i += n
		case c == '"' || c == '\'':
			str, n, err := lexString(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tkString, text: s[i : i+n], pos: i, s: str})
			i += n
		default:
			op := ""
			for _, o := range operators {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				r, _ := utf8.DecodeRuneInString(s[i:])
				return nil, fmt.Errorf("unexpected character %q at position %d", r, i)
			}
			toks = append(toks, token{kind: tkOp, text: op, pos: i})
			i += len(op)
		}
	}
}

func isSpace(c byte) bool      { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }
func isHexDigit(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// isIdentifier reports whether s lexes as a single plain identifier.
func isIdentifier(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return !keywords[strings.ToLower(s)]
}

// lexNumber scans the numeric constant starting at s[i] and returns its
// token and length.
func lexNumber(s string, i int) (token, int, error) {
	j := i
	bad := func(text string, why string) (token, int, error) {
		return token{}, 0, fmt.Errorf("invalid number %q at position %d: %s", text, i, why)
	}
	// Hexadecimal and binary forms.
	if s[j] == '0' && j+1 < len(s) && (s[j+1] == 'x' || s[j+1] == 'X') {
		k := j + 2
		digits := 0
		for k < len(s) && isHexDigit(s[k]) {
			k++
			digits++
		}
		isFloat := false
		if k < len(s) && s[k] == '.' {
			isFloat = true
			k++
			for k < len(s) && isHexDigit(s[k]) {
				k++
				digits++
			}
		}
		if digits == 0 {
			return bad(s[i:k], "missing hexadecimal digits")
		}
		if k < len(s) && (s[k] == 'p' || s[k] == 'P') {
			isFloat = true
			k++
			if k < len(s) && (s[k] == '+' || s[k] == '-') {
				k++
			}
			e := k
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			if e == k {
				return bad(s[i:k], "missing exponent")
			}
		} else if isFloat {
			return bad(s[i:k], "hexadecimal float needs a p exponent")
		}
		text := s[i:k]
		if isFloat {
			f, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return bad(text, "out of range")
			}
			return token{kind: tkFloat, text: text, pos: i, f: f}, k - i, nil
		}
		v, err := strconv.ParseInt(text[2:], 16, 64)
		if err != nil {
			return bad(text, "out of range")
		}
		return token{kind: tkInt, text: text, pos: i, i: v}, k - i, nil
	}
	if s[j] == '0' && j+1 < len(s) && (s[j+1] == 'b' || s[j+1] == 'B') {
		k := j + 2
		for k < len(s) && (s[k] == '0' || s[k] == '1') {
			k++
		}
		text := s[i:k]
		if k == j+2 {
			return bad(text, "missing binary digits")
		}
		v, err := strconv.ParseInt(text[2:], 2, 64)
		if err != nil {
			return bad(text, "out of range")
		}
		return token{kind: tkInt, text: text, pos: i, i: v}, k - i, nil
	}
	k := j
	for k < len(s) && isDigit(s[k]) {
		k++
	}
	isFloat := false
	if k < len(s) && s[k] == '.' {
		isFloat = true
		k++
		for k < len(s) && isDigit(s[k]) {
			k++
		}
	}
	if k < len(s) && (s[k] == 'e' || s[k] == 'E') {
		m := k + 1
		if m < len(s) && (s[m] == '+' || s[m] == '-') {
			m++
		}
		e := m
		for m < len(s) && isDigit(s[m]) {
			m++
		}
		if m > e {
			isFloat = true
			k = m
		}
	}
	text := s[i:k]
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return bad(text, "out of range")
		}
		return token{kind: tkFloat, text: text, pos: i, f: f}, k - i, nil
	}
	base := 10
	digits := text
	if len(text) > 1 && text[0] == '0' {
		base = 8
		digits = text[1:]
		for x := 0; x < len(digits); x++ {
			if digits[x] > '7' {
				return bad(text, "invalid octal digit")
			}
		}
	}
	v, err := strconv.ParseInt(digits, base, 64)
	if err != nil {
		return bad(text, "out of range")
	}
	return token{kind: tkInt, text: text, pos: i, i: v}, k - i, nil
}

// lexString scans the quoted string starting at s[i] and returns its
// unescaped value and its length in the source. Escapes follow C (and
// Milvus): \' \" \? \\ \a \b \f \n \r \t \v, \ooo octal, \xhh, \uhhhh and
// \Uhhhhhhhh.
func lexString(s string, i int) (string, int, error) {
	q := s[i]
	var b strings.Builder
	j := i + 1
	for {
		if j >= len(s) {
			return "", 0, fmt.Errorf("unterminated string starting at position %d", i)
		}
		c := s[j]
		switch {
		case c == q:
			return b.String(), j + 1 - i, nil
		case c == '\n' || c == '\r':
			return "", 0, fmt.Errorf("newline in string starting at position %d", i)
		case c != '\\':
			b.WriteByte(c)
			j++
			continue
		}
		if j+1 >= len(s) {
			return "", 0, fmt.Errorf("unterminated string starting at position %d", i)
		}
		e := s[j+1]
		j += 2
		switch e {
		case '\'', '"', '?', '\\':
			b.WriteByte(e)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(e - '0')
			for n := 0; n < 2 && j < len(s) && s[j] >= '0' && s[j] <= '7'; n++ {
				v = v*8 + int(s[j]-'0')
				j++
			}
			if v > 255 {
				return "", 0, fmt.Errorf("octal escape out of range in string at position %d", i)
			}
			b.WriteByte(byte(v))
		case 'x':
			if j+2 > len(s) || !isHexDigit(s[j]) || !isHexDigit(s[j+1]) {
				return "", 0, fmt.Errorf("invalid \\x escape in string at position %d", i)
			}
			v, _ := strconv.ParseUint(s[j:j+2], 16, 8)
			b.WriteByte(byte(v))
			j += 2
		case 'u', 'U':
			n := 4
			if e == 'U' {
				n = 8
			}
			if j+n > len(s) {
				return "", 0, fmt.Errorf("invalid \\%c escape in string at position %d", e, i)
			}
			for x := j; x < j+n; x++ {
				if !isHexDigit(s[x]) {
					return "", 0, fmt.Errorf("invalid \\%c escape in string at position %d", e, i)
				}
			}
			v, _ := strconv.ParseUint(s[j:j+n], 16, 32)
			if !utf8.ValidRune(rune(v)) {
				return "", 0, fmt.Errorf("invalid code point in string at position %d", i)
			}
			b.WriteRune(rune(v))
			j += n
		default:
			return "", 0, fmt.Errorf("invalid escape \\%c in string at position %d", e, i)
		}
	}
}

// quote renders v as a double-quoted string literal that lexString reads
// back to exactly v (invalid UTF-8 and control bytes become \x escapes).
func quote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, "\\x%02x", v[i])
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteByte(byte(r))
		case r == '\n':
			b.WriteString("\\n")
		case r == '\r':
			b.WriteString("\\r")
		case r == '\t':
			b.WriteString("\\t")
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", byte(r))
		default:
			b.WriteString(v[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}
