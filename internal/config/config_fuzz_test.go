package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// FuzzLoad decodes fuzzed config files the way `scrim run -c FILE` does. Whatever the bytes,
// Load must not panic or hang; a refused file is refused with errors that each name the file
// (and, for a document that is valid TOML, the line of every key they name); an accepted one
// loads the same way twice.
//
//	go test ./internal/config -run '^$' -fuzz '^FuzzLoad$' -fuzztime 10m
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.toml")
	seeds = append(seeds, "../../config.toml.example")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("hostname = \"box\"\ncpus = 2\nmemory = \"512M\"\n[[plugin]]\nname = \"x\"\npath = \"x.wasm\"\n[plugin.config]\na = 1\n"))
	f.Add([]byte("net_allow = [\"a.example\", 1]\n[log]\nlevel = \"trace\"\nformat = 7\n"))
	f.Add([]byte("[[plugin]]\n[[plugin]]\nname = 'a'\ntimeout = '-1s'\nmemory = '1K'\n"))
	f.Add([]byte("\"hostn\\u0061me\" = 'x'\nplugin_dirs = ['.']\n"))

	dir := f.TempDir()
	// A plugin module the fuzzer can name by a relative path.
	if err := os.WriteFile(filepath.Join(dir, "x.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, "scrim.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// A hang is a finding too: the fuzzing engine keeps the input of a worker that dies.
		watchdog := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("Load hangs on %q", data)) })
		defer watchdog.Stop()
		cfg, err := Load(path)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) {
				// Only drop-in directories the document names can fail outside it.
				return
			}
			var raw map[string]any
			_, perr := toml.Decode(string(data), &raw)
			for _, e := range es {
				if e.File != path {
					t.Fatalf("error %q does not name the file %s", e.Error(), path)
				}
				if e.Msg == "" {
					t.Fatalf("error without a message: %#v", e)
				}
				if perr == nil && e.Key != "" && e.Line <= 0 && e.File == path {
					t.Fatalf("error %q names key %q but no line", e.Error(), e.Key)
				}
			}
			return
		}
		if cfg.File != path {
			t.Fatalf("cfg.File %q, want %q", cfg.File, path)
		}
		again, err := Load(path)
		if err != nil {
			t.Fatalf("second load: %v", err)
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("two loads differ:\n%#v\n%#v", cfg, again)
		}
	})
}
