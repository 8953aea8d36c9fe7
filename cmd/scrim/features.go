package main

import (
	"fmt"
	"io"
)

// printKernelFeatures lists the kernel features scrim probed for.
func printKernelFeatures(w io.Writer) {
	fmt.Fprintln(w, "kernel features: not probed by this build")
}
