package config

import (
	"fmt"
	"strconv"
	"strings"
)

// keyLines maps every key of a TOML document to the line it is defined on. Paths join keys
// with "." and give elements of arrays of tables and of array values their index:
// "plugin[1].timeout", "net_allow[0]". Table headers map to their own line ("log",
// "plugin[1]").
//
// BurntSushi/toml v1.6 keeps key positions private, and the one it uses in its own messages
// names an array-of-tables key without its index (every [[plugin]]'s "timeout" is the same
// "plugin.timeout", recorded at the last one). This scanner runs only over documents the toml
// parser has already accepted, so it can be small: it knows where strings, comments, arrays and
// inline tables begin and end, and nothing about what values mean.
func keyLines(src []byte) map[string]int {
	s := &keyScanner{src: src, line: 1, lines: map[string]int{}, arrays: map[string]int{}}
	s.document()
	return s.lines
}

type keyScanner struct {
	src  []byte
	i    int
	line int
	// lines is the result; arrays counts the elements seen so far of each array of tables,
	// keyed by the indexed path of the array ("plugin", "a[0].b").
	lines  map[string]int
	arrays map[string]int
}

func (s *keyScanner) eof() bool { return s.i >= len(s.src) }

func (s *keyScanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.i]
}

func (s *keyScanner) has(prefix string) bool {
	return strings.HasPrefix(string(s.src[s.i:min(len(s.src), s.i+len(prefix))]), prefix)
}

func (s *keyScanner) next() {
	if s.eof() {
		return
	}
	if s.src[s.i] == '\n' {
		s.line++
	}
	s.i++
}

// blank skips spaces and tabs; with newlines it also skips line ends and comments.
func (s *keyScanner) blank(newlines bool) {
	for !s.eof() {
		switch c := s.peek(); {
		case c == ' ' || c == '\t' || c == '\r':
			s.next()
		case c == '#' && newlines:
			for !s.eof() && s.peek() != '\n' {
				s.next()
			}
		case c == '\n' && newlines:
			s.next()
		default:
			return
		}
	}
}

func (s *keyScanner) skipLine() {
	for !s.eof() && s.peek() != '\n' {
		s.next()
	}
}

func (s *keyScanner) document() {
	table := ""
	for {
		s.blank(true)
		if s.eof() {
			return
		}
		start := s.i
		if s.peek() == '[' {
			table = s.header()
		} else {
			line := s.line
			path := join(table, s.key()...)
			s.blank(false)
			if s.peek() == '=' {
				s.next()
				s.blank(false)
				s.record(path, line)
				s.value(path)
			}
			s.skipLine()
		}
		if s.i == start {
			s.next() // never loop without progress, whatever the input
		}
	}
}

// header reads a [table] or [[array.of.tables]] line and returns its indexed path.
func (s *keyScanner) header() string {
	line := s.line
	s.next()
	isArray := s.peek() == '['
	if isArray {
		s.next()
	}
	keys := s.key()
	path := ""
	for n, k := range keys {
		path = join(path, k)
		count, known := s.arrays[path]
		switch {
		case isArray && n == len(keys)-1:
			s.record(path, line) // the array as a whole starts at its first element
			s.arrays[path] = count + 1
			path = fmt.Sprintf("%s[%d]", path, count)
		case known:
			path = fmt.Sprintf("%s[%d]", path, count-1)
		}
	}
	s.record(path, line)
	s.skipLine()
	return path
}

// key reads a possibly dotted, possibly quoted key.
func (s *keyScanner) key() []string {
	var keys []string
	for {
		s.blank(false)
		switch s.peek() {
		case '"':
			keys = append(keys, s.basicString())
		case '\'':
			keys = append(keys, s.literalString())
		default:
			start := s.i
			for !s.eof() && isBare(s.peek()) {
				s.next()
			}
			keys = append(keys, string(s.src[start:s.i]))
		}
		s.blank(false)
		if s.peek() != '.' {
			return keys
		}
		s.next()
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// value skips one value, recording the lines of array elements and inline-table keys.
func (s *keyScanner) value(path string) {
	switch {
	case s.has(`"""`):
		s.multiline(`"""`, true)
	case s.has(`'''`):
		s.multiline(`'''`, false)
	case s.peek() == '"':
		s.basicString()
	case s.peek() == '\'':
		s.literalString()
	case s.peek() == '[':
		s.next()
		for n := 0; ; n++ {
			s.blank(true)
			if s.eof() || s.peek() == ']' {
				break
			}
			start := s.i
			elem := fmt.Sprintf("%s[%d]", path, n)
			s.record(elem, s.line)
			s.value(elem)
			s.blank(true)
			if s.peek() == ',' {
				s.next()
			} else if s.i == start {
				break
			}
		}
		s.next()
	case s.peek() == '{':
		s.next()
		for {
			s.blank(true)
			if s.eof() || s.peek() == '}' {
				break
			}
			start := s.i
			line := s.line
			inner := join(path, s.key()...)
			s.blank(false)
			if s.peek() == '=' {
				s.next()
				s.blank(false)
				s.record(inner, line)
				s.value(inner)
			}
			s.blank(true)
			if s.peek() == ',' {
				s.next()
			} else if s.i == start {
				break
			}
		}
		s.next()
	default:
		// Numbers, booleans and dates: up to the next separator. A date may hold a space.
		for !s.eof() && !strings.ContainsRune(",]}#\n", rune(s.peek())) {
			s.next()
		}
	}
}

func (s *keyScanner) basicString() string {
	s.next()
	var b strings.Builder
	for !s.eof() && s.peek() != '"' && s.peek() != '\n' {
		c := s.peek()
		s.next()
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		e := s.peek()
		s.next()
		switch e {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			start := s.i
			for range n {
				s.next()
			}
			if r, err := strconv.ParseUint(string(s.src[start:min(s.i, len(s.src))]), 16, 32); err == nil {
				b.WriteRune(rune(r))
			}
		default: // '"' and '\\'
			b.WriteByte(e)
		}
	}
	s.next()
	return b.String()
}

func (s *keyScanner) literalString() string {
	s.next()
	start := s.i
	for !s.eof() && s.peek() != '\'' && s.peek() != '\n' {
		s.next()
	}
	v := string(s.src[start:s.i])
	s.next()
	return v
}

func (s *keyScanner) multiline(delim string, escapes bool) {
	for range 3 {
		s.next()
	}
	for !s.eof() {
		if escapes && s.peek() == '\\' {
			s.next()
			s.next()
			continue
		}
		if s.has(delim) {
			for range 3 {
				s.next()
			}
			// Up to two more quotes belong to the content: """a""""" ends with a"".
			for n := 0; n < 2 && s.peek() == delim[0]; n++ {
				s.next()
			}
			return
		}
		s.next()
	}
}

func (s *keyScanner) record(path string, line int) {
	if _, dup := s.lines[path]; !dup {
		s.lines[path] = line
	}
}

// join builds a dotted key path below prefix ("" for the top level). A key may itself be
// empty: TOML allows "" as a key.
func join(prefix string, keys ...string) string {
	parts := keys
	if prefix != "" {
		parts = append([]string{prefix}, keys...)
	}
	return strings.Join(parts, ".")
}
