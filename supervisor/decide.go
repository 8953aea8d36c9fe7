package supervisor

import (
	"context"

	"github.com/hashicorp/go-hclog"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// RootHandler is the handler name Decide returns when no handler decided: the real object
// answers, as the audit log's `handler` field says.
const RootHandler = rootHandlerID

// Decide asks regs about req exactly as a core's chain would (the order of Order, the claim
// index, the ops each handler decides) and returns the first decision and the ID of the
// handler that made it, RootHandler when none did. A handler that failed is returned with its
// error and Deny(EIO), what the program would get. `scrim plugin test` shows with it which
// handler answers an open without starting a sandbox; the handlers must be provisioned.
func Decide(ctx context.Context, regs []shim.Registration, req *shim.Request, log hclog.Logger) (shim.Result, string, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	c, err := newChain(regs, log)
	if err != nil {
		return shim.Result{}, "", err
	}
	d := c.run(ctx, req)
	return d.res, d.handler, d.err
}
