package plugins

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"golang.org/x/sys/unix"
)

// The compiled-code cache holds native code that scrim runs outside any sandbox, in a
// directory a sandboxed program running as the same user could write. So nothing in it is
// trusted unless scrim authenticated it (docs/security.md, "The compile cache"):
//
//	CACHE_DIR/key                  32 random bytes, the HMAC-SHA-256 key (CacheKeyFile)
//	CACHE_DIR/code/WAZERO/MODULE   sealed entry: wazero's file name, wazero's bytes, the tag
//	CACHE_DIR/describe-v2/KEY      sealed describe document (deferred.go)
//	CACHE_DIR/run/RANDOM/WAZERO/   the one run's private directory that wazero reads and writes
//
// WAZERO is wazero's own subdirectory name (version, architecture, OS), MODULE the sha256 of
// the .wasm bytes. wazero (v1.12) reads its cache directory itself, by path, with no hook per
// entry, and background loads read it while the program runs. So wazero never sees the shared
// entries: before a compile, scrim reads an entry once into memory, checks its tag there and
// writes the checked bytes into the run's private directory; after a compile that added a file,
// scrim seals that file into the shared directory. The private directory lies under CACHE_DIR,
// which the state protection keeps the sandbox from writing.

// cacheKeyBytes is the size of the HMAC key.
const cacheKeyBytes = 32

// sealFormat names the sealed layout and the tag's recipe; changing either changes it.
const sealFormat = "scrim-cache-v1"

// maxEntry bounds what scrim reads as one cache entry: a compiled Go plugin is a few MiB.
const maxEntry = 1 << 30

// CacheKeyFile returns the file under cacheDir holding the key that authenticates the cache.
// The sandbox must not be able to read it, nor write anything under cacheDir: with the key, a
// program could forge native code that the next scrim runs. cmd/scrim hands this path to the
// shim that protects scrim's state.
func CacheKeyFile(cacheDir string) string { return filepath.Join(cacheDir, "key") }

// codeCache is a compilation cache whose entries scrim authenticates (see above).
type codeCache struct {
	dir string // CACHE_DIR
	key []byte
	log hclog.Logger
	wz  wazero.CompilationCache

	run     string   // this run's private directory
	runLock *os.File // holds flock(LOCK_EX) on run while the cache is open
	sub     string   // wazero's subdirectory name

	// mu makes compiles that use the disk one at a time, so that a file wazero adds to the
	// private directory belongs to the module being compiled.
	mu sync.Mutex

	discardMu sync.Mutex
	discarded []string // "PATH: why" of every entry discarded, for Inspect
}

// noteDiscard records a discarded entry for Inspect's report.
func (c *codeCache) noteDiscard(path, why string) {
	c.discardMu.Lock()
	defer c.discardMu.Unlock()
	c.discarded = append(c.discarded, path+": "+why)
}

// discards returns what noteDiscard recorded.
func (c *codeCache) discards() []string {
	c.discardMu.Lock()
	defer c.discardMu.Unlock()
	return slices.Clone(c.discarded)
}

// openCodeCache opens the authenticated cache in dir, creating dir, its key and this run's
// private directory, and removing private directories of runs that ended without cleaning up.
func openCodeCache(dir string, log hclog.Logger) (*codeCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create plugin cache %s: %w", dir, err)
	}
	// The cache holds native code scrim will run: it must be scrim's alone.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("chmod plugin cache %s: %w", dir, err)
	}
	c := &codeCache{dir: dir, log: log}
	var err error
	if c.key, err = loadCacheKey(CacheKeyFile(dir), log); err != nil {
		return nil, err
	}
	runs := filepath.Join(dir, "run")
	if err := os.MkdirAll(runs, 0o700); err != nil {
		return nil, fmt.Errorf("create plugin cache %s: %w", runs, err)
	}
	removeStaleRuns(runs)
	if c.run, err = os.MkdirTemp(runs, ""); err != nil {
		return nil, fmt.Errorf("create plugin cache %s: %w", runs, err)
	}
	if c.runLock, err = os.Open(c.run); err == nil {
		err = unix.Flock(int(c.runLock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err == nil {
		c.wz, err = wazero.NewCompilationCacheWithDir(c.run)
	}
	if err == nil {
		c.sub, err = onlySubdir(c.run)
	}
	if err != nil {
		c.close(context.Background())
		return nil, fmt.Errorf("open plugin cache %s: %w", c.run, err)
	}
	return c, nil
}

// close releases wazero's cache and removes the private directory. Nothing may compile after.
func (c *codeCache) close(ctx context.Context) error {
	var err error
	if c.wz != nil {
		if cerr := c.wz.Close(ctx); cerr != nil {
			err = fmt.Errorf("close plugin cache: %w", cerr)
		}
	}
	if c.run != "" {
		os.RemoveAll(c.run)
	}
	if c.runLock != nil {
		c.runLock.Close()
	}
	return err
}

// removeStaleRuns removes the private directories no live run holds locked: those of runs
// killed before they could remove their own.
func removeStaleRuns(runs string) {
	entries, _ := os.ReadDir(runs)
	for _, e := range entries {
		p := filepath.Join(runs, e.Name())
		f, err := os.OpenFile(p, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.RemoveAll(p)
		}
		f.Close()
	}
}

// onlySubdir returns the name of the one directory wazero created in dir.
func onlySubdir(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if len(entries) != 1 || !entries[0].IsDir() {
		return "", fmt.Errorf("expected wazero to create one directory in %s, found %d entries", dir, len(entries))
	}
	return entries[0].Name(), nil
}

// loadCacheKey reads the key at path, or creates it. A key that is not a regular file of the
// right size, owned by scrim's user and private to it, is replaced with a new one (and every
// entry sealed with it fails authentication and is compiled again).
func loadCacheKey(path string, log hclog.Logger) ([]byte, error) {
	key, why, err := readCacheKey(path)
	if err != nil {
		return nil, err
	}
	if key != nil {
		return key, nil
	}
	if why != "" {
		log.Warn("replacing the plugin cache's key; cached compiled code will be compiled again", "path", path, "error", why)
	}
	key = make([]byte, cacheKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("create plugin cache key %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".key.*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create plugin cache key %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(key)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if why == "" {
			// No key yet: link, so that of two runs creating one at once, both use the first.
			if err = os.Link(f.Name(), path); errors.Is(err, fs.ErrExist) {
				k, _, rerr := readCacheKey(path)
				if rerr == nil && k != nil {
					return k, nil
				}
				err = os.Rename(f.Name(), path)
			}
		} else {
			err = os.Rename(f.Name(), path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create plugin cache key %s: %w", path, err)
	}
	return key, nil
}

// readCacheKey returns the key at path; or nil and why it is unusable; or nil and "" when
// there is none.
func readCacheKey(path string) ([]byte, string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, "", nil
	case errors.Is(err, unix.ELOOP):
		return nil, "a symbolic link", nil
	case err != nil:
		return nil, "", fmt.Errorf("read plugin cache key %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("read plugin cache key %s: %w", path, err)
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.Mode().IsRegular():
		return nil, "not a regular file", nil
	case sys == nil || int(sys.Uid) != os.Geteuid():
		return nil, "owned by another user", nil
	case st.Mode().Perm()&0o077 != 0:
		return nil, "readable or writable by others", nil
	case st.Size() != cacheKeyBytes:
		return nil, fmt.Sprintf("%d bytes, not %d", st.Size(), cacheKeyBytes), nil
	}
	key := make([]byte, cacheKeyBytes)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, "", fmt.Errorf("read plugin cache key %s: %w", path, err)
	}
	return key, "", nil
}

// tag is the HMAC-SHA-256 of data under the cache key, bound to what the data is (kind) and
// where it belongs (name): an entry moved to another module's name fails as a forged one does.
func (c *codeCache) tag(kind, name string, data []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	for _, s := range []string{sealFormat, kind, name} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	m.Write(data)
	return m.Sum(nil)
}

// seal returns data followed by its tag.
func (c *codeCache) seal(kind, name string, data []byte) []byte {
	return append(data[:len(data):len(data)], c.tag(kind, name, data)...)
}

// unseal returns the data of a sealed entry, or false when its tag does not check out.
func (c *codeCache) unseal(kind, name string, sealed []byte) ([]byte, bool) {
	if len(sealed) < sha256.Size {
		return nil, false
	}
	data, tag := sealed[:len(sealed)-sha256.Size], sealed[len(sealed)-sha256.Size:]
	return data, hmac.Equal(tag, c.tag(kind, name, data))
}

// readEntry reads the regular file at path into memory, once, without following a final
// symlink or blocking on a FIFO. A missing file is (nil, nil).
func readEntry(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > maxEntry {
		return nil, fmt.Errorf("not a regular file of at most %d bytes", maxEntry)
	}
	return io.ReadAll(io.LimitReader(f, maxEntry))
}

// writeAtomic replaces path with data, through a temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// load reads the sealed entry stored under name in kind's directory, or reports that there
// is none usable. An entry that fails authentication is removed and reported with one
// warning: scrim then recomputes it.
func (c *codeCache) load(kind, name string) ([]byte, bool) {
	path := filepath.Join(c.dir, kind, name)
	raw, err := readEntry(path)
	if raw == nil && err == nil {
		return nil, false
	}
	data, ok := c.unseal(kind, name, raw)
	if err != nil || !ok {
		why := "the authentication tag does not match"
		if err != nil {
			why = err.Error()
		}
		c.log.Warn("discarding a plugin cache entry that failed authentication; computing it again", "path", path, "error", why)
		c.noteDiscard(path, why)
		os.Remove(path)
		return nil, false
	}
	return data, true
}

// store seals data and stores it under name in kind's directory. Failing to store only costs
// a later run its head start, so it is logged, not returned.
func (c *codeCache) store(kind, name string, data []byte) {
	path := filepath.Join(c.dir, kind, name)
	if err := writeAtomic(path, c.seal(kind, name, data)); err != nil {
		c.log.Warn("storing a plugin cache entry failed", "path", path, "error", err)
	}
}

// compile runs do, a compile of wasm by a runtime using c.wz, with the module's authenticated
// entry (if any) in the private directory, and stores what wazero added there.
func (c *codeCache) compile(wasm []byte, do func() (wazero.CompiledModule, error)) (wazero.CompiledModule, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := sha256.Sum256(wasm)
	kind, name := filepath.Join("code", c.sub), hex.EncodeToString(sum[:])
	priv := filepath.Join(c.run, c.sub)
	copied := ""
	if data, ok := c.load(kind, name); ok && len(data) > sha256.Size {
		file := filepath.Join(priv, hex.EncodeToString(data[:sha256.Size]))
		if err := writeAtomic(file, data[sha256.Size:]); err != nil {
			c.log.Warn("copying a plugin cache entry failed", "path", file, "error", err)
		} else {
			copied = file
		}
	}
	before := inodes(priv)
	compiled, err := do()
	if err != nil && copied != "" {
		// wazero fails the compile when an entry does not decode (cut short, written by a
		// scrim with a bug, or its format changed without its version). An authentic entry
		// can still be damaged; it is discarded and the module compiled anew, in this run.
		path := filepath.Join(c.dir, kind, name)
		c.log.Warn("discarding a plugin cache entry that failed to load; computing it again", "path", path, "error", err)
		c.noteDiscard(path, err.Error())
		os.Remove(copied)
		os.Remove(path)
		copied = ""
		before = inodes(priv)
		compiled, err = do()
	}
	if err != nil {
		return nil, err
	}
	if copied != "" {
		c.log.Debug("compiled code taken from the plugin cache", "module", name)
	}
	for file, ino := range inodes(priv) {
		if before[file] == ino {
			continue
		}
		raw, rerr := hex.DecodeString(file)
		code, cerr := os.ReadFile(filepath.Join(priv, file))
		if rerr != nil || len(raw) != sha256.Size || cerr != nil {
			continue // not an entry of wazero's (a temporary file), or gone
		}
		c.store(kind, name, append(raw, code...))
		c.log.Debug("compiled code stored in the plugin cache", "module", name)
	}
	return compiled, nil
}

// hasEntry reports whether the cache holds an entry, good or bad, for the module wasm.
func (c *codeCache) hasEntry(wasm []byte) bool {
	sum := sha256.Sum256(wasm)
	_, err := os.Lstat(filepath.Join(c.dir, "code", c.sub, hex.EncodeToString(sum[:])))
	return err == nil
}

// inodes maps each file name in dir to its inode: a file wazero adds or replaces shows as a
// new name or a new inode.
func inodes(dir string) map[string]uint64 {
	out := map[string]uint64{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				out[e.Name()] = st.Ino
			}
		}
	}
	return out
}
