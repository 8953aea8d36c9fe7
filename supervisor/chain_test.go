package supervisor

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// recorder notes the order handlers run in and answers with a fixed result.
type recorder struct {
	id    string
	order *[]string
	res   shim.Result
	err   error
	panic bool
}

func (r *recorder) ID() string { return r.id }
func (r *recorder) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	*r.order = append(*r.order, r.id)
	if r.panic {
		panic("boom")
	}
	return r.res, r.err
}

func TestChainOrder(t *testing.T) {
	var order []string
	h := func(id string, res shim.Result) *recorder { return &recorder{id: id, order: &order, res: res} }
	regs := []shim.Registration{
		{Handler: h("plugin.late", shim.Next()), Band: shim.BandVirtual, Priority: 900},
		{Handler: h("builtin.a", shim.Next()), Band: shim.BandVirtual, Priority: shim.PriorityBuiltin},
		{Handler: h("security.one", shim.Next()), Band: shim.BandSecurity, Priority: 50},
		{Handler: h("plugin.early", shim.Next()), Band: shim.BandVirtual, Priority: 10},
		{Handler: h("builtin.b", shim.Next()), Band: shim.BandVirtual, Priority: shim.PriorityBuiltin},
		{Handler: h("security.two", shim.Next()), Band: shim.BandSecurity, Priority: 0},
	}
	c, err := newChain(regs, testLogger())
	require.NoError(t, err)
	d := c.run(context.Background(), &shim.Request{})
	require.Equal(t, []string{"security.two", "security.one", "plugin.early", "builtin.a", "builtin.b", "plugin.late"}, order)
	require.Equal(t, shim.ActNext, d.res.Action)
	require.Equal(t, rootHandlerID, d.handler)
}

func TestChainDecisions(t *testing.T) {
	tests := []struct {
		name        string
		first       *recorder
		wantAction  shim.Action
		wantErrno   unix.Errno
		wantHandler string
		wantErr     bool
		wantRan     []string
	}{
		{"deny stops the chain", &recorder{id: "a", res: shim.Deny(unix.EACCES)}, shim.ActDeny, unix.EACCES, "a", false, []string{"a"}},
		{"real stops the chain", &recorder{id: "a", res: shim.Real()}, shim.ActReal, 0, "a", false, []string{"a"}},
		{"serve stops the chain", &recorder{id: "a", res: shim.ServeBytes("x", nil)}, shim.ActServe, 0, "a", false, []string{"a"}},
		{"next goes on", &recorder{id: "a", res: shim.Next()}, shim.ActServe, 0, "b", false, []string{"a", "b"}},
		{"an error fails closed", &recorder{id: "a", err: errors.New("broken")}, shim.ActDeny, unix.EIO, "a", true, []string{"a"}},
		{"a panic fails closed", &recorder{id: "a", panic: true}, shim.ActDeny, unix.EIO, "a", true, []string{"a"}},
		{"deny without errno fails closed", &recorder{id: "a", res: shim.Result{Action: shim.ActDeny}}, shim.ActDeny, unix.EIO, "a", true, []string{"a"}},
		{"serve without content fails closed", &recorder{id: "a", res: shim.Result{Action: shim.ActServe}}, shim.ActDeny, unix.EIO, "a", true, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var order []string
			tt.first.order = &order
			second := &recorder{id: "b", order: &order, res: shim.ServeBytes("b", []byte("b"))}
			c, err := newChain([]shim.Registration{{Handler: tt.first, Band: shim.BandSecurity}, {Handler: second, Band: shim.BandVirtual}}, testLogger())
			require.NoError(t, err)
			d := c.run(context.Background(), &shim.Request{})
			require.Equal(t, tt.wantAction, d.res.Action)
			require.Equal(t, tt.wantErrno, d.res.Errno)
			require.Equal(t, tt.wantHandler, d.handler)
			require.Equal(t, tt.wantErr, d.err != nil)
			require.Equal(t, tt.wantRan, order)
		})
	}
}

func TestChainRejectsBadRegistrations(t *testing.T) {
	_, err := newChain([]shim.Registration{{Handler: nil}}, testLogger())
	require.Error(t, err)
	var order []string
	_, err = newChain([]shim.Registration{{Handler: &recorder{id: "a", order: &order}, Band: 7}}, testLogger())
	require.Error(t, err)
}

// claimer is a recorder that is a shim.Claimer.
type claimer struct {
	recorder
	exact    []string
	patterns []shim.PathPattern
}

func (c *claimer) Claims() ([]string, []shim.PathPattern) { return c.exact, c.patterns }

// TestChainAsksClaimersOnlyAboutTheirPaths: a Claimer is asked only about the paths its claims
// cover, a handler that is not one about every open, and the order of those asked stays the
// chain's.
func TestChainAsksClaimersOnlyAboutTheirPaths(t *testing.T) {
	var order []string
	cl := func(id string, exact []string, patterns ...shim.PathPattern) *claimer {
		return &claimer{recorder: recorder{id: id, order: &order, res: shim.Next()}, exact: exact, patterns: patterns}
	}
	regs := []shim.Registration{
		{Handler: cl("plugin.motd", []string{"/etc/motd"}), Band: shim.BandVirtual, Priority: 10},
		{Handler: &recorder{id: "builtin.any", order: &order, res: shim.Next()}, Band: shim.BandVirtual, Priority: 20},
		{Handler: cl("plugin.vendor", nil, shim.PathPattern{Prefix: "/run/vendor/"}), Band: shim.BandVirtual, Priority: 30},
		{Handler: cl("plugin.keys", nil, shim.PathPattern{Prefix: "/", Suffix: ".pem"}, shim.PathPattern{Prefix: "/", Contains: "/.ssh/"}), Band: shim.BandVirtual, Priority: 40},
		{Handler: cl("plugin.motd-too", []string{"/etc/motd", "/etc/issue"}, shim.PathPattern{Prefix: "/run/vendor/"}), Band: shim.BandVirtual, Priority: 50},
	}
	c, err := newChain(regs, testLogger())
	require.NoError(t, err)
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/etc/passwd", []string{"builtin.any"}},
		{"/etc/motd", []string{"plugin.motd", "builtin.any", "plugin.motd-too"}},
		{"/run/vendor/a/b", []string{"builtin.any", "plugin.vendor", "plugin.motd-too"}},
		{"/etc/issue", []string{"builtin.any", "plugin.motd-too"}},
		{"/etc/ssl/a.pem", []string{"builtin.any", "plugin.keys"}},
		{"/root/.ssh/id_rsa", []string{"builtin.any", "plugin.keys"}},
		{"/root/ssh/id_rsa", []string{"builtin.any"}},
	} {
		order = nil
		c.run(context.Background(), &shim.Request{Path: []byte(tt.path)})
		require.Equal(t, tt.want, order, tt.path)
	}

	// With more handlers than the index tracks, every one is asked.
	order = nil
	var many []shim.Registration
	for i := range maxIndexed + 1 {
		many = append(many, shim.Registration{Handler: cl(fmt.Sprint("plugin.", i), []string{"/x"}), Band: shim.BandVirtual})
	}
	c, err = newChain(many, testLogger())
	require.NoError(t, err)
	c.run(context.Background(), &shim.Request{Path: []byte("/etc/passwd")})
	require.Len(t, order, maxIndexed+1)
}

// opsRecorder is a recorder that decides the ops ops itself (a shim.OpHandler).
type opsRecorder struct {
	recorder
	ops shim.OpSet
}

func (r *opsRecorder) Ops() shim.OpSet { return r.ops }

// TestChainLookupOps: a handler written for opens is asked about the look-up ops as if they
// were opens, never about changes; its Serve answers them, its Deny shows the object as it is
// unless it hides it (ENOENT). An OpHandler is asked only about its ops; Meta answers no open.
func TestChainLookupOps(t *testing.T) {
	ask := func(h shim.Handler, op shim.Op) decision {
		c, err := newChain([]shim.Registration{{Handler: h, Band: shim.BandVirtual}}, testLogger())
		require.NoError(t, err)
		return c.run(context.Background(), &shim.Request{Op: op})
	}
	tests := []struct {
		name    string
		res     shim.Result
		ops     *shim.OpSet
		op      shim.Op
		want    shim.Action
		wantErr bool
		asked   bool
	}{
		{"serve answers a stat", shim.ServeBytes("x", []byte("x")), nil, shim.OpStat, shim.ActServe, false, true},
		{"serve answers access", shim.ServeBytes("x", []byte("x")), nil, shim.OpAccess, shim.ActServe, false, true},
		{"serve answers readlink", shim.ServeBytes("x", []byte("x")), nil, shim.OpReadlink, shim.ActServe, false, true},
		{"serve answers chdir", shim.ServeBytes("x", []byte("x")), nil, shim.OpChdir, shim.ActServe, false, true},
		{"not asked about a change", shim.Deny(unix.EACCES), nil, shim.OpRemove, shim.ActNext, false, false},
		{"not asked about exec", shim.Deny(unix.EACCES), nil, shim.OpExec, shim.ActNext, false, false},
		{"a refused open shows the object to stat", shim.Deny(unix.EACCES), nil, shim.OpStat, shim.ActNext, false, true},
		{"a hidden object is hidden from stat", shim.Deny(unix.ENOENT), nil, shim.OpStat, shim.ActDeny, false, true},
		{"a refused open still refuses the open", shim.Deny(unix.EACCES), nil, shim.OpOpen, shim.ActDeny, false, true},
		{"meta answers no open", shim.Serve(shim.Meta{Size: 3}), nil, shim.OpOpen, shim.ActDeny, true, true},
		{"meta answers a stat", shim.Serve(shim.Meta{Size: 3}), nil, shim.OpStat, shim.ActServe, false, true},
		{"an op handler's deny of a stat stands", shim.Deny(unix.EACCES), ptr(shim.AllOps), shim.OpStat, shim.ActDeny, false, true},
		{"an op handler is asked only about its ops", shim.Deny(unix.EACCES), ptr(shim.Ops(shim.OpOpen)), shim.OpStat, shim.ActNext, false, false},
		{"serve for a change is a handler error", shim.ServeBytes("x", nil), ptr(shim.AllOps), shim.OpModify, shim.ActDeny, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var order []string
			var h shim.Handler = &recorder{id: "h", order: &order, res: tt.res}
			if tt.ops != nil {
				h = &opsRecorder{recorder: recorder{id: "h", order: &order, res: tt.res}, ops: *tt.ops}
			}
			d := ask(h, tt.op)
			require.Equal(t, tt.asked, len(order) == 1, "asked")
			require.Equal(t, tt.want, d.res.Action)
			require.Equal(t, tt.wantErr, d.err != nil, "%v", d.err)
		})
	}
}

func ptr[T any](v T) *T { return &v }

type claimerListed struct {
	recorder
	exact, listed []string
}

func (c *claimerListed) Claims() ([]string, []shim.PathPattern) {
	return c.exact, []shim.PathPattern{{Prefix: "/never/"}}
}

type listerOnly struct {
	recorder
	listed []string
}

func (l *listerOnly) Listed() []string { return l.listed }

// TestListedNames: a listing's names are the Claimers' exact claims and the Listers' paths,
// by parent directory, once each; patterns and handlers with neither give none.
func TestListedNames(t *testing.T) {
	var order []string
	regs := []shim.Registration{
		{Handler: &claimerListed{recorder: recorder{id: "c", order: &order}, exact: []string{"/etc/vendor-release", "/etc/hosts"}}},
		{Handler: &listerOnly{recorder: recorder{id: "l", order: &order}, listed: []string{"/etc/hosts", "/etc/hostname", "/"}}},
		{Handler: &recorder{id: "r", order: &order}},
	}
	require.Equal(t, map[string][]string{"/etc": {"vendor-release", "hosts", "hostname"}}, listedNames(regs))
}
