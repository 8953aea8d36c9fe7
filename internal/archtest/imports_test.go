package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/scrim-sandbox/scrim"

// rule says which of scrim's own packages a group of packages may depend on, directly or
// through others. Packages outside the module (the standard library, wazero, hclog, x/sys) are
// not restricted here.
type rule struct {
	// prefix selects packages: the package itself and everything below it, or with exact the
	// package alone.
	prefix string
	exact  bool
	// allowed holds prefixes of scrim packages the selected packages may depend on; "*" allows
	// all of them.
	allowed []string
}

// rules, most specific first; the first rule whose prefix matches decides. Only non-test
// imports count: a test may import across the graph to run a real sandbox (a builtin test
// starting a supervised child), but nothing that ships may.
//
// supervisor is three packages: supervisor/launch starts sandboxes and hands their listeners
// to the mediation core, supervisor, which knows nothing of how a listener was made; both
// reach the kernel's seccomp interface only through internal/kernel/seccomp, which imports
// nothing of scrim.
var rules = []rule{
	{prefix: "supervisor/shim", allowed: nil},
	{prefix: "resolver", allowed: []string{"supervisor/shim"}},
	{prefix: "builtin", allowed: []string{"supervisor/shim"}},
	{prefix: "plugins", allowed: []string{"supervisor/shim"}},
	// launch reaches resolver only through the core: dependencies count transitively.
	{prefix: "supervisor/launch", allowed: []string{"supervisor", "supervisor/shim", "resolver", "internal"}},
	// agent serves listeners a container runtime made, through the same core.
	{prefix: "supervisor/agent", allowed: []string{"supervisor", "supervisor/shim", "resolver", "internal"}},
	{prefix: "supervisor", exact: true, allowed: []string{"supervisor/shim", "resolver", "internal"}},
	{prefix: "internal/kernel/seccomp", allowed: nil},
	{prefix: "internal", allowed: []string{"internal", "supervisor/shim"}},
	{prefix: "sdk", allowed: []string{"sdk"}},
	{prefix: "examples", allowed: []string{"sdk", "supervisor/shim"}},
	{prefix: "cmd/scrim", allowed: []string{"*"}},
	{prefix: "bench", allowed: []string{"*"}},
}

// pkg is the part of `go list -json` output the check needs.
type pkg struct {
	ImportPath string
	Deps       []string
}

// rel returns p relative to the module ("" for the module root), and whether p is in it.
func rel(p string) (string, bool) {
	if p == module {
		return "", true
	}
	r, ok := strings.CutPrefix(p, module+"/")
	return r, ok
}

func under(p, prefix string) bool {
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// violations lists every forbidden dependency in pkgs, and every package no rule covers.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		name, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		var r *rule
		for i := range rules {
			if name == rules[i].prefix || !rules[i].exact && under(name, rules[i].prefix) {
				r = &rules[i]
				break
			}
		}
		if r == nil {
			out = append(out, fmt.Sprintf("%s: no import rule covers this package; add one to internal/archtest", name))
			continue
		}
		for _, d := range p.Deps {
			dep, ok := rel(d)
			if !ok || !r.exact && under(dep, r.prefix) {
				continue // outside scrim, or inside the package's own subtree
			}
			allowed := false
			for _, a := range r.allowed {
				// "supervisor" allows the mediation core, not what lies below it.
				if a == "*" || dep == a || a != "supervisor" && under(dep, a) {
					allowed = true
				}
			}
			if !allowed {
				out = append(out, fmt.Sprintf("%s imports %s: %s may use only %s", name, dep, r.prefix, describe(r.allowed)))
			}
		}
	}
	sort.Strings(out)
	return out
}

func describe(allowed []string) string {
	if len(allowed) == 0 {
		return "the standard library and third-party packages"
	}
	return strings.Join(allowed, ", ")
}

// listPackages lists every package of the module with its dependencies.
func listPackages(t *testing.T) []pkg {
	return goList[pkg](t, "ImportPath,Deps,Error")
}

// goList runs `go list -json=FIELDS` over every package of the module and decodes each
// package into a T.
func goList[T any](t *testing.T, fields string) []T {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("skipped: the go command is not in PATH")
	}
	cmd := exec.Command("go", "list", "-e", "-json="+fields, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())
	var pkgs []T
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p T
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestImports(t *testing.T) {
	pkgs := listPackages(t)
	var names []string
	for _, p := range pkgs {
		names = append(names, p.ImportPath)
	}
	// The listing must see the packages the rules are about, or the check proves nothing.
	require.Contains(t, names, module+"/supervisor/shim")
	require.Contains(t, names, module+"/cmd/scrim")
	require.Empty(t, violations(pkgs))
}

func TestViolations(t *testing.T) {
	tests := []struct {
		name string
		pkgs []pkg
		want []string
	}{
		{
			name: "the intended graph",
			pkgs: []pkg{
				{ImportPath: module + "/supervisor/shim", Deps: []string{"context", "golang.org/x/sys/unix"}},
				{ImportPath: module + "/resolver", Deps: []string{module + "/supervisor/shim"}},
				{ImportPath: module + "/builtin", Deps: []string{module + "/supervisor/shim"}},
				{ImportPath: module + "/plugins", Deps: []string{module + "/supervisor/shim", "github.com/tetratelabs/wazero"}},
				{ImportPath: module + "/supervisor", Deps: []string{module + "/supervisor/shim", module + "/resolver", module + "/internal/audit", module + "/internal/kernel/seccomp"}},
				{ImportPath: module + "/supervisor/launch", Deps: []string{module + "/supervisor", module + "/supervisor/shim", module + "/resolver", module + "/internal/kernel", module + "/internal/kernel/seccomp"}},
				{ImportPath: module + "/internal/kernel", Deps: []string{module + "/internal/kernel/seccomp", "golang.org/x/sys/unix"}},
				{ImportPath: module + "/internal/kernel/seccomp", Deps: []string{"golang.org/x/sys/unix"}},
				{ImportPath: module + "/internal/config", Deps: []string{"github.com/BurntSushi/toml"}},
				{ImportPath: module + "/cmd/scrim", Deps: []string{module + "/supervisor", module + "/supervisor/launch", module + "/builtin", module + "/plugins"}},
			},
		},
		{
			name: "the mediation core importing the launcher",
			pkgs: []pkg{{ImportPath: module + "/supervisor", Deps: []string{module + "/supervisor/launch", module + "/supervisor/shim"}}},
			want: []string{"supervisor imports supervisor/launch: supervisor may use only supervisor/shim, resolver, internal"},
		},
		{
			name: "the launcher importing a handler",
			pkgs: []pkg{{ImportPath: module + "/supervisor/launch", Deps: []string{module + "/supervisor", module + "/builtin"}}},
			want: []string{"supervisor/launch imports builtin: supervisor/launch may use only supervisor, supervisor/shim, resolver, internal"},
		},
		{
			name: "the kernel interface importing the supervisor",
			pkgs: []pkg{{ImportPath: module + "/internal/kernel/seccomp", Deps: []string{module + "/supervisor/shim"}}},
			want: []string{"internal/kernel/seccomp imports supervisor/shim: internal/kernel/seccomp may use only the standard library and third-party packages"},
		},
		{
			name: "a new package below supervisor",
			pkgs: []pkg{{ImportPath: module + "/supervisor/mux", Deps: []string{module + "/supervisor"}}},
			want: []string{"supervisor/mux: no import rule covers this package; add one to internal/archtest"},
		},
		{
			name: "builtin importing the supervisor",
			pkgs: []pkg{{ImportPath: module + "/builtin", Deps: []string{module + "/supervisor", module + "/supervisor/shim"}}},
			want: []string{"builtin imports supervisor: builtin may use only supervisor/shim"},
		},
		{
			name: "shim importing anything of scrim",
			pkgs: []pkg{{ImportPath: module + "/supervisor/shim", Deps: []string{module + "/internal/audit"}}},
			want: []string{"supervisor/shim imports internal/audit: supervisor/shim may use only the standard library and third-party packages"},
		},
		{
			name: "resolver importing builtin",
			pkgs: []pkg{{ImportPath: module + "/resolver", Deps: []string{module + "/builtin"}}},
			want: []string{"resolver imports builtin: resolver may use only supervisor/shim"},
		},
		{
			name: "supervisor importing plugins",
			pkgs: []pkg{{ImportPath: module + "/supervisor", Deps: []string{module + "/plugins"}}},
			want: []string{"supervisor imports plugins: supervisor may use only supervisor/shim, resolver, internal"},
		},
		{
			name: "internal importing the supervisor",
			pkgs: []pkg{{ImportPath: module + "/internal/config", Deps: []string{module + "/supervisor"}}},
			want: []string{"internal/config imports supervisor: internal may use only internal, supervisor/shim"},
		},
		{
			name: "a package without a rule",
			pkgs: []pkg{{ImportPath: module + "/newthing"}},
			want: []string{"newthing: no import rule covers this package; add one to internal/archtest"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, violations(tc.pkgs))
		})
	}
}
