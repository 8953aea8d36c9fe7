package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// loadWait bounds how long a claimed open waits for its plugin's background load. A warm
// load takes tens of milliseconds; the bound only matters when the compilation cache was
// lost and the module compiles anew on a busy machine.
const loadWait = 30 * time.Second

// describeFormat names the layout of a stored describe document and the key's recipe;
// changing either changes it, so that old entries are never read.
const describeFormat = "scrim-describe-v2"

// describeKey is the name of the stored describe document of a module and its configuration:
// the sha256 of everything that decides what describe and init see. The memory cap and the
// plugins' memory total are part of it because the same module may fail to instantiate under a
// lower one: a run under a lower total loads it before the program starts, and stops there.
func describeKey(wasm, config []byte, pages, total uint64) string {
	h := sha256.New()
	h.Write([]byte(describeFormat))
	sum := sha256.Sum256(wasm)
	h.Write(sum[:])
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(config)))
	h.Write(n[:])
	h.Write(config)
	binary.LittleEndian.PutUint64(n[:], pages)
	h.Write(n[:])
	binary.LittleEndian.PutUint64(n[:], total)
	h.Write(n[:])
	return hex.EncodeToString(h.Sum(nil))
}

// describeKind is the directory of sealed describe documents inside the cache directory.
// (Unsealed documents of earlier versions, in "describe", are never read.)
const describeKind = "describe-v2"

// storedDescribe reads the describe document stored under key, or reports that there is none
// usable. An entry that fails authentication is discarded with a warning, and a damaged one is
// treated as absent, so that the plugin loads synchronously.
func (c *codeCache) storedDescribe(key string) (describeDoc, bool) {
	var doc describeDoc
	raw, ok := c.load(describeKind, key)
	if !ok || json.Unmarshal(raw, &doc) != nil || len(doc.Claims) == 0 && doc.Name == "" {
		return describeDoc{}, false
	}
	return doc, true
}

// storeDescribe records p's describe document under key after it loaded synchronously.
func (c *codeCache) storeDescribe(p *plugin, key string) {
	doc := p.doc
	doc.Memory = p.instBytes.Load()
	raw, err := json.Marshal(doc)
	if err != nil {
		p.log.Warn("storing the plugin's describe document failed", "shim", p.id, "error", err)
		return
	}
	c.store(describeKind, key, raw)
}

// forgetDescribe removes a stored describe document that proved wrong, so that the next
// start loads the plugin synchronously and reports what is wrong with it.
func (c *codeCache) forgetDescribe(key string) {
	os.Remove(filepath.Join(c.dir, describeKind, key))
}

// sameDescribe reports whether two describe documents promise the same thing.
func sameDescribe(a, b describeDoc) bool {
	return a.Name == b.Name && a.Version == b.Version && a.ABIMinor == b.ABIMinor && slices.Equal(a.Claims, b.Claims)
}

// loadLater finishes a deferred load in the background: compile, instantiate, describe and
// init as a synchronous load would, then check that describe said what the stored document
// said. Until ready is closed, claimed opens wait in awaitLoad.
func (p *plugin) loadLater(ctx context.Context, wasm []byte, rts *runtimes, code *codeCache, key string, sem chan struct{}) {
	defer p.finishLoad(ctx)
	sem <- struct{}{}
	defer func() { <-sem }()
	start := time.Now()
	err := p.compile(ctx, wasm, rts)
	if err == nil {
		if err = p.start(ctx); err != nil {
			p.close(ctx)
		}
	}
	if err == nil && !sameDescribe(p.doc, p.promised) {
		err = fmt.Errorf("describe changed since the document stored for this module and configuration (claims %q, stored %q)", p.doc.Claims, p.promised.Claims)
		p.close(ctx)
	}
	if err != nil {
		p.loadErr = fmt.Errorf("load plugin %q from %s in the background: %w", p.spec.Name, p.spec.Path, err)
		code.forgetDescribe(key)
		p.log.Error("plugin failed to load; its claimed opens get its on_error", "shim", p.id,
			"error", p.loadErr, "on_error", p.onError.String())
		return
	}
	p.log.Debug("plugin loaded in the background", "shim", p.id, "took", time.Since(start))
}

// finishLoad marks the background load over. If the host closed meanwhile, nobody else will
// release the plugin, so this does.
func (p *plugin) finishLoad(ctx context.Context) {
	p.loadMu.Lock()
	p.loadDone = true
	dropped := p.dropped
	p.loadMu.Unlock()
	close(p.ready)
	if dropped {
		p.close(ctx)
	}
}

// dropIfLoading tells a plugin still loading in the background that the host is closing and
// reports whether it was; such a plugin releases itself when its load is over, so that
// closing the host never waits for a load the program did not need.
func (p *plugin) dropIfLoading() bool {
	if p.ready == nil {
		return false
	}
	p.loadMu.Lock()
	defer p.loadMu.Unlock()
	if p.loadDone {
		return false
	}
	p.dropped = true
	return true
}

// awaitLoad waits, at most loadWait, for a deferred load to finish.
func (p *plugin) awaitLoad() *fault {
	if p.ready == nil {
		return nil
	}
	select {
	case <-p.ready:
	default:
		t := time.NewTimer(loadWait)
		defer t.Stop()
		select {
		case <-p.ready:
		case <-t.C:
			return faultf(faultTimeout, "plugin still loading after %s", loadWait)
		}
	}
	if p.loadErr != nil {
		return &fault{kind: faultTrap, err: p.loadErr}
	}
	return nil
}
