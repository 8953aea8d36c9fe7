package doccheck

import (
	"bytes"
	"fmt"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// tree is the repository as the check sees it: every file by its slash-separated path from the
// module root.
type tree struct {
	files map[string][]byte
}

func (t *tree) has(p string) bool {
	p = path.Clean(p)
	if _, ok := t.files[p]; ok {
		return true
	}
	// A directory exists when a file lies below it.
	for f := range t.files {
		if strings.HasPrefix(f, p+"/") {
			return true
		}
	}
	return false
}

// skipDir leaves out what is not the repository's own: version control, npm's downloads, and
// other hidden directories (.ci is the repository's).
func skipDir(name string) bool {
	return name == "node_modules" || (strings.HasPrefix(name, ".") && name != ".ci" && name != ".")
}

// load reads the tree below root. CI runs the unprivileged pass on a copy made of `git
// ls-files`, so what is walked there is exactly what is tracked.
func load(root string) (*tree, error) {
	t := &tree{files: map[string][]byte{}}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		r, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		t.files[filepath.ToSlash(r)] = b
		return nil
	})
	return t, err
}

// moduleRoot is the directory holding go.mod, found upwards from the test's directory.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "go.mod not found above the test")
		dir = parent
	}
}

// text is a piece of prose to check: a Markdown file, or one Go comment.
type text struct {
	file string // slash path from the root
	line int
	body string
}

func (x text) where(offset int) string {
	return fmt.Sprintf("%s:%d", x.file, x.line+strings.Count(x.body[:offset], "\n"))
}

// texts returns every Markdown file and every comment of every Go file.
func texts(t *tree) []text {
	var out []text
	for name, b := range t.files {
		switch {
		case strings.HasSuffix(name, ".md"):
			out = append(out, text{file: name, line: 1, body: string(b)})
		case strings.HasSuffix(name, ".go"):
			fset := token.NewFileSet()
			f := fset.AddFile(name, -1, len(b))
			var s scanner.Scanner
			s.Init(f, b, nil, scanner.ScanComments)
			for {
				pos, tok, lit := s.Scan()
				if tok == token.EOF {
					break
				}
				if tok == token.COMMENT {
					out = append(out, text{file: name, line: fset.Position(pos).Line, body: lit})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].file != out[j].file {
			return out[i].file < out[j].file
		}
		return out[i].line < out[j].line
	})
	return out
}

var (
	// mdLink matches an inline Markdown link or image target, and a reference definition.
	mdLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|(?m)^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)`)
	// scheme marks a link that leaves the repository (https:, mailto:).
	scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// url is removed before file references are looked for, so that a path inside an address
	// is not taken for one of the repository's.
	url = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://\S+`)
	// fileRef matches a path that names a file by its extension: `supervisor/loop.go`,
	// `plugins/ABI.md`, `../../docs/cli.md`, `RATIONALE.md`.
	fileRef = regexp.MustCompile(`(?:\.\.?/)*(?:[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*/)*[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*\.(?:md|go|toml|example|sh|c|h|rs|ts|wat|wasm|json|golden|mod|sum)\b`)
	// placeholder is a name that stands for any file (`NAME.wasm`, `examples/NAME/`).
	placeholder = regexp.MustCompile(`(?:^|/)(?:NAME|FILE|DIR|PATH)(?:[./]|$)`)
	// outside names the notes that live beside the repository and not in it. The patterns are
	// spelled so that this file does not match them itself.
	outside = regexp.MustCompile(`(?i)\b(?:design|style)\.md\b|[a-z-]*-anchors\.md\b|\bresearch[/]|\bDESIGN\b(?:'s|\s*§)`)
)

// resolveLink says whether a Markdown link target names something in the repository.
func resolveLink(t *tree, from, target string) bool {
	if i := strings.IndexByte(target, '#'); i >= 0 {
		target = target[:i]
	}
	if target == "" {
		return true // an anchor in the same page
	}
	var p string
	if strings.HasPrefix(target, "/") {
		p = strings.TrimPrefix(target, "/")
	} else {
		p = path.Join(path.Dir(from), target)
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return false
	}
	return t.has(p)
}

// resolveRef says whether a file reference in prose names a file of the repository, and
// whether it is the repository's to check at all. A path whose first directory is not one of
// the repository's (`fs/namei.c`, `pkg/seccomp`) names someone else's file. A bare document
// name (`README.md`) must lie beside the file that names it or at the root; other bare names are
// as often a user's file (`scrim.toml`, `motd.c`) as ours, and are left alone.
func resolveRef(t *tree, from, ref string) (ours, ok bool) {
	dir := path.Dir(from)
	if placeholder.MatchString(ref) {
		return false, false
	}
	if !strings.Contains(ref, "/") {
		if !strings.HasSuffix(ref, ".md") {
			return false, false
		}
		return true, t.has(path.Join(dir, ref)) || t.has(ref)
	}
	if strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../") {
		p := path.Join(dir, ref)
		return true, !strings.HasPrefix(p, "../") && t.has(p)
	}
	first := ref[:strings.IndexByte(ref, '/')]
	switch {
	case t.has(first):
		return true, t.has(ref)
	case t.has(path.Join(dir, first)):
		return true, t.has(path.Join(dir, ref))
	}
	return false, false
}

// problems lists every broken link, every reference to a missing file and every mention of a
// note outside the repository, one line each with its file and line.
func problems(t *tree) []string {
	var out []string
	for _, x := range texts(t) {
		if strings.HasSuffix(x.file, ".md") {
			for _, m := range mdLink.FindAllStringSubmatchIndex(x.body, -1) {
				s, e := m[2], m[3]
				if s < 0 {
					s, e = m[4], m[5]
				}
				target := x.body[s:e]
				if scheme.MatchString(target) {
					continue
				}
				if !resolveLink(t, x.file, target) {
					out = append(out, fmt.Sprintf("%s: link %q names no file of the repository", x.where(s), target))
				}
			}
		}
		blank := func(s string) string { return strings.Repeat(" ", len(s)) }
		body := url.ReplaceAllStringFunc(x.body, blank)
		if strings.HasSuffix(x.file, ".md") {
			body = mdLink.ReplaceAllStringFunc(body, blank) // checked above, as links
		}
		for _, m := range fileRef.FindAllStringIndex(body, -1) {
			ref := body[m[0]:m[1]]
			if m[0] > 0 && strings.ContainsRune("*{$/.~<", rune(body[m[0]-1])) {
				continue // a pattern (`*_test.go`), a variable or an absolute path
			}
			if ours, ok := resolveRef(t, x.file, ref); ours && !ok {
				out = append(out, fmt.Sprintf("%s: %q names no file of the repository", x.where(m[0]), ref))
			}
		}
	}
	names := make([]string, 0, len(t.files))
	for name := range t.files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b := t.files[name]
		if bytes.IndexByte(b, 0) >= 0 {
			continue // binary
		}
		for _, m := range outside.FindAllIndex(b, -1) {
			line := 1 + bytes.Count(b[:m[0]], []byte("\n"))
			out = append(out, fmt.Sprintf("%s:%d: %q is a note outside the repository; say what it says instead", name, line, b[m[0]:m[1]]))
		}
	}
	return out
}

// TestDocsSelfContained checks the repository: every relative Markdown link and every file
// reference in Markdown and Go comments resolves, and nothing cites a file that lives beside
// the repository rather than in it.
func TestDocsSelfContained(t *testing.T) {
	tr, err := load(moduleRoot(t))
	require.NoError(t, err)
	require.Contains(t, tr.files, "README.md", "the walk did not start at the module root")
	require.Empty(t, problems(tr), "fix each reference, or reword it so the repository stands alone")
}

// TestDocsCheckFails gives the check a small tree with each kind of fault and checks that it
// reports each one and nothing else, so a check that stopped looking cannot pass.
func TestDocsCheckFails(t *testing.T) {
	files := map[string]string{
		"README.md":          "See [the CLI](docs/cli.md), [a section](docs/cli.md#flags), [here](#top), [away](https://example.com/x.md).\n",
		"docs/cli.md":        "Back to [the README](../README.md); the loop is supervisor/loop.go and `loop.go`; write scrim.toml, load examples/NAME/NAME.wasm.\n",
		"supervisor/x.go":    "package supervisor\n\n// See supervisor/loop.go, fs/namei.c, and docs/cli.md.\nvar x = 1\n",
		"supervisor/loop.go": "package supervisor\n",
		"bad/links.md":       "A [broken link](../docs/nothere.md), [escape](../../etc/passwd) and [lost](gone.md).\n",
		"bad/refs.go":        "package bad\n\n// As supervisor/lop.go says, see ABI.md and the " + "DES" + "IGN.md rules.\nvar y = 1\n",
		"bad/strings.go":     "package bad\n\nvar z = \"per research" + "/notes.md\"\n",
	}
	tr := &tree{files: map[string][]byte{}}
	for name, body := range files {
		tr.files[name] = []byte(body)
	}
	got := problems(tr)
	want := []string{
		`bad/links.md:1: link "../docs/nothere.md" names no file of the repository`,
		`bad/links.md:1: link "../../etc/passwd" names no file of the repository`,
		`bad/links.md:1: link "gone.md" names no file of the repository`,
		`bad/refs.go:3: "supervisor/lop.go" names no file of the repository`,
		`bad/refs.go:3: "ABI.md" names no file of the repository`,
		`bad/refs.go:3: "` + "DES" + `IGN.md" names no file of the repository`,
		`bad/refs.go:3: "` + "DES" + `IGN.md" is a note outside the repository; say what it says instead`,
		`bad/strings.go:3: "research` + `/" is a note outside the repository; say what it says instead`,
	}
	require.ElementsMatch(t, want, got)
}
