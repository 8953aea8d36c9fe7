package plugins

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// testCache returns a codeCache holding the key of the cache in dir, for sealing and
// unsealing as scrim does, without a private directory.
func testCache(t *testing.T, dir string) *codeCache {
	t.Helper()
	key, err := loadCacheKey(CacheKeyFile(dir), hclog.NewNullLogger())
	require.NoError(t, err)
	return &codeCache{dir: dir, key: key, log: hclog.NewNullLogger()}
}

// logLines is an hclog sink that keeps every line.
type logLines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// loadOnce loads the deny test plugin with the cache in dir and returns what was logged.
func loadOnce(t *testing.T, dir string) string {
	t.Helper()
	var out logLines
	log := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Debug})
	h, err := Load(context.Background(), []Spec{{Name: "deny", Path: testdata("deny")}}, Options{CacheDir: dir, Log: log})
	require.NoError(t, err)
	require.NoError(t, h.Close(context.Background()))
	entries, err := os.ReadDir(filepath.Join(dir, "run"))
	require.NoError(t, err)
	require.Empty(t, entries, "the run's private directory is removed when the host closes")
	return out.String()
}

// codeEntry returns the path of the deny plugin's sealed compiled code in dir.
func codeEntry(t *testing.T, dir string) string {
	t.Helper()
	wasm, err := os.ReadFile(testdata("deny"))
	require.NoError(t, err)
	wasm, _ = compiledForm(wasm) // what is compiled, and so named in the cache
	sum := sha256.Sum256(wasm)
	matches, err := filepath.Glob(filepath.Join(dir, "code", "wazero-*", hex.EncodeToString(sum[:])))
	require.NoError(t, err)
	require.Len(t, matches, 1)
	return matches[0]
}

// fixCRC recomputes the CRC-32C wazero stores after the native code of a compiled module
// (wazevo's serializeCompiledModule): the check a tampering program passes with ease.
func fixCRC(t *testing.T, entry []byte) {
	t.Helper()
	vlen := int(entry[6])
	off := 7 + vlen
	nfuncs := int(binary.LittleEndian.Uint32(entry[off:]))
	off += 4 + 8*nfuncs
	n := int(binary.LittleEndian.Uint64(entry[off:]))
	off += 8
	code := entry[off : off+n]
	binary.LittleEndian.PutUint32(entry[off+n:], crc32.Checksum(code, crc32.MakeTable(crc32.Castagnoli)))
}

// TestCodeCache_RejectsWhatScrimDidNotSeal: compiled code changed or replaced behind scrim's
// back is discarded with one warning and compiled again, and the run after uses the cache.
func TestCodeCache_RejectsWhatScrimDidNotSeal(t *testing.T) {
	const warning = "discarding a plugin cache entry that failed authentication"
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, dir, path string, sealed []byte) []byte
	}{
		{"one byte of code changed, CRC fixed", func(t *testing.T, dir, path string, sealed []byte) []byte {
			entry := bytes.Clone(sealed[sha256.Size : len(sealed)-sha256.Size]) // wazero's bytes
			entry[len(entry)/2] ^= 0xcc
			fixCRC(t, entry)
			return append(append(bytes.Clone(sealed[:sha256.Size]), entry...), sealed[len(sealed)-sha256.Size:]...)
		}},
		{"replaced by an entry sealed with another key", func(t *testing.T, dir, path string, sealed []byte) []byte {
			other := testCache(t, t.TempDir())
			data := sealed[:len(sealed)-sha256.Size]
			return other.seal(filepath.Join("code", filepath.Base(filepath.Dir(path))), filepath.Base(path), data)
		}},
		{"replaced by another module's authentic entry", func(t *testing.T, dir, path string, sealed []byte) []byte {
			c := testCache(t, dir)
			kind := filepath.Join("code", filepath.Base(filepath.Dir(path)))
			data, ok := c.unseal(kind, filepath.Base(path), sealed)
			require.True(t, ok)
			return c.seal(kind, strings.Repeat("0", 64), data) // sealed for another module
		}},
		{"replaced by wazero's own file", func(t *testing.T, dir, path string, sealed []byte) []byte {
			return sealed[sha256.Size : len(sealed)-sha256.Size]
		}},
		{"a FIFO", func(t *testing.T, dir, path string, sealed []byte) []byte { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log := loadOnce(t, dir)
			require.Contains(t, log, "compiled code stored in the plugin cache")
			require.NotContains(t, log, "[WARN]")
			path := codeEntry(t, dir)

			log = loadOnce(t, dir)
			require.Contains(t, log, "compiled code taken from the plugin cache")
			require.NotContains(t, log, "compiled code stored", "an authentic entry is used, not recompiled")

			sealed, err := os.ReadFile(path)
			require.NoError(t, err)
			if forged := tc.tamper(t, dir, path, sealed); forged != nil {
				require.NoError(t, os.WriteFile(path, forged, 0o600))
			} else {
				require.NoError(t, os.Remove(path))
				require.NoError(t, syscallMkfifo(path))
			}
			log = loadOnce(t, dir)
			require.Equal(t, 1, strings.Count(log, "[WARN]"), log)
			require.Equal(t, 1, strings.Count(log, warning), log)
			require.Contains(t, log, "path="+path)
			require.NotContains(t, log, "compiled code taken from the plugin cache")
			require.Contains(t, log, "compiled code stored in the plugin cache", "compiled again and stored anew")

			log = loadOnce(t, dir)
			require.NotContains(t, log, "[WARN]")
			require.Contains(t, log, "compiled code taken from the plugin cache", "the next run uses the cache normally")
		})
	}
}

// TestCodeCache_Key: the key is created 0600 and kept; a key another user could read or that
// is the wrong size is replaced, with a warning.
func TestCodeCache_Key(t *testing.T) {
	dir := t.TempDir()
	path := CacheKeyFile(dir)
	log := hclog.NewNullLogger()
	k1, err := loadCacheKey(path, log)
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	k2, err := loadCacheKey(path, log)
	require.NoError(t, err)
	require.Equal(t, k1, k2)

	require.NoError(t, os.Chmod(path, 0o644))
	var out logLines
	k3, err := loadCacheKey(path, hclog.New(&hclog.LoggerOptions{Output: &out}))
	require.NoError(t, err)
	require.NotEqual(t, k1, k3)
	require.Contains(t, out.String(), "replacing the plugin cache's key")
	require.Contains(t, out.String(), "readable or writable by others")

	require.NoError(t, os.WriteFile(path, []byte("short"), 0o600))
	k4, err := loadCacheKey(path, log)
	require.NoError(t, err)
	require.Len(t, k4, cacheKeyBytes)
	require.NotEqual(t, k3, k4)
}

// TestLoad_CacheOnlyWhenNeeded: a host without plugins leaves the cache directory alone, and a
// cache directory that cannot be made costs one warning, not the load.
func TestLoad_CacheOnlyWhenNeeded(t *testing.T) {
	t.Run("no plugins, no cache directory made", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "home", ".cache", "scrim")
		h, err := Load(context.Background(), nil, Options{CacheDir: dir})
		require.NoError(t, err)
		require.NoError(t, h.Close(context.Background()))
		_, err = os.Stat(filepath.Dir(filepath.Dir(dir)))
		require.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("unusable cache directory, compiled in memory", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		var out logLines
		log := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Debug})
		h, err := Load(context.Background(), []Spec{{Name: "deny", Path: testdata("deny")}}, Options{CacheDir: filepath.Join(file, "cache"), Log: log})
		require.NoError(t, err)
		res, err := h.Decide(context.Background(), "deny", request("/t/x", 0))
		require.NoError(t, err)
		require.Equal(t, shim.Deny(13), res)
		require.NoError(t, h.Close(context.Background()))
		require.Equal(t, 1, strings.Count(out.String(), "[WARN]"), out.String())
		require.Contains(t, out.String(), "plugin cache unusable; compiling plugins in memory")
		require.Contains(t, out.String(), "not a directory")
	})
}

// TestCodeCache_AuthenticButDamaged: an entry whose tag checks out but which wazero cannot
// load (cut short before it was sealed) is discarded with one warning and compiled again in
// the same load, deferred or not; the plugin answers, Inspect reports the bad entry, and the
// next load uses the new entry without a warning.
func TestCodeCache_AuthenticButDamaged(t *testing.T) {
	const warning = "discarding a plugin cache entry that failed to load; computing it again"
	damage := func(t *testing.T, dir string) string {
		t.Helper()
		path := codeEntry(t, dir)
		sealed, err := os.ReadFile(path)
		require.NoError(t, err)
		c := testCache(t, dir)
		kind := filepath.Join("code", filepath.Base(filepath.Dir(path)))
		data, ok := c.unseal(kind, filepath.Base(path), sealed)
		require.True(t, ok)
		cut := data[:sha256.Size+(len(data)-sha256.Size)/2] // wazero's file, cut in half
		require.NoError(t, os.WriteFile(path, c.seal(kind, filepath.Base(path), cut), 0o600))
		return path
	}
	for _, deferred := range []bool{false, true} {
		t.Run(fmt.Sprintf("deferred=%v", deferred), func(t *testing.T) {
			dir := t.TempDir()
			loadOnce(t, dir)
			path := damage(t, dir)
			var out logLines
			log := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Debug})
			h, err := Load(context.Background(), []Spec{{Name: "deny", Path: testdata("deny")}}, Options{CacheDir: dir, Log: log, Deferred: deferred})
			require.NoError(t, err)
			res, err := h.Decide(context.Background(), "deny", request("/t/x", 0))
			require.NoError(t, err, out.String())
			require.Equal(t, shim.Deny(13), res)
			require.NoError(t, h.Wait())
			require.NoError(t, h.Close(context.Background()))
			require.Equal(t, 1, strings.Count(out.String(), "[WARN]"), out.String())
			require.Equal(t, 1, strings.Count(out.String(), warning), out.String())
			require.Contains(t, out.String(), "path="+path)
			require.Contains(t, out.String(), "compiled code stored in the plugin cache")

			log2 := loadOnce(t, dir)
			require.NotContains(t, log2, "[WARN]")
			require.Contains(t, log2, "compiled code taken from the plugin cache")
		})
	}
	t.Run("inspect", func(t *testing.T) {
		dir := t.TempDir()
		loadOnce(t, dir)
		path := damage(t, dir)
		r, err := Inspect(context.Background(), testdata("deny"), Options{CacheDir: dir})
		require.NoError(t, err)
		require.Empty(t, r.Problems)
		require.Equal(t, "bad entry discarded, compiled and stored", r.Cache)
		require.Len(t, r.CacheDiscarded, 1)
		require.True(t, strings.HasPrefix(r.CacheDiscarded[0], path+": "), r.CacheDiscarded[0])
		r, err = Inspect(context.Background(), testdata("deny"), Options{CacheDir: dir})
		require.NoError(t, err)
		require.Equal(t, "taken from the cache", r.Cache)
		require.Empty(t, r.CacheDiscarded)
	})
}
