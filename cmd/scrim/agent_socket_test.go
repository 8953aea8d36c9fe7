package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAgent_SocketProblemSaysWhatToDo: a --socket the agent cannot listen on is reported in the
// one message style, with what to do, and exit status 125.
func TestAgent_SocketProblemSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	const todo = "; give --socket a path in an existing directory scrim may write, where no other agent listens\n"
	r := scrim(t, "agent", "--socket", file)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Equal(t, "scrim agent: listen on "+file+": exists and is not a socket"+todo, r.stderr)

	r = scrim(t, "agent", "--socket", filepath.Join(dir, "nope", "agent.sock"))
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Regexp(t, `^scrim agent: listen on `+regexp.QuoteMeta(filepath.Join(dir, "nope", "agent.sock"))+`: .*no such file or directory`, r.stderr)
	require.Contains(t, r.stderr, todo)
}
