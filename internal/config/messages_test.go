package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMessages_Values: a message names what is wrong with a value without repeating a long one
// whole, and names a character as the user wrote it, not one byte of it.
func TestMessages_Values(t *testing.T) {
	long := strings.Repeat("a", 50<<20)
	tests := []struct {
		name, flag, value, want string
	}{
		{name: "long hostname abbreviated", flag: "hostname", value: long,
			want: `--hostname: "` + strings.Repeat("a", 64) + `…" (52428800 bytes) is not a valid host name; allowed: letters, digits, '-' and '.', labels of 1 to 63 bytes not starting or ending with '-', at most 64 bytes`},
		{name: "character named whole", flag: "hostname", value: "ünï",
			want: `--hostname: "ünï" is not a valid host name: 'ü' is not allowed; allowed: letters, digits, '-' and '.', labels of 1 to 63 bytes not starting or ending with '-', at most 64 bytes`},
		{name: "byte that is not UTF-8", flag: "hostname", value: "a\xffb",
			want: `--hostname: "a\xffb" is not a valid host name: byte 0xff (not UTF-8) is not allowed; allowed: letters, digits, '-' and '.', labels of 1 to 63 bytes not starting or ending with '-', at most 64 bytes`},
		{name: "memory below a MiB", flag: "memory", value: "1K",
			want: `--memory: 1K is out of range; allowed: 0 (keep the host's total) or a size from 1M to 4096T`},
		{name: "memory beyond x86_64", flag: "memory", value: "5000T",
			want: `--memory: 5000T is out of range; allowed: 0 (keep the host's total) or a size from 1M to 4096T`},
		{name: "long size abbreviated", flag: "memory", value: long,
			want: `--memory: "` + strings.Repeat("a", 64) + `…" (52428800 bytes) is not a size; allowed: bytes as a whole number, or a number with K, M, G or T (powers of 1024), like 512M or 2G`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			require.EqualError(t, c.Flag(tc.flag, tc.value), tc.want)
		})
	}
	c := Defaults()
	require.NoError(t, c.Flag("memory", "0"), "0 keeps the host's total")
	require.NoError(t, c.Flag("memory", "1M"))
}

// TestCheck_Cwd: a working directory that does not exist fails the check, which names the flag
// or the file's key and line it came from.
func TestCheck_Cwd(t *testing.T) {
	noDropIns(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "scrim.toml")
	require.NoError(t, os.WriteFile(file, []byte("hostname = \"box\"\ncwd = \"/nonexistent/dir\"\n"), 0o644))

	c, err := Load(file)
	require.NoError(t, err)
	require.EqualError(t, c.Check(), file+":2: cwd: /nonexistent/dir does not exist; allowed: an existing directory, or none for scrim's own")

	require.NoError(t, c.Flag("cwd", "/nonexistent/flag"))
	require.EqualError(t, c.Check(), "--cwd: /nonexistent/flag does not exist; allowed: an existing directory, or none for scrim's own")

	require.NoError(t, c.Flag("cwd", dir))
	require.NoError(t, c.Check())

	require.NoError(t, c.Flag("chroot", dir))
	require.NoError(t, c.Flag("cwd", "/inside/the/image"))
	require.NoError(t, c.Check(), "with an image the directory is inside it")
}

// TestLocate: a list entry is placed at its line when the file gave it, at its flag when a
// flag added it.
func TestLocate(t *testing.T) {
	noDropIns(t)
	file := filepath.Join(t.TempDir(), "scrim.toml")
	require.NoError(t, os.WriteFile(file, []byte("hostname = \"box\"\nnet_allow = [\n  \"a.example\",\n  \"b.example\",\n]\n"), 0o644))
	c, err := Load(file)
	require.NoError(t, err)
	require.NoError(t, c.Flag("net-allow", "c.example"))
	require.Equal(t, &Error{File: file, Line: 3, Key: "net_allow[0]"}, c.Locate("net_allow", 0))
	require.Equal(t, &Error{File: file, Line: 4, Key: "net_allow[1]"}, c.Locate("net_allow", 1))
	require.Equal(t, &Error{Key: "--net-allow"}, c.Locate("net_allow", 2))
	require.Equal(t, &Error{File: file, Line: 1, Key: "hostname"}, c.Locate("hostname", -1))
	require.Equal(t, &Error{File: file, Key: "memory"}, c.Locate("memory", -1), "a key the file does not set has no line")
	require.NoError(t, c.Flag("hostname", "flagged"))
	require.Equal(t, &Error{Key: "--hostname"}, c.Locate("hostname", -1))
	require.Equal(t, &Error{Key: "--log-level"}, func() *Error { c.Flag("log-level", "info"); return c.Locate("log.level", -1) }())
}
