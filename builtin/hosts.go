package builtin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const idHosts = "builtin.hosts"

// hostsLoopback opens every virtual /etc/hosts that no image brings a base for.
const hostsLoopback = "127.0.0.1 localhost\n::1 localhost\n"

// hostsSelf is the address the sandbox's own host name resolves to, as Debian's installer
// writes it: a loopback address other than localhost's, so a program that asks for its own
// address gets one that works and is not mistaken for "localhost".
var hostsSelf = netip.MustParseAddr("127.0.1.1")

// hostsMaxImageFile bounds how much of an image's /etc/hosts scrim reads.
const hostsMaxImageFile = 1 << 20

// lookupFunc resolves a host name to its addresses, in the resolver's order.
type lookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// hosts serves /etc/hosts: loopback, then the --net-allow hosts, then extra_hosts. It is built
// once at Provision, so a name resolves to the same addresses for the sandbox's whole life.
type hosts struct {
	// name is the sandbox's host name (builtin.hostname), which the file makes resolve.
	name       string
	netAllow   []string
	extraHosts []string
	imageRoot  string
	lookup     lookupFunc

	data  []byte
	id    fileID
	hasID bool
	// target is where /etc/hosts leads in the child's root when it is a symlink.
	target string
}

var (
	_ shim.Handler     = (*hosts)(nil)
	_ shim.Provisioner = (*hosts)(nil)
)

func newHosts(opts Options, _ *listing) (shim.Handler, error) {
	for _, e := range opts.ExtraHosts {
		if _, _, err := parseHostsLine(e); err != nil {
			return nil, fmt.Errorf("extra_hosts %q: %w", e, err)
		}
	}
	for _, a := range opts.NetAllow {
		if _, _, err := parseNetAllow(a); err != nil {
			return nil, err
		}
	}
	name := opts.Hostname
	if name == "" {
		name = DefaultHostname
	}
	return &hosts{
		name:       name,
		netAllow:   opts.NetAllow,
		extraHosts: opts.ExtraHosts,
		imageRoot:  opts.ImageRoot,
		lookup:     systemLookup,
	}, nil
}

func (h *hosts) ID() string { return idHosts }

// Provision resolves the allowed hosts, reads the image's base file in chroot mode and records
// the identity of the /etc/hosts the child would otherwise open.
func (h *hosts) Provision(env shim.Env) error {
	log := env.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	entries, err := resolveNetAllow(context.Background(), h.netAllow, h.lookup)
	if err != nil {
		return err
	}
	var base []byte
	chroot := h.imageRoot != ""
	if chroot {
		base, err = readInRoot(h.imageRoot, "/etc/hosts", hostsMaxImageFile)
		if err != nil {
			return fmt.Errorf("hosts: read image /etc/hosts: %w", err)
		}
	}
	h.data = composeHosts(chroot, base, entries, h.extraHosts, h.name)

	root := rootOf(env, h.imageRoot)
	h.id, h.hasID, h.target, err = regularTarget(root, "/etc/hosts")
	if err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	log.Debug("hosts file built", "shim", idHosts, "bytes", len(h.data), "entries", len(entries))
	return nil
}

// Open serves the virtual file for /etc/hosts by name (so a missing file is still served, and
// so is the missing target of an /etc/hosts symlink) and by identity (so a hard link or
// another spelling of the same inode is too).
func (h *hosts) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	if string(req.Path) == "/etc/hosts" || servedTarget(req, h.target) ||
		(h.hasID && req.Object.Exists && objectID(req.Object) == h.id) {
		return shim.ServeBytes("hosts", h.data), nil
	}
	return shim.Next(), nil
}

// hostEntry is one "IP HOST" line of the virtual file.
type hostEntry struct {
	addr netip.Addr
	host string
}

func (e hostEntry) String() string { return e.addr.String() + " " + e.host }

// systemLookup asks the host's resolver, the way the host's own programs would.
func systemLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, nil
}

// parseNetAllow splits "HOST" or "HOST=IP". A bare address names no host and adds no line.
func parseNetAllow(s string) (host string, pin netip.Addr, err error) {
	host, ip, pinned := strings.Cut(s, "=")
	host = strings.TrimSpace(host)
	if _, err := netip.ParsePrefix(host); err == nil && !pinned {
		return host, netip.Addr{}, nil // a network: no name to add
	}
	if host == "" || strings.ContainsAny(host, " \t\n#/") {
		return "", netip.Addr{}, fmt.Errorf("net_allow %q: not a host name", s)
	}
	if pinned {
		pin, err = netip.ParseAddr(strings.TrimSpace(ip))
		if err != nil {
			return "", netip.Addr{}, fmt.Errorf("net_allow %q: pinned address: %w", s, err)
		}
		return host, pin.Unmap(), nil
	}
	return host, netip.Addr{}, nil
}

// resolveNetAllow turns the --net-allow list into host lines, resolving each name once, in
// resolver order, each line once.
func resolveNetAllow(ctx context.Context, allow []string, lookup lookupFunc) ([]hostEntry, error) {
	var out []hostEntry
	seen := map[hostEntry]bool{}
	add := func(e hostEntry) {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	for i, a := range allow {
		host, pin, err := parseNetAllow(a)
		if err != nil {
			return nil, err
		}
		if pin.IsValid() {
			add(hostEntry{pin, host})
			continue
		}
		if _, err := netip.ParseAddr(host); err == nil {
			continue
		}
		if _, err := netip.ParsePrefix(host); err == nil {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		addrs, err := lookup(lctx, host)
		cancel()
		if err == nil && len(addrs) == 0 {
			err = errors.New("no addresses")
		}
		if err != nil {
			return nil, &EntryError{Key: "net_allow", Index: i, Entry: host, Err: fmt.Errorf("resolve: %w", err)}
		}
		for _, ad := range addrs {
			add(hostEntry{ad, host})
		}
	}
	return out, nil
}

// EntryError is a problem with one entry of a list option, such as a --net-allow name that
// does not resolve, so that the caller can say where the entry was configured.
type EntryError struct {
	// Key is the option's config key ("net_allow"), Index the entry's place in its list.
	Key   string
	Index int
	// Entry is the entry as the message names it.
	Entry string
	Err   error
}

func (e *EntryError) Error() string { return fmt.Sprintf("%s %q: %v", e.Key, e.Entry, e.Err) }

func (e *EntryError) Unwrap() error { return e.Err }

// parseHostsLine reads "IP NAME..." after stripping a comment. ok is false for a line with no
// entry.
func parseHostsLine(line string) (netip.Addr, []string, error) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return netip.Addr{}, nil, fmt.Errorf("empty line")
	}
	addr, err := netip.ParseAddr(f[0])
	if err != nil {
		return netip.Addr{}, nil, fmt.Errorf("address: %w", err)
	}
	if len(f) < 2 {
		return netip.Addr{}, nil, fmt.Errorf("no host name after %s", f[0])
	}
	return addr, f[1:], nil
}

// composeHosts builds the virtual file. Outside chroot it is loopback, the sandbox's host name
// self, entries, extra lines. In chroot mode the image's file is the base, copied verbatim;
// loopback lines are added only for a family the base lacks, and an entry the base already has
// is not repeated. self gets 127.0.1.1, and ::1 when the file has IPv6 lines, unless the base,
// an entry or an extra line already names it (host names match without regard to case, as the
// resolver matches them): a name the user mapped keeps the user's address alone.
func composeHosts(chroot bool, base []byte, entries []hostEntry, extra []string, self string) []byte {
	var b bytes.Buffer
	have := map[hostEntry]bool{}
	if chroot {
		b.Write(base)
		if len(base) > 0 && base[len(base)-1] != '\n' {
			b.WriteByte('\n')
		}
		for _, line := range strings.Split(string(base), "\n") {
			addr, names, err := parseHostsLine(line)
			if err != nil {
				continue
			}
			for _, n := range names {
				have[hostEntry{addr.Unmap(), n}] = true
			}
		}
	}
	write := func(e hostEntry) {
		if !have[e] {
			have[e] = true
			fmt.Fprintln(&b, e.String())
		}
	}
	write(hostEntry{netip.MustParseAddr("127.0.0.1"), "localhost"})
	write(hostEntry{netip.IPv6Loopback(), "localhost"})
	if self != "" && !namesHost(have, entries, extra, self) {
		write(hostEntry{hostsSelf, self})
		if hasIPv6(have) {
			write(hostEntry{netip.IPv6Loopback(), self})
		}
	}
	for _, e := range entries {
		write(e)
	}
	for _, line := range extra {
		addr, names, err := parseHostsLine(line)
		if err != nil {
			continue // rejected by newHosts already
		}
		addr = addr.Unmap()
		var fresh []string
		for _, n := range names {
			if !have[hostEntry{addr, n}] {
				fresh = append(fresh, n)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		for _, n := range fresh {
			have[hostEntry{addr, n}] = true
		}
		fmt.Fprintf(&b, "%s %s\n", addr, strings.Join(fresh, " "))
	}
	return b.Bytes()
}

// namesHost reports whether the lines written so far (have), the net_allow entries or the
// extra_hosts lines give name an address.
func namesHost(have map[hostEntry]bool, entries []hostEntry, extra []string, name string) bool {
	for e := range have {
		if strings.EqualFold(e.host, name) {
			return true
		}
	}
	for _, e := range entries {
		if strings.EqualFold(e.host, name) {
			return true
		}
	}
	for _, line := range extra {
		_, names, err := parseHostsLine(line)
		if err != nil {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(n, name) {
				return true
			}
		}
	}
	return false
}

// hasIPv6 reports whether the file has an IPv6 line.
func hasIPv6(have map[hostEntry]bool) bool {
	for e := range have {
		if e.addr.Is6() {
			return true
		}
	}
	return false
}
