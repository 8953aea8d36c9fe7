package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/scrim-sandbox/scrim/internal/config"
)

// cutCacheDir takes --cache-dir DIR (or --cache-dir=DIR) out of the arguments of a plugin
// command that compiles a module, and returns the rest and the cache directory: DIR made
// absolute, "" for none, or the default cache_dir when the flag is absent.
func cutCacheDir(args []string) (rest []string, dir string, err error) {
	dir = config.DefaultCacheDir()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(rest, args[i:]...), dir, nil
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "cache-dir" {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return nil, "", fmt.Errorf("flag needs an argument: --cache-dir")
			}
			i++
			value = args[i]
		}
		dir = value
		if value != "" {
			if dir, err = filepath.Abs(value); err != nil {
				return nil, "", fmt.Errorf("--cache-dir: %w", err)
			}
		}
	}
	return rest, dir, nil
}
