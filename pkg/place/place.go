// Package place is the one canonical form of a registry place: a registry
// host (name and port) and a repository path inside it. Every reference,
// policy prefix, mirror location, Secret "registry" key, docker-config host
// and cache record is parsed into these types once, where it enters, and
// only these values are compared: by the registry policy (prefixes, blocks,
// mirrors, verify), by the Secret binding, by the cache's access records
// and by bulk dedupe.
//
// A Host is held in the form that is dialled: lower-case ASCII, the port a
// number within range and written without leading zeros, the default HTTPS
// port 443 dropped, and the Docker Hub aliases (docker.io, index.docker.io,
// registry-1.docker.io, registry.hub.docker.com) folded into docker.io,
// which is dialled as registry-1.docker.io (as oras-go does). Two spellings
// that reach the same registry are the same Host; a spelling that a
// resolver could read as another address (127.1, 0x7f.0.0.1, 2130706433,
// 127.000.000.001) is refused. As net/netip does for addresses, the fields
// are unexported, so an unparsed string cannot become a Host by accident,
// and Host and Place values can be compared with == and used as map keys.
//
// It parses untrusted input, so it is a leaf (the standard library only)
// with fuzz targets.
package place

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DockerHub is the one name the Docker Hub aliases fold into.
const DockerHub = "docker.io"

// dockerHubDial is the host Docker Hub's registry API is dialled at.
const dockerHubDial = "registry-1.docker.io"

var dockerHubAliases = map[string]bool{
	"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true, "registry.hub.docker.com": true,
}

// Host is a registry host in its canonical form. The zero value is no host.
type Host struct {
	// name is a lower-case DNS name, a canonical IPv4 address, or a
	// bracketed canonical IPv6 address.
	name string
	// port is 0 for the default port (443 is stored as 0).
	port uint16
}

// Place is a repository (or, with no path, a whole registry, or a prefix
// of repositories) at a registry host.
type Place struct {
	host Host
	// path is the repository path: lower-case segments separated by '/', no
	// leading or trailing '/', no tag or digest. "" is the whole host.
	path string
}

// Error is input that is not a registry host or place. Its message quotes
// the input with Go escapes, so it is safe to print.
type Error struct {
	Input  string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%+q is not a registry host: %s", e.Input, e.Reason)
}

const expected = "expected a DNS name (letters, digits, '-' and '.'), an IPv4 address or a bracketed IPv6 address, optionally with :PORT"

// ParseHost parses host[:port] as it appears in an oci:// reference: a DNS
// name of ASCII letters, digits, '-' and '.' (labels of 1 to 63 characters
// that neither start nor end with '-'), an IPv4 address in dotted-decimal
// form, or a bracketed IPv6 address, and an optional port from 1 to 65535.
func ParseHost(s string) (Host, error) {
	fail := func(reason string) (Host, error) { return Host{}, &Error{Input: s, Reason: reason} }
	if s == "" {
		return fail("it is empty")
	}
	name, port, err := split(s)
	if err != nil {
		return fail(err.Error())
	}
	var h Host
	if port != "" {
		n, err := parsePort(port)
		if err != nil {
			return fail(err.Error())
		}
		if n != 443 {
			h.port = n
		}
	}
	switch {
	case strings.HasPrefix(name, "["):
		inner := strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
		addr, err := netip.ParseAddr(inner)
		if !strings.HasSuffix(name, "]") || err != nil || !addr.Is6() || addr.Zone() != "" {
			return fail("the part in brackets is not an IPv6 address")
		}
		if addr.Is4In6() {
			return fail("an IPv4-mapped IPv6 address: write the IPv4 address")
		}
		h.name = "[" + addr.String() + "]"
	default:
		canonical, err := parseName(name)
		if err != nil {
			return fail(err.Error())
		}
		h.name = canonical
	}
	if dockerHubAliases[h.name] && h.port == 0 {
		h.name = DockerHub
	}
	return h, nil
}

// ParseServer parses a registry address as people write it in a docker
// config or a Secret's registry key: host[:port], or an https:// or http://
// URL whose path is ignored (https://index.docker.io/v1/). Surrounding
// whitespace is ignored.
func ParseServer(s string) (Host, error) {
	in := strings.TrimSpace(s)
	if scheme, rest, ok := strings.Cut(in, "://"); ok {
		if scheme != "https" && scheme != "http" {
			return Host{}, &Error{Input: s, Reason: "expected host or host:port, or an https:// URL"}
		}
		in = rest
		if i := strings.IndexAny(in, "/?#"); i >= 0 {
			in = in[:i]
		}
	}
	h, err := ParseHost(in)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return Host{}, &Error{Input: s, Reason: pe.Reason}
		}
		return Host{}, err
	}
	return h, nil
}

// split cuts host into its name and port ("" when there is none).
func split(host string) (name, port string, err error) {
	if strings.HasPrefix(host, "[") {
		end := strings.Index(host, "]")
		if end < 0 {
			return "", "", errors.New("a '[' without ']'")
		}
		name, rest := host[:end+1], host[end+1:]
		if rest == "" {
			return name, "", nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", errors.New(expected)
		}
		if rest == ":" {
			return "", "", errors.New("an empty port after ':'")
		}
		return name, rest[1:], nil
	}
	if strings.Count(host, ":") > 1 {
		return "", "", errors.New("an IPv6 address must be in brackets, as [::1]:5000")
	}
	name, port, found := strings.Cut(host, ":")
	if found && port == "" {
		return "", "", errors.New("an empty port after ':'")
	}
	return name, port, nil
}

// parsePort reads a port: decimal digits (leading zeros allowed, as every
// dialer reads them) naming 1 to 65535.
func parsePort(port string) (uint16, error) {
	bad := errors.New("the port must be a number from 1 to 65535")
	if port == "" || len(port) > 16 {
		return 0, bad
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return 0, bad
		}
	}
	n, err := strconv.ParseUint(port, 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, bad
	}
	return uint16(n), nil
}

// parseName checks a DNS name or an IPv4 address and returns its canonical
// form. A name whose last label is all digits must be a dotted-decimal IPv4
// address in canonical form: no top-level domain is numeric, and resolvers
// read 127.1, 0177.0.0.1 or 2130706433 as addresses that would be dialled
// while another spelling was compared.
func parseName(name string) (string, error) {
	if name == "" {
		return "", errors.New("it names no host before the port")
	}
	if len(name) > 253 {
		return "", errors.New("a host name is at most 253 characters")
	}
	labels := strings.Split(name, ".")
	for _, label := range labels {
		switch {
		case label == "":
			return "", errors.New("an empty label (two dots in a row, or a leading or trailing dot)")
		case len(label) > 63:
			return "", errors.New("a label is at most 63 characters")
		case label[0] == '-' || label[len(label)-1] == '-':
			return "", errors.New("a label must not start or end with '-'")
		}
		for i := 0; i < len(label); i++ {
			if !nameByte(label[i]) {
				return "", errors.New(expected)
			}
		}
	}
	if last := labels[len(labels)-1]; allDigits(last) || looksHex(last) {
		addr, err := netip.ParseAddr(name)
		if err != nil || !addr.Is4() || addr.String() != name {
			return "", errors.New("a numeric name must be an IPv4 address in dotted-decimal form, without leading zeros (as 127.0.0.1)")
		}
		return name, nil
	}
	return strings.ToLower(name), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// looksHex reports a label such as 0x7f, which some resolvers read as a number.
func looksHex(s string) bool {
	return len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
}

// nameByte reports whether c may appear in a DNS label.
func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// IsZero reports whether h is the zero Host (no host).
func (h Host) IsZero() bool { return h.name == "" }

// String is the canonical host[:port]: what is compared, printed and
// recorded.
func (h Host) String() string {
	if h.port == 0 {
		return h.name
	}
	return h.name + ":" + strconv.Itoa(int(h.port))
}

// Dial is the host[:port] the registry is dialled at: String, except that
// Docker Hub is dialled at registry-1.docker.io (as oras-go does for
// docker.io).
func (h Host) Dial() string {
	if h.name == DockerHub && h.port == 0 {
		return dockerHubDial
	}
	return h.String()
}

// Name is the host name (or address) without the port.
func (h Host) Name() string { return h.name }

// Port is the port, 0 for the default.
func (h Host) Port() uint16 { return h.port }

// IsLoopback reports whether h is this machine: localhost or a loopback address.
func (h Host) IsLoopback() bool {
	if h.name == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(h.name, "[]"))
	return err == nil && addr.IsLoopback()
}

// MarshalText implements encoding.TextMarshaler.
func (h Host) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: the text must already
// be canonical (a record ocisrc wrote), so a hand-edited spelling is refused.
func (h *Host) UnmarshalText(b []byte) error {
	got, err := ParseHost(string(b))
	if err != nil {
		return err
	}
	if got.String() != string(b) {
		return &Error{Input: string(b), Reason: "not in canonical form (" + got.String() + ")"}
	}
	*h = got
	return nil
}

// IsLoopbackAddress reports whether hostport ("h", "h:port", "[::1]:5000")
// names this machine; for addresses that come from URLs (a redirect, a
// token realm) rather than from a parsed place.
func IsLoopbackAddress(hostport string) bool {
	h, err := ParseHost(hostport)
	return err == nil && h.IsLoopback()
}

// LocationError is input that is not a registry place (host[:port][/path]).
type LocationError struct {
	Input  string
	Reason string
}

func (e *LocationError) Error() string { return fmt.Sprintf("%+q %s", e.Input, e.Reason) }

// ParsePlace parses host[:port][/path] — a policy prefix, a mirror
// location, a repository — without a scheme, a tag or a digest. A trailing
// '/' is ignored.
func ParsePlace(s string) (Place, error) {
	fail := func(format string, a ...any) (Place, error) {
		return Place{}, &LocationError{Input: s, Reason: fmt.Sprintf(format, a...)}
	}
	if s == "" {
		return fail("is empty: expected host[:port][/path], for example registry.example.com/charts")
	}
	if strings.Contains(s, "://") {
		return fail("must not have a scheme: expected host[:port][/path], for example registry.example.com/charts")
	}
	hostPart, path, _ := strings.Cut(strings.TrimSuffix(s, "/"), "/")
	h, err := ParseHost(hostPart)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return fail("has an invalid host: %s", pe.Reason)
		}
		return fail("has an invalid host")
	}
	if path != "" {
		if err := ValidatePath(path); err != nil {
			return fail("has an invalid path: %s", err)
		}
	}
	return Place{host: h, path: path}, nil
}

// New is the place path at h; path must pass ValidatePath (or be "").
func New(h Host, path string) (Place, error) {
	if h.IsZero() {
		return Place{}, errors.New("no registry host")
	}
	if path != "" {
		if err := ValidatePath(path); err != nil {
			return Place{}, err
		}
	}
	return Place{host: h, path: path}, nil
}

// ValidatePath checks a repository path: lower-case segments of letters,
// digits and the separators '.', '_', '__' and '-', joined by '/' (the OCI
// distribution spec's rule), at most 255 characters.
func ValidatePath(path string) error {
	bad := errors.New("expected lower-case path segments of letters, digits, '.', '_' and '-', separated by '/' (no tag or digest)")
	if path == "" || len(path) > 255 {
		return bad
	}
	for _, seg := range strings.Split(path, "/") {
		if !pathSegment(seg) {
			return bad
		}
	}
	return nil
}

// pathSegment matches [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*.
func pathSegment(s string) bool {
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); {
		if alnum(s[i]) {
			i++
			continue
		}
		// A separator: ".", "_", "__" or a run of '-'.
		j := i
		switch s[i] {
		case '.':
			j++
		case '_':
			j++
			if j < len(s) && s[j] == '_' {
				j++
			}
		case '-':
			for j < len(s) && s[j] == '-' {
				j++
			}
		default:
			return false
		}
		if j >= len(s) || !alnum(s[j]) {
			return false
		}
		i = j
	}
	return true
}

// Host is the place's registry host.
func (p Place) Host() Host { return p.host }

// Path is the repository path ("" for a whole registry).
func (p Place) Path() string { return p.path }

// IsZero reports whether p is the zero Place.
func (p Place) IsZero() bool { return p.host.IsZero() }

// String is the canonical host[:port][/path].
func (p Place) String() string {
	if p.path == "" {
		return p.host.String()
	}
	return p.host.String() + "/" + p.path
}

// Contains reports whether q is p or under it, on a path-segment boundary
// (registry.example.com/charts contains registry.example.com/charts/app,
// not registry.example.com/charts-old).
func (p Place) Contains(q Place) bool {
	if p.host != q.host {
		return false
	}
	return p.path == "" || q.path == p.path || strings.HasPrefix(q.path, p.path+"/")
}

// Rebase moves q from under the prefix from to under to (a mirror's
// location): registry.example.com/charts/app with from
// registry.example.com/charts and to mirror.internal/ext becomes
// mirror.internal/ext/app. ok is false when q is not under from or the
// result names no repository.
func (q Place) Rebase(from, to Place) (Place, bool) {
	if !from.Contains(q) {
		return Place{}, false
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(q.path, from.path), "/")
	path := to.path
	switch {
	case path == "":
		path = rest
	case rest != "":
		path += "/" + rest
	}
	if path == "" || len(path) > 255 {
		return Place{}, false
	}
	return Place{host: to.host, path: path}, true
}

// Depth is the number of path segments: the longer of two matching prefixes
// is the deeper one (0 for a whole registry).
func (p Place) Depth() int {
	if p.path == "" {
		return 0
	}
	return strings.Count(p.path, "/") + 1
}

// MarshalText implements encoding.TextMarshaler.
func (p Place) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: the text must already
// be canonical (a record ocisrc wrote).
func (p *Place) UnmarshalText(b []byte) error {
	got, err := ParsePlace(string(b))
	if err != nil {
		return err
	}
	if got.String() != string(b) {
		return &LocationError{Input: string(b), Reason: "is not in canonical form (" + got.String() + ")"}
	}
	*p = got
	return nil
}
