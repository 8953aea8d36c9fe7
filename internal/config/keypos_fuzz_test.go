package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

var anyIndex = regexp.MustCompile(`\[[0-9]+\]`)

// FuzzKeyLines checks the scanner against the real parser: for every document BurntSushi/toml
// accepts, every key it reports has a line, and the scanner measures the depth the parsed
// value has.
func FuzzKeyLines(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.toml")
	seeds = append(seeds, "../../config.toml.example")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("a = \"\"\"x\n\"\"\"\nb.c = 'y'\n[[d.e]]\nf = [ { g = 1 }, { h = 2 } ]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v map[string]any
		md, err := toml.Decode(string(data), &v)
		if err != nil {
			return
		}
		index, deep := scanKeys(data)
		if depth := treeDepth(v); depth > MaxNesting {
			if deep == nil {
				t.Fatalf("depth %d passed the scanner in:\n%s", depth, data)
			}
			return
		} else if deep != nil || index.depth != depth {
			t.Fatalf("depth %d, scanner says %d (%v) in:\n%s", depth, index.depth, deep, data)
		}
		lines := index.paths()
		found := map[string]bool{}
		for k := range lines {
			found[anyIndex.ReplaceAllString(k, "")] = true
		}
		for _, k := range md.Keys() {
			if slices.Contains(k, "") || strings.ContainsAny(joinKey(k), "[]") {
				// A table named "" reads like the top level in the scanner's paths, and a key
				// with brackets like an index. No scrim key is either, so such documents fail
				// strict decoding anyway; the line is only approximate for them.
				continue
			}
			if !found[joinKey(k)] {
				t.Fatalf("key %q has no line; scanner found %v in:\n%s", k, lines, data)
			}
		}
	})
}

func joinKey(k toml.Key) string {
	out := ""
	for i, p := range k {
		if i > 0 {
			out += "."
		}
		out += p
	}
	return out
}
