package main

import (
	"fmt"
	"io"

	"github.com/scrim-sandbox/scrim/internal/kernel"
)

// printKernelFeatures lists the kernel features scrim probed for, one a line.
func printKernelFeatures(w io.Writer) {
	f := kernel.Detect()
	fmt.Fprintln(w, "kernel features:")
	for _, r := range f.Table() {
		state := "no"
		if r.Present {
			state = "yes"
		}
		if r.Value != "" {
			state = r.Value
		}
		req := ""
		if r.Required {
			req = ", required"
		}
		fmt.Fprintf(w, "  %-28s %-8s (Linux %s%s)\n", r.Name, state, r.Since, req)
	}
	// What keeps a sandbox away from scrim and its keeper on this kernel (docs/security.md).
	fmt.Fprintf(w, "boundary: %s\n", kernel.PlanDomain(f.Landlock, false).Mechanism())
	if err := f.Require(); err != nil {
		fmt.Fprintf(w, "scrim cannot run here: %s\n", err)
	}
}
