package plugins

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// Spec is one configured plugin: a [[plugin]] table, a drop-in NAME.toml or a --plugin flag.
type Spec struct {
	Name        string
	Path        string // the .wasm file
	Priority    int
	Paths       []string // path claims added to the plugin's own
	Timeout     time.Duration
	MemoryBytes uint64
	Instances   int
	OnError     string // what the child gets when the plugin fails
	SHA256      string // optional pin of the .wasm file
	Config      map[string]any
	Source      string // the file the spec came from, for messages
}

// Options configures the plugin host.
type Options struct {
	// CacheDir holds wazero's compilation cache; "" disables it.
	CacheDir string
	Log      hclog.Logger
}

// Host runs a set of loaded plugins.
type Host struct{}

// Load compiles and checks every plugin in specs.
func Load(ctx context.Context, specs []Spec, opts Options) (*Host, error) {
	return &Host{}, nil
}

// Registrations returns one chain entry per plugin.
func (h *Host) Registrations() []shim.Registration { return nil }

// Close releases the compiled modules and instances.
func (h *Host) Close(ctx context.Context) error { return nil }
