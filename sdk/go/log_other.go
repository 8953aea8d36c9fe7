//go:build !wasip1

package plugin

// logLine has nowhere to write outside WebAssembly: a plugin built for the host (to run its
// unit tests natively) logs nothing.
func logLine(Level, string) {}
