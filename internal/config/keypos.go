package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxNesting is how deep values may nest in a config file: each table, array, inline table and
// element of an array of tables is one level below the top, so `[a.b]` reaches 2, `x = [[1]]`
// 2 and `[[plugin]]` 2. docs/config.md states it; a file past it is refused before it is
// parsed.
const MaxNesting = 100

// scanKeys indexes the line of every key of a TOML document, or reports the first value nested
// deeper than MaxNesting (an Error without File). The index is a tree that mirrors the
// document's: one node per key and per array element, each holding its line.
//
// BurntSushi/toml v1.6 keeps key positions private, and the one it uses in its own messages
// names an array-of-tables key without its index (every [[plugin]]'s "timeout" is the same
// "plugin.timeout", recorded at the last one). This scanner knows where strings, comments,
// arrays and inline tables begin and end, and nothing about what values mean. Its lines are
// only used for documents the toml parser has accepted; its depth check runs before the
// parser, whose cost grows with the square of the depth of dotted keys and whose recursion
// overflows the stack at a few million nested arrays.
//
// Every step is linear in the input: a node costs the same whatever its depth, and a path
// string is only built for the one error. (A flat map from "x[0][0]…" paths cost the length of
// every path, the square of the depth: 40,000 nested arrays came to 4 GB.)
func scanKeys(src []byte) (*keyIndex, *Error) {
	s := &keyScanner{src: src, line: 1, index: &keyIndex{}}
	s.document()
	return s.index, s.err
}

// keyIndex holds the line of every key of one document.
type keyIndex struct {
	root keyNode
	// depth is the deepest level the document reaches.
	depth int
}

// keyNode is one key, table or array element of a document.
type keyNode struct {
	// line is where the key is defined; 0 when it is only implied by a key below it
	// ("a" in "a.b = 1").
	line int
	// first is the line of the first key at or below this one.
	first int
	keys  map[string]*keyNode
	elems []*keyNode
	// tables marks an array of tables ([[name]]): a later header naming it means its last
	// element.
	tables bool

	// parent, name and index say where the node is, for the one error that names its path.
	parent *keyNode
	name   string
	index  int
}

// key returns the child named k, adding it (first seen on line) when it is new.
func (n *keyNode) key(k string, line int) *keyNode {
	if c, ok := n.keys[k]; ok {
		return c
	}
	if n.keys == nil {
		n.keys = map[string]*keyNode{}
	}
	c := &keyNode{first: line, parent: n, name: k, index: -1}
	n.keys[k] = c
	return c
}

// elem adds an element defined on line.
func (n *keyNode) elem(line int) *keyNode {
	e := &keyNode{line: line, first: line, parent: n, index: len(n.elems)}
	n.elems = append(n.elems, e)
	return e
}

func (n *keyNode) record(line int) {
	if n.line == 0 {
		n.line = line
	}
}

// path spells where n is: "plugin[1].config.a[0]".
func (n *keyNode) path() string {
	var parts []string
	for ; n != nil && n.parent != nil; n = n.parent {
		if n.index >= 0 {
			parts = append(parts, fmt.Sprintf("[%d]", n.index))
		} else {
			parts = append(parts, n.name)
		}
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		if b.Len() > 0 && parts[i][0] != '[' {
			b.WriteByte('.')
		}
		b.WriteString(parts[i])
	}
	return b.String()
}

// line returns the line of key, a path as the decoder spells it ("plugin[1].timeout",
// "net_allow[0]"). A key not in the document has the line of its nearest ancestor that is; a
// table only ever named inside dotted keys or headers ("d.a = 0", "[d.a]") has the line of the
// first key below it; 0 when nothing is known.
func (ix *keyIndex) line(key string) int {
	if key == "" {
		return 0
	}
	n, rest := &ix.root, key
	var walked []*keyNode
	for rest != "" {
		var next *keyNode
		if c, ok := n.keys[rest]; ok {
			// The whole rest names one key: a quoted key may hold dots and brackets.
			next, rest = c, ""
		} else {
			var step string
			step, rest = splitPath(rest)
			if i, err := strconv.Atoi(strings.Trim(step, "[]")); err == nil && step[0] == '[' {
				if i < len(n.elems) {
					next = n.elems[i]
				}
			} else {
				next = n.keys[step]
			}
		}
		if next == nil {
			break
		}
		walked = append(walked, next)
		n = next
	}
	for i := len(walked) - 1; i >= 0; i-- {
		if walked[i].line != 0 {
			return walked[i].line
		}
	}
	if rest == "" && len(walked) > 0 {
		return n.first
	}
	return 0
}

// has reports whether the document defines key itself ("hostname", "profiles.ci.hostname"),
// not only a table around it.
func (ix *keyIndex) has(key string) bool {
	n := &ix.root
	for rest := key; rest != ""; {
		var step string
		if c, ok := n.keys[rest]; ok {
			step, rest = rest, ""
			n = c
			continue
		}
		step, rest = splitPath(rest)
		c, ok := n.keys[step]
		if !ok {
			return false
		}
		n = c
	}
	return n != &ix.root
}

// splitPath splits the first step off a path: "a.b" → "a", "b"; "a[1].b" → "a", "[1].b";
// "[1].b" → "[1]", "b".
func splitPath(p string) (step, rest string) {
	if p[0] == '[' {
		if end := strings.IndexByte(p, ']'); end > 0 {
			return p[:end+1], strings.TrimPrefix(p[end+1:], ".")
		}
	}
	end := strings.IndexAny(p, ".[")
	switch {
	case end < 0:
		return p, ""
	case p[end] == '.':
		return p[:end], p[end+1:]
	}
	return p[:end], p[end:]
}

type keyScanner struct {
	src   []byte
	i     int
	line  int
	index *keyIndex
	// err is the first value nested too deep; once set the scanner is at its end.
	err *Error
}

func (s *keyScanner) eof() bool { return s.i >= len(s.src) }

func (s *keyScanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.i]
}

func (s *keyScanner) has(prefix string) bool {
	return bytes.HasPrefix(s.src[s.i:], []byte(prefix))
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

// deep reports whether depth is past MaxNesting, and if so records the error at where (named
// by its path, below it the keys more) and ends the scan.
func (s *keyScanner) deep(depth, line int, where *keyNode, more ...string) bool {
	s.index.depth = max(s.index.depth, depth)
	if depth <= MaxNesting {
		return false
	}
	key := where.path()
	if len(more) > 0 {
		key = join(key, more...)
	}
	s.err = &Error{
		Line: line,
		Key:  abbreviate(key, 60),
		Msg: fmt.Sprintf("nested more than %d levels deep (each table, array and inline table is a level); "+
			"write it with fewer levels: scrim reads at most %d", MaxNesting, MaxNesting),
	}
	s.i = len(s.src)
	return true
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
	table, depth := &s.index.root, 0
	for {
		s.blank(true)
		if s.eof() {
			return
		}
		start := s.i
		if s.peek() == '[' {
			table, depth = s.header()
		} else {
			s.keyValue(table, depth)
			s.skipLine()
		}
		if s.i == start {
			s.next() // never loop without progress, whatever the input
		}
	}
}

// keyValue reads one `key = value` in table, which is depth levels deep.
func (s *keyScanner) keyValue(table *keyNode, depth int) {
	line := s.line
	keys := s.key()
	s.blank(false)
	if s.peek() != '=' {
		return
	}
	s.next()
	s.blank(false)
	// Every key but the last is a table of its own.
	depth += len(keys) - 1
	if s.deep(depth, line, table, keys...) {
		return
	}
	n := table
	for _, k := range keys {
		n = n.key(k, line)
	}
	n.record(line)
	s.value(n, depth)
}

// header reads a [table] or [[array.of.tables]] line and returns its node and depth.
func (s *keyScanner) header() (*keyNode, int) {
	line := s.line
	s.next()
	isArray := s.peek() == '['
	if isArray {
		s.next()
	}
	keys := s.key()
	// Each key is a level, and each array of tables one more for its element.
	depth := len(keys)
	if isArray {
		depth++
	}
	n := &s.index.root
	for i, k := range keys {
		if s.deep(depth, line, n, keys[i:]...) {
			return n, 0
		}
		n = n.key(k, line)
		switch {
		case isArray && i == len(keys)-1:
			n.record(line) // the array as a whole starts at its first element
			n.tables = true
			n = n.elem(line)
		case n.tables && len(n.elems) > 0:
			n = n.elems[len(n.elems)-1]
			depth++
		}
	}
	if s.deep(depth, line, n) {
		return n, 0
	}
	n.record(line)
	s.skipLine()
	return n, depth
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

// value skips the value of n, which sits in depth levels of tables and arrays, recording the
// lines of array elements and inline-table keys.
func (s *keyScanner) value(n *keyNode, depth int) {
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
		if s.deep(depth+1, s.line, n) {
			return
		}
		s.next()
		for {
			s.blank(true)
			if s.eof() || s.peek() == ']' {
				break
			}
			start := s.i
			s.value(n.elem(s.line), depth+1)
			s.blank(true)
			if s.peek() == ',' {
				s.next()
			} else if s.i == start {
				break
			}
		}
		s.next()
	case s.peek() == '{':
		if s.deep(depth+1, s.line, n) {
			return
		}
		s.next()
		for {
			s.blank(true)
			if s.eof() || s.peek() == '}' {
				break
			}
			start := s.i
			s.keyValue(n, depth+1)
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
			n := 2
			if e == 'u' {
				n = 4
			} else if e == 'U' {
				n = 8
			}
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

// join builds a dotted key path below prefix ("" for the top level). A key may itself be
// empty: TOML allows "" as a key.
func join(prefix string, keys ...string) string {
	parts := keys
	if prefix != "" {
		parts = append([]string{prefix}, keys...)
	}
	return strings.Join(parts, ".")
}

// abbreviate shortens the key path s to at most max bytes and "…", cutting between its parts
// where it can ("x[0][0]…", "a.b.c…") and never inside a character.
func abbreviate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := strings.LastIndexAny(s[:max+1], ".[")
	if cut <= 0 {
		cut = max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
	}
	return s[:cut] + "…"
}
