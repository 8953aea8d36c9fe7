// Package logging builds scrim's one root logger. Every component gets a named child of it
// (log.Named("supervisor")); nothing in scrim calls hclog.Default.
package logging

import (
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"
)

// New returns the root logger "scrim" writing to w (stderr in scrim: stdout belongs to the
// child) at level ("trace" … "error", or "off") in format "text" or "json".
func New(w io.Writer, level, format string) (hclog.Logger, error) {
	lvl := hclog.LevelFromString(level)
	if lvl == hclog.NoLevel {
		return nil, fmt.Errorf("logging: level %q: want trace, debug, info, warn, error or off", level)
	}
	if format != "text" && format != "json" {
		return nil, fmt.Errorf("logging: format %q: want text or json", format)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "scrim",
		Level:      lvl,
		Output:     w,
		JSONFormat: format == "json",
		// Colour codes would end up in files and pipes the child's stderr shares.
		Color: hclog.ColorOff,
		// Several goroutines log at once; hclog serialises writes itself, IncludeLocation is
		// left off because the constant messages already say where.
	}), nil
}
