package main

import (
	"fmt"
	"io"
)

// runPlugin runs `scrim plugin ...`.
func runPlugin(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "scrim plugin: plugin commands are not available yet")
	return 2
}
