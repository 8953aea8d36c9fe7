package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRun_CacheEntryAlteredOutside: compiled code in cache_dir changed by someone other than
// scrim, with wazero's CRC made valid again, is rejected and compiled again with exactly one
// warning; the same for an entry replaced wholesale; the run after uses the cache normally.
func TestRun_CacheEntryAlteredOutside(t *testing.T) {
	wasm := motdWasm(t)
	// The entry is named by the module scrim compiles: the file with scrim's stop checks added
	// (plugins/stopcheck.go), as the log line says.
	stored := regexp.MustCompile(`compiled code stored in the plugin cache: module=([0-9a-f]{64})`)
	for _, tc := range []struct {
		name   string
		tamper func(sealed []byte) []byte
	}{
		{"one byte of native code, CRC fixed", func(sealed []byte) []byte {
			entry := sealed[32 : len(sealed)-32] // scrim's seal: wazero's file name, its bytes, the tag
			vlen := int(entry[6])
			off := 7 + vlen
			off += 4 + 8*int(binary.LittleEndian.Uint32(entry[off:]))
			n := int(binary.LittleEndian.Uint64(entry[off:]))
			off += 8
			entry[off+n/2] ^= 0x90
			binary.LittleEndian.PutUint32(entry[off+n:], crc32.Checksum(entry[off:off+n], crc32.MakeTable(crc32.Castagnoli)))
			return sealed
		}},
		{"replaced wholesale", func(sealed []byte) []byte {
			return append([]byte("WAZEVO"), make([]byte, 4096)...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			var cache string
			for _, kv := range env {
				if v, ok := strings.CutPrefix(kv, "XDG_CACHE_HOME="); ok {
					cache = filepath.Join(v, "scrim")
				}
			}
			run := func() result {
				t.Helper()
				r := scrimEnv(t, env, "run", "--plugin", wasm, "--log-level", "debug", "--", "cat", "/etc/motd")
				require.Equal(t, 0, r.code, r.stderr)
				require.Equal(t, "Welcome to a scrim sandbox.\n", r.stdout)
				return r
			}
			r := run()
			require.Contains(t, r.stderr, "compiled code stored in the plugin cache")
			module := stored.FindStringSubmatch(r.stderr)
			require.NotNil(t, module, r.stderr)
			entries, err := filepath.Glob(filepath.Join(cache, "code", "wazero-*", module[1]))
			require.NoError(t, err)
			require.Len(t, entries, 1, r.stderr)
			sealed, err := os.ReadFile(entries[0])
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(entries[0], tc.tamper(sealed), 0o600))

			r = run()
			require.Equal(t, 1, strings.Count(r.stderr, "[WARN]"), r.stderr)
			require.Contains(t, r.stderr, "[WARN]  scrim.plugins: discarding a plugin cache entry that failed authentication; computing it again: path=")
			require.Contains(t, r.stderr, entries[0])
			require.NotContains(t, r.stderr, "compiled code taken from the plugin cache")
			require.Contains(t, r.stderr, "compiled code stored in the plugin cache")

			r = run()
			require.NotContains(t, r.stderr, "[WARN]")
			require.Contains(t, r.stderr, "compiled code taken from the plugin cache")
			require.NotContains(t, r.stderr, "compiled code stored in the plugin cache")
		})
	}
}

// TestRun_NoHome: with no home directory and nothing else in the environment (env -i
// HOME=/nonexistent), run and check work without plugins and make no cache directory; with a
// plugin and HOME=/dev/null they compile it in memory with one warning.
func TestRun_NoHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "nonexistent")
	env := []string{"HOME=" + home}
	r := scrimEnv(t, env, "run", "--", "id", "-u")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, strconv.Itoa(os.Getuid())+"\n", r.stdout)
	require.Empty(t, r.stderr)
	r = scrimEnv(t, env, "check")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr)
	_, err := os.Stat(home)
	require.ErrorIs(t, err, os.ErrNotExist, "a run without plugins makes no cache directory")

	// A home that exists: still no ~/.cache/scrim without plugins.
	require.NoError(t, os.Mkdir(home, 0o700))
	r = scrimEnv(t, env, "run", "--", "true")
	require.Equal(t, 0, r.code, r.stderr)
	entries, err := os.ReadDir(home)
	require.NoError(t, err)
	require.Empty(t, entries)

	// A cache directory that cannot be made, even by root: the home of many service accounts.
	env = []string{"HOME=/dev/null"}
	for _, args := range [][]string{
		{"run", "--plugin", motdWasm(t), "--", "cat", "/etc/motd"},
		{"check", "--plugin", motdWasm(t)},
	} {
		r = scrimEnv(t, env, args...)
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, 1, strings.Count(r.stderr, "[WARN]"), r.stderr)
		require.Contains(t, r.stderr, "plugin cache unusable; compiling plugins in memory, without a cache")
		if args[0] == "run" {
			require.Equal(t, "Welcome to a scrim sandbox.\n", r.stdout)
		}
	}
}

// TestRun_CacheDirFlag: --cache-dir puts the cache where it says, on run and check alike, and
// check reports it.
func TestRun_CacheDirFlag(t *testing.T) {
	env := testEnv(t)
	dir := filepath.Join(t.TempDir(), "cache")
	r := scrimEnv(t, env, "run", "--cache-dir", dir, "--plugin", motdWasm(t), "--log-level", "debug", "--", "cat", "/etc/motd")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "compiled code stored in the plugin cache")
	entries, err := filepath.Glob(filepath.Join(dir, "code", "wazero-*", "*"))
	require.NoError(t, err)
	require.Len(t, entries, 1)

	r = scrimEnv(t, env, "check", "--cache-dir", dir, "--plugin", motdWasm(t), "--log-level", "debug")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `(?m)^cache_dir\s+`+regexp.QuoteMeta(dir)+`$`, r.stdout)
	require.Contains(t, r.stderr, "compiled code taken from the plugin cache")

	r = scrimEnv(t, env, "check", "--cache-dir", "")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `(?m)^cache_dir\s+none \(no compile cache\)$`, r.stdout)
}

// TestCache_DamagedEntry: a compile-cache entry cut short, whether its tag still checks out
// (sealed after the damage) or not, costs the run that finds it one warning and nothing else:
// the plugin answers, and the run after is clean. scrim plugin inspect names the bad entry.
func TestCache_DamagedEntry(t *testing.T) {
	wasm := motdWasm(t)
	for _, tc := range []struct {
		name, warning string
		damage        func(t *testing.T, dir, entry string, sealed []byte) []byte
	}{
		{"cut short", "discarding a plugin cache entry that failed authentication", func(t *testing.T, dir, entry string, sealed []byte) []byte {
			return sealed[:len(sealed)/2]
		}},
		{"cut short, then sealed", "discarding a plugin cache entry that failed to load", func(t *testing.T, dir, entry string, sealed []byte) []byte {
			key, err := os.ReadFile(filepath.Join(dir, "key"))
			require.NoError(t, err)
			data := sealed[:32+(len(sealed)-64)/2] // wazero's file name, half its bytes
			m := hmac.New(sha256.New, key)
			for _, s := range []string{"scrim-cache-v1", filepath.Join("code", filepath.Base(filepath.Dir(entry))), filepath.Base(entry)} {
				m.Write(append([]byte(s), 0))
			}
			m.Write(data)
			return append(data, m.Sum(nil)...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			dir := filepath.Join(t.TempDir(), "cache")
			run := func() result {
				t.Helper()
				r := scrimEnv(t, env, "run", "--cache-dir", dir, "--plugin", wasm, "--log-level", "debug", "--", "cat", "/etc/motd")
				require.Equal(t, 0, r.code, r.stderr)
				require.Equal(t, "Welcome to a scrim sandbox.\n", r.stdout, "the plugin answers in the run that finds the damage")
				return r
			}
			run()
			entries, err := filepath.Glob(filepath.Join(dir, "code", "wazero-*", "*"))
			require.NoError(t, err)
			require.Len(t, entries, 1)
			entry := entries[0]
			sealed, err := os.ReadFile(entry)
			require.NoError(t, err)
			damaged := tc.damage(t, dir, entry, sealed)

			require.NoError(t, os.WriteFile(entry, damaged, 0o600))
			r := run()
			require.Equal(t, 1, strings.Count(r.stderr, "[WARN]"), r.stderr)
			require.Contains(t, r.stderr, tc.warning)
			require.Contains(t, r.stderr, "compiled code stored in the plugin cache")
			r = run()
			require.NotContains(t, r.stderr, "[WARN]")
			require.Contains(t, r.stderr, "compiled code taken from the plugin cache")

			require.NoError(t, os.WriteFile(entry, damaged, 0o600))
			r = scrimEnv(t, env, "plugin", "inspect", "--cache-dir", dir, wasm)
			require.Equal(t, 0, r.code, r.stderr)
			require.Regexp(t, `(?m)^cache\s+bad entry discarded, compiled and stored$`, r.stdout)
			require.Regexp(t, `(?m)^bad cache entry\s+`+regexp.QuoteMeta(entry)+`: `, r.stdout)
			r = scrimEnv(t, env, "plugin", "inspect", "--cache-dir", dir, wasm)
			require.Equal(t, 0, r.code, r.stderr)
			require.Regexp(t, `(?m)^cache\s+taken from the cache$`, r.stdout)
			require.NotContains(t, r.stdout, "bad cache entry")
		})
	}
}
