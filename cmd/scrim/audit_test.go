package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// auditDoc is what docs/cli.md says of the audit log: the fields its table lists, and the calls
// it names as naming a path and as naming none.
type auditDoc struct {
	fields         map[string]bool
	withPath, none map[string]bool
}

var backticked = regexp.MustCompile("`([a-z_0-9]+)`")

func readAuditDoc(t *testing.T) auditDoc {
	t.Helper()
	data, err := os.ReadFile("../../docs/cli.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(data), "### The audit log")
	require.True(t, ok, "docs/cli.md has an audit log section")
	section, _, _ = strings.Cut(section, "\n## ")
	doc := auditDoc{fields: map[string]bool{}, withPath: map[string]bool{}, none: map[string]bool{}}
	for _, line := range strings.Split(section, "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 2 && strings.HasPrefix(line, "| `") {
			for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
				doc.fields[m[1]] = true
			}
		}
	}
	paragraph := func(start string, into map[string]bool) {
		_, p, ok := strings.Cut(section, start)
		require.True(t, ok, "docs/cli.md's audit section has a paragraph %q", start)
		p, _, _ = strings.Cut(p, "\n\n")
		for _, m := range backticked.FindAllStringSubmatch(p, -1) {
			into[m[1]] = true
		}
	}
	paragraph("**A call that names a path**", doc.withPath)
	paragraph("**A call that names no path**", doc.none)
	require.NotEmpty(t, doc.fields)
	return doc
}

// TestAudit_RecordKinds runs calls of each kind and checks every record against docs/cli.md:
// its syscall is listed, with or without a path as the record is, and every field it has is
// in the table; a call that names a path carries what the program spelled, one too long to
// resolve included; every record has a sequence number of its own.
func TestAudit_RecordKinds(t *testing.T) {
	doc := readAuditDoc(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.jsonl")
	long := strings.Repeat("d", 5000)
	script := `cat /etc/hosts >/dev/null; uname -n >/dev/null; ls / >/dev/null; : >"$1/a"; mv "$1/a" "$1/b"; cat "$2" 2>/dev/null; true`
	r := scrim(t, "run", "--audit", log, "--", "sh", "-c", script, "sh", dir, long)
	require.Equal(t, 0, r.code, r.stderr)

	f, err := os.Open(log)
	require.NoError(t, err)
	defer f.Close()
	seen := map[string]bool{}
	seqs := map[float64]bool{}
	var tooLong bool
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), sc.Text())
		for k := range rec {
			require.True(t, doc.fields[k], "field %q is not in docs/cli.md's table: %s", k, sc.Text())
		}
		name, _ := rec["syscall"].(string)
		seen[name] = true
		_, spelled := rec["spelled"]
		_, path := rec["path"]
		require.Equal(t, spelled, path, "spelled and path come together: %s", sc.Text())
		if spelled {
			require.True(t, doc.withPath[name], "docs/cli.md does not list %s as a call that names a path", name)
		} else {
			require.True(t, doc.none[name], "docs/cli.md does not list %s as a call that names no path", name)
		}
		seq, ok := rec["seq"].(float64)
		require.True(t, ok && seq > 0, "a sequence number: %s", sc.Text())
		require.False(t, seqs[seq], "seq %v twice", seq)
		seqs[seq] = true
		if rec["errno"] == "ENAMETOOLONG" && strings.HasPrefix(rec["spelled"].(string), "ddd") {
			tooLong = true
			require.Equal(t, long[:4096], rec["spelled"], "the first PATH_MAX bytes the program spelled")
		}
		if name == "rename" || name == "renameat2" || name == "renameat" {
			require.Equal(t, filepath.Join(dir, "b"), rec["spelled2"], sc.Text())
		}
	}
	require.NoError(t, sc.Err())
	for _, name := range []string{"openat", "uname", "getdents64", "execve"} {
		require.True(t, seen[name], "the run made a %s call: %v", name, seen)
	}
	require.True(t, seen["rename"] || seen["renameat"] || seen["renameat2"], "mv renamed: %v", seen)
	require.True(t, tooLong, "the open of a path too long is in the log")
}
