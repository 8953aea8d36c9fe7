package config

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// paths flattens the index into the dotted paths the decoder asks for, each with its line.
func (ix *keyIndex) paths() map[string]int {
	out := map[string]int{}
	var walk func(n *keyNode, path string)
	walk = func(n *keyNode, path string) {
		if n.line != 0 {
			out[path] = n.line
		}
		for k, c := range n.keys {
			walk(c, join(path, k))
		}
		for i, e := range n.elems {
			walk(e, fmt.Sprintf("%s[%d]", path, i))
		}
	}
	walk(&ix.root, "")
	return out
}

// treeDepth is how many tables and arrays deep a decoded value reaches, the top not counted.
func treeDepth(v any) int {
	deepest := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			deepest = max(deepest, 1+treeDepth(e))
		}
	case []any:
		for _, e := range v {
			deepest = max(deepest, 1+treeDepth(e))
		}
	case []map[string]any:
		for _, e := range v {
			deepest = max(deepest, 1+treeDepth(e))
		}
	default:
		return -1 // a scalar is no level of its own
	}
	return deepest
}

func mustScan(t *testing.T, src string) *keyIndex {
	t.Helper()
	index, deep := scanKeys([]byte(src))
	require.Nil(t, deep)
	return index
}
func TestKeyLines(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want map[string]int
	}{
		{
			name: "top level and tables",
			src:  "a = 1\n\n[log]\nlevel = \"x\" # comment\n",
			want: map[string]int{"a": 1, "log": 3, "log.level": 4},
		},
		{
			name: "arrays of tables are indexed",
			src:  "[[plugin]]\nname = \"a\"\n[[plugin]]\nname = \"b\"\n[plugin.config]\nk = 1\n",
			want: map[string]int{
				"plugin": 1, "plugin[0]": 1, "plugin[0].name": 2,
				"plugin[1]": 3, "plugin[1].name": 4, "plugin[1].config": 5, "plugin[1].config.k": 6,
			},
		},
		{
			name: "multi-line array elements",
			src:  "l = [\n  \"x\", # one\n  \"y\",\n]\nb = true\n",
			want: map[string]int{"l": 1, "l[0]": 2, "l[1]": 3, "b": 5},
		},
		{
			name: "multi-line strings hide what looks like keys",
			src:  "s = \"\"\"\nfake = 1\n[fake]\n\"\"\"\nt = '''\nx = 2\n'''\nreal = 3\n",
			want: map[string]int{"s": 1, "t": 5, "real": 8},
		},
		{
			name: "quoted and dotted keys, inline tables",
			src:  "\"q.k\" = 1\na.b = 2\nc = { d = 1, e = [1, 2] }\n",
			want: map[string]int{"q.k": 1, "a.b": 2, "c": 3, "c.d": 3, "c.e": 3, "c.e[0]": 3, "c.e[1]": 3},
		},
		{
			name: "strings with brackets and hashes",
			src:  "a = \"[not] # a comment\"\nb = 'x]'\nc = 1\n",
			want: map[string]int{"a": 1, "b": 2, "c": 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, mustScan(t, tc.src).paths())
		})
	}
}

func TestKeyIndex_Line(t *testing.T) {
	index := mustScan(t, "\"log.level\" = 1\nd.a = 0\n[[plugin]]\nname = \"a\"\n[[plugin]]\n\nname = \"b\"\n"+
		"[x.y]\n[x]\nz = [\n  1,\n  {w = 2},\n]\n")
	tests := []struct {
		key  string
		want int
	}{
		{"log.level", 1}, // a quoted key with a dot
		{"d", 2},         // only implied: its first key's line
		{"plugin", 3},
		{"plugin[1]", 5},
		{"plugin[1].name", 7},
		{"plugin[1].timeout", 5}, // not in the file: its table's line
		{"plugin[7]", 3},         // no such element: the array's line
		{"x", 9},                 // implied first, defined later: the definition
		{"x.y", 8},
		{"x.z[1].w", 12},
		{"x.z[1].v", 12},
		{"nothing", 0},
		{"", 0},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			require.Equal(t, tc.want, index.line(tc.key))
		})
	}
}

// deepDocs spells depth levels of each kind of nesting TOML has.
func deepDocs(depth int) map[string]string {
	return map[string]string{
		"arrays":           "x = " + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "\n",
		"inline tables":    "x = " + strings.Repeat("{a=", depth-1) + "{}" + strings.Repeat("}", depth-1) + "\n",
		"dotted keys":      strings.Repeat("a.", depth) + "b = 1\n",
		"table header":     "[" + strings.Repeat("a.", depth-1) + "b]\n",
		"arrays of tables": "[[a]]\n[[a.a]]\n[a.a." + strings.Repeat("b.", depth-5) + "c]\n",
		"mixed":            "[t]\nx = [" + strings.Repeat("{a=[", (depth-2)/2) + strings.Repeat("]}", (depth-2)/2) + "]\n",
	}
}

func TestScanKeys_Depth(t *testing.T) {
	for name, src := range deepDocs(MaxNesting) {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, MaxNesting, mustScan(t, src).depth, "%s", src)
		})
	}
	for name, src := range deepDocs(MaxNesting + 2) {
		t.Run(name+" past the limit", func(t *testing.T) {
			_, deep := scanKeys([]byte(src))
			require.NotNil(t, deep, "%s", src)
			require.Contains(t, deep.Msg, fmt.Sprintf("nested more than %d levels deep", MaxNesting))
		})
	}
}

// TestLoad_TooDeep feeds 100,000 levels of each kind of nesting through Load. Before the depth
// check the line index alone took 20 GB for arrays, and the TOML parser took minutes on dotted
// keys; a few million levels overflow its stack.
func TestLoad_TooDeep(t *testing.T) {
	noDropIns(t)
	for name, src := range deepDocs(100_000) {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "deep.toml")
			src = "# a comment\n" + src
			require.NoError(t, os.WriteFile(file, []byte(src), 0o644))

			var err error
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, err = Load(file)
			}()
			select {
			case <-done:
			case <-time.After(2 * time.Minute): // a hang guard only, not a measurement
				t.Fatal("Load did not return")
			}
			runtime.ReadMemStats(&after)

			var errs Errors
			require.ErrorAs(t, err, &errs)
			require.Len(t, errs, 1)
			require.Equal(t, file, errs[0].File)
			last := strings.Count(src, "\n")
			require.Equal(t, last, errs[0].Line, "the line of the deep value")
			require.LessOrEqual(t, len(errs[0].Key), 64, "the key is abbreviated")
			require.True(t, strings.HasSuffix(errs[0].Key, "…"), "%q", errs[0].Key)
			require.Contains(t, err.Error(), fmt.Sprintf("%s:%d: ", file, last))
			require.Contains(t, err.Error(), "nested more than 100 levels deep")
			require.Contains(t, err.Error(), "write it with fewer levels")
			alloc := after.TotalAlloc - before.TotalAlloc
			require.Less(t, alloc, uint64(16<<20), "allocated %d bytes for a %d-byte file", alloc, len(src))
		})
	}
}

// TestScanKeys_Linear checks that what the index allocates grows with the input, not with the
// length of the paths in it: a long key over many elements, and elements at the deepest level.
func TestScanKeys_Linear(t *testing.T) {
	docs := map[string]string{
		"long key, many elements": strings.Repeat("k", 10_000) + " = [" + strings.Repeat("1,", 100_000) + "]\n",
		"many deep elements": "x = " + strings.Repeat("[", MaxNesting-1) +
			strings.Repeat("[],", 100_000) + strings.Repeat("]", MaxNesting-1) + "\n",
		"many deep keys": strings.Repeat(strings.Repeat("a.", MaxNesting-1)+"b = 1\n", 10_000),
	}
	for name, src := range docs {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			index, deep := scanKeys([]byte(src))
			runtime.ReadMemStats(&after)
			require.Nil(t, deep)
			require.Positive(t, index.line("x")+index.line(strings.Repeat("k", 10_000))+index.line("a"))
			alloc := after.TotalAlloc - before.TotalAlloc
			require.Less(t, alloc, uint64(200*len(src)), "allocated %d bytes for %d bytes of input", alloc, len(src))
		})
	}
}

// TestMaxNesting_Documented: docs/config.md states the limit the scanner enforces.
func TestMaxNesting_Documented(t *testing.T) {
	data, err := os.ReadFile("../../docs/config.md")
	require.NoError(t, err)
	require.Contains(t, string(data), fmt.Sprintf("**Nesting** stops at %d levels", MaxNesting))
	require.Contains(t, string(data), fmt.Sprintf("nested more than %d levels deep", MaxNesting))
}

func TestAbbreviate(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"x[0][0]", "x[0][0]"},
		{"x" + strings.Repeat("[0]", 30), "x[0][0][0]…"},
		{strings.Repeat("a.", 30) + "b", "a.a.a.a.a…"},
		{strings.Repeat("k", 30), "kkkkkkkkkk…"},
		{strings.Repeat("é", 30), "ééééé…"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, abbreviate(tc.in, 10))
		})
	}
}
