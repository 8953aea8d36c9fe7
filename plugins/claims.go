package plugins

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// claimSet routes opens to one plugin. It is matched in Go on every open the chain hands the
// plugin, so a miss must cost a map lookup and a few byte comparisons, never a call into
// WebAssembly.
type claimSet struct {
	exact    map[string]struct{}
	prefixes [][]byte // "/run/vendor/" for the claim "/run/vendor/**"
	globs    []glob
	patterns []string // as written, for messages
}

// newClaimSet compiles patterns (ABI.md §4).
func newClaimSet(patterns []string) (*claimSet, error) {
	c := &claimSet{exact: map[string]struct{}{}}
	for _, p := range patterns {
		if err := c.add(p); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *claimSet) add(pattern string) error {
	switch {
	case pattern == "":
		return errors.New("claim: empty pattern")
	case len(pattern) > maxPath:
		return fmt.Errorf("claim %.40q...: longer than %d bytes", pattern, maxPath)
	case pattern[0] != '/':
		return fmt.Errorf("claim %q: not an absolute path", pattern)
	case bytes.IndexByte([]byte(pattern), 0) >= 0:
		return fmt.Errorf("claim %q: contains a NUL byte", pattern)
	}
	g, literal, err := compileGlob(pattern)
	if err != nil {
		return fmt.Errorf("claim %q: %w", pattern, err)
	}
	c.patterns = append(c.patterns, pattern)
	switch {
	case literal != nil:
		c.exact[string(literal)] = struct{}{}
	case g.prefixOnly:
		c.prefixes = append(c.prefixes, g.prefix)
	default:
		c.globs = append(c.globs, g)
	}
	return nil
}

// claims describes the set for the chain's index (shim.Claimer): its literal paths, and for
// each other claim the prefix, suffix and inner bytes every path it matches has.
func (c *claimSet) claims() (exact []string, patterns []shim.PathPattern) {
	for p := range c.exact {
		exact = append(exact, p)
	}
	for _, p := range c.prefixes {
		patterns = append(patterns, shim.PathPattern{Prefix: string(p)})
	}
	for _, g := range c.globs {
		patterns = append(patterns, shim.PathPattern{Prefix: string(g.prefix), Suffix: string(g.suffix), Contains: string(g.contains)})
	}
	return exact, patterns
}

// empty reports whether the set claims nothing.
func (c *claimSet) empty() bool { return len(c.patterns) == 0 }

// match reports whether path is claimed.
func (c *claimSet) match(path []byte) bool {
	if _, ok := c.exact[string(path)]; ok {
		return true
	}
	for _, p := range c.prefixes {
		if len(path) > len(p) && bytes.HasPrefix(path, p) {
			return true
		}
	}
	for i := range c.globs {
		if c.globs[i].match(path) {
			return true
		}
	}
	return false
}

// glob is a compiled claim with wildcards.
type glob struct {
	comps []component
	// prefix and suffix are literal bytes every match starts and ends with, and contains
	// bytes every match holds somewhere ("/.ssh/" for "/**/.ssh/*"): a cheap rejection
	// before the component walk, and what the chain's index is told.
	prefix, suffix, contains []byte
	// prefixOnly is set for "/literal/dirs/**": a match is any longer path under prefix.
	prefixOnly bool
}

// component is one path component of a pattern: "**", or bytes where star and qmark are
// wildcards.
type component struct {
	doubleStar bool
	toks       []tok
}

// tok is a literal byte, or a wildcard when kind is set.
type tok struct {
	kind byte // 0 literal, '*' or '?'
	b    byte
}

// compileGlob compiles pattern. For a pattern without wildcards it returns the unescaped
// literal path instead.
func compileGlob(pattern string) (glob, []byte, error) {
	var g glob
	if pattern == "/" {
		return g, []byte{'/'}, nil
	}
	wild := false
	var lit []byte
	// Split on unescaped '/'; pattern[0] is '/'.
	var cur []tok
	flush := func() {
		if len(cur) == 2 && cur[0].kind == '*' && cur[1].kind == '*' {
			g.comps = append(g.comps, component{doubleStar: true})
		} else {
			g.comps = append(g.comps, component{toks: cur})
		}
		cur = nil
	}
	for i := 1; i < len(pattern); i++ {
		b := pattern[i]
		switch b {
		case '\\':
			i++
			if i == len(pattern) {
				return g, nil, errors.New("ends in a lone backslash")
			}
			cur = append(cur, tok{b: pattern[i]})
		case '*', '?':
			wild = true
			cur = append(cur, tok{kind: b})
		case '/':
			flush()
		default:
			cur = append(cur, tok{b: b})
		}
	}
	flush()
	for _, c := range g.comps {
		if !c.doubleStar && len(c.toks) == 0 {
			return g, nil, errors.New("has an empty component (\"//\" or a trailing \"/\")")
		}
		for j := range c.toks {
			if c.toks[j].kind == '*' && j+1 < len(c.toks) && c.toks[j+1].kind == '*' {
				return g, nil, errors.New("uses \"**\" inside a component; it must stand alone between slashes")
			}
		}
	}
	if !wild {
		lit = []byte{'/'}
		for i, c := range g.comps {
			if i > 0 {
				lit = append(lit, '/')
			}
			for _, t := range c.toks {
				lit = append(lit, t.b)
			}
		}
		return g, lit, nil
	}
	// The literal prefix: whole literal components before the first wildcard.
	g.prefix = []byte{'/'}
	k := 0
	for ; k < len(g.comps); k++ {
		c := g.comps[k]
		if c.doubleStar || hasWildcard(c.toks) {
			break
		}
		for _, t := range c.toks {
			g.prefix = append(g.prefix, t.b)
		}
		g.prefix = append(g.prefix, '/')
	}
	if k == len(g.comps)-1 && g.comps[k].doubleStar {
		g.prefixOnly = true
	}
	// The longest whole literal component after the prefix and before the last: a match
	// holds it between two slashes, since a "**" that matches no component is still
	// followed by one that does.
	for i := k; i < len(g.comps)-1; i++ {
		c := g.comps[i]
		if c.doubleStar || hasWildcard(c.toks) || len(c.toks)+2 <= len(g.contains) {
			continue
		}
		g.contains = append(g.contains[:0], '/')
		for _, t := range c.toks {
			g.contains = append(g.contains, t.b)
		}
		g.contains = append(g.contains, '/')
	}
	// The literal suffix: trailing literal bytes of the last component.
	if last := g.comps[len(g.comps)-1]; !last.doubleStar {
		j := len(last.toks)
		for j > 0 && last.toks[j-1].kind == 0 {
			j--
		}
		for _, t := range last.toks[j:] {
			g.suffix = append(g.suffix, t.b)
		}
	}
	return g, nil, nil
}

func hasWildcard(toks []tok) bool {
	for _, t := range toks {
		if t.kind != 0 {
			return true
		}
	}
	return false
}

// match reports whether the canonical absolute path p matches g.
func (g *glob) match(p []byte) bool {
	if !bytes.HasPrefix(p, g.prefix) || !bytes.HasSuffix(p, g.suffix) ||
		(len(g.contains) > 0 && !bytes.Contains(p, g.contains)) {
		return false
	}
	if g.prefixOnly {
		return len(p) > len(g.prefix)
	}
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	return matchComps(g.comps, p[1:])
}

// matchComps matches comps against p, a path without its leading slash.
func matchComps(comps []component, p []byte) bool {
	for len(comps) > 0 {
		c := comps[0]
		if c.doubleStar {
			rest := comps[1:]
			if len(rest) == 0 {
				// A trailing "**" means "below": at least one more component.
				return len(p) > 0
			}
			// Zero components, then each later start of a component.
			if matchComps(rest, p) {
				return true
			}
			for i := 0; i < len(p); i++ {
				if p[i] == '/' && matchComps(rest, p[i+1:]) {
					return true
				}
			}
			return false
		}
		end := bytes.IndexByte(p, '/')
		name, more := p, false
		if end >= 0 {
			name, more = p[:end], true
		}
		if !matchName(c.toks, name) {
			return false
		}
		comps = comps[1:]
		if !more {
			return len(comps) == 0
		}
		if len(comps) == 0 {
			return false
		}
		p = p[end+1:]
	}
	return len(p) == 0
}

// matchName matches one component name against toks, with '*' any run of bytes and '?' one
// byte (the name holds no '/').
func matchName(toks []tok, name []byte) bool {
	ti, ni := 0, 0
	star, mark := -1, 0
	for ni < len(name) {
		switch {
		case ti < len(toks) && (toks[ti].kind == '?' || (toks[ti].kind == 0 && toks[ti].b == name[ni])):
			ti++
			ni++
		case ti < len(toks) && toks[ti].kind == '*':
			star, mark = ti, ni
			ti++
		case star >= 0:
			ti = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for ti < len(toks) && toks[ti].kind == '*' {
		ti++
	}
	return ti == len(toks)
}
