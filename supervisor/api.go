package supervisor

import (
	"context"
	"errors"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// Mode chooses how opens that no handler claims are answered.
type Mode int

// The mediation modes.
const (
	// ModeStrict performs every mediated open in the supervisor and injects the descriptor.
	ModeStrict Mode = iota
	// ModeFast lets the kernel perform opens no handler claims (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
	// It is not race-proof: another thread can change the path after scrim looked at it.
	ModeFast
)

// Config is everything Run needs to start and supervise one program.
type Config struct {
	// Args is the command and its arguments; Args[0] is looked up in PATH as execvp does.
	Args []string
	Env  []string
	Dir  string
	// Stdin, Stdout and Stderr are the child's; nil means scrim's own.
	Stdin, Stdout, Stderr *os.File
	Mode                  Mode
	Handlers              []shim.Registration
	SyscallHandlers       []shim.SyscallHandler
	Log                   hclog.Logger
	// Audit receives one record per mediated call; nil writes none.
	Audit audit.Sink
}

// Supervisor runs one sandboxed program.
type Supervisor struct{ cfg Config }

// New checks cfg, provisions and validates every handler, and prepares the sandbox.
func New(cfg Config) (*Supervisor, error) { return &Supervisor{cfg: cfg}, nil }

// Sandbox describes the sandbox to handlers.
func (s *Supervisor) Sandbox() shim.Sandbox { return nil }

// Run starts the program, supervises it until it ends and returns scrim's exit status
// (DESIGN.md §4). A non-nil error comes with status 125: scrim itself failed.
func (s *Supervisor) Run(ctx context.Context) (int, error) {
	return 125, errors.New("supervisor: run: not built yet")
}
