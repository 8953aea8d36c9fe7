package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/scrim-sandbox/scrim/internal/config"
	"github.com/scrim-sandbox/scrim/supervisor/launch"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// describeNotified prints which system calls a sandbox started with cfg on this kernel sends to
// the supervisor: what scrim costs a program depends on how often it makes them.
func describeNotified(w io.Writer, cfg config.Config, h *handlers) error {
	always, sometimes, err := launch.Notified(launch.Config{SyscallHandlers: h.syscalls,
		SkipStat: !cfg.MediateStat, Keyring: cfg.Keyring, ScopeAbstractUnix: cfg.ScopeAbstractUnix})
	if err != nil {
		return err
	}
	names := func(nrs []int) string {
		out := make([]string, len(nrs))
		for i, nr := range nrs {
			out[i] = shim.SyscallName(nr)
		}
		return strings.Join(out, " ")
	}
	fmt.Fprintln(w, "\nsystem calls sent to the supervisor:")
	fmt.Fprintf(w, "     always     %s\n", names(always))
	fmt.Fprintf(w, "     sometimes  %s\n", names(sometimes))
	return nil
}
