// Package registryhost validates and normalizes registry host names: the
// HOST[:PORT] of an oci:// reference, of a Secret's registry key and of a
// docker config entry.
//
// Only what can be dialled as written is accepted: a DNS name of ASCII
// letters, digits, '-' and '.', an IPv4 address, or a bracketed IPv6
// address, each with an optional port. Anything else — shell
// metacharacters, quotes, whitespace, control characters, non-ASCII letters
// that case mapping or IDNA would turn into another host — is refused, so a
// host is safe to print, to compare and to use in a file name, and the form
// compared is the form dialled.
//
// The package has no dependencies beyond the standard library, and a fuzz target.
package registryhost

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DockerHub is the one name the Docker Hub aliases normalize to.
const DockerHub = "docker.io"

var dockerHubAliases = map[string]bool{
	"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true, "registry.hub.docker.com": true,
}

// Error is a host that cannot be used. Its message quotes the input with Go
// escapes, so it is safe to print.
type Error struct {
	Input  string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%+q is not a registry host: %s", e.Input, e.Reason)
}

const expected = "expected a DNS name (letters, digits, '-' and '.'), an IPv4 address or a bracketed IPv6 address, optionally with :PORT"

// Validate checks that host is NAME[:PORT], where NAME is a DNS name of ASCII
// letters, digits, '-' and '.' (labels of 1 to 63 characters that neither
// start nor end with '-'), an IPv4 address or a bracketed IPv6 address, and
// PORT is a number from 1 to 65535.
func Validate(host string) error {
	if host == "" {
		return &Error{Input: host, Reason: "it is empty"}
	}
	name, port, err := split(host)
	if err != nil {
		return err
	}
	if port != "" {
		if err := validatePort(host, port); err != nil {
			return err
		}
	}
	if strings.HasPrefix(name, "[") {
		ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(name, "["), "]"))
		if !strings.HasSuffix(name, "]") || ip == nil || ip.To4() != nil && !strings.Contains(name, ":") {
			return &Error{Input: host, Reason: "the part in brackets is not an IPv6 address"}
		}
		return nil
	}
	return validateName(host, name)
}

// split cuts host into its name and port ("" when there is none).
func split(host string) (name, port string, err error) {
	if strings.HasPrefix(host, "[") {
		end := strings.Index(host, "]")
		if end < 0 {
			return "", "", &Error{Input: host, Reason: "a '[' without ']'"}
		}
		name, rest := host[:end+1], host[end+1:]
		if rest == "" {
			return name, "", nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", &Error{Input: host, Reason: expected}
		}
		return name, rest[1:], nil
	}
	if strings.Count(host, ":") > 1 {
		return "", "", &Error{Input: host, Reason: "an IPv6 address must be in brackets, as [::1]:5000"}
	}
	name, port, found := strings.Cut(host, ":")
	if found && port == "" {
		return "", "", &Error{Input: host, Reason: "an empty port after ':'"}
	}
	return name, port, nil
}

func validatePort(host, port string) error {
	for _, c := range port {
		if c < '0' || c > '9' {
			return &Error{Input: host, Reason: "the port must be a number from 1 to 65535"}
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || len(port) > 5 {
		return &Error{Input: host, Reason: "the port must be a number from 1 to 65535"}
	}
	return nil
}

func validateName(host, name string) error {
	if name == "" {
		return &Error{Input: host, Reason: "it names no host before the port"}
	}
	if len(name) > 253 {
		return &Error{Input: host, Reason: "a host name is at most 253 characters"}
	}
	for _, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return &Error{Input: host, Reason: "an empty label (two dots in a row, or a leading or trailing dot)"}
		case len(label) > 63:
			return &Error{Input: host, Reason: "a label is at most 63 characters"}
		case label[0] == '-' || label[len(label)-1] == '-':
			return &Error{Input: host, Reason: "a label must not start or end with '-'"}
		}
		for i := 0; i < len(label); i++ {
			if !nameByte(label[i]) {
				return &Error{Input: host, Reason: expected}
			}
		}
	}
	return nil
}

// nameByte reports whether c may appear in a DNS label.
func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// Normalize turns a registry address as people write it — host,
// host:port, https://host/v1/, a Docker Hub alias — into host[:port] in lower
// case, without the default HTTPS port, with every Docker Hub alias as
// docker.io. The host must pass Validate.
func Normalize(s string) (string, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return "", &Error{Input: s, Reason: "it is empty"}
	}
	if scheme, rest, ok := strings.Cut(in, "://"); ok {
		if scheme != "https" && scheme != "http" {
			return "", &Error{Input: s, Reason: "expected host or host:port, or an https:// URL"}
		}
		in = rest
		if i := strings.IndexAny(in, "/?#"); i >= 0 {
			in = in[:i]
		}
	}
	if err := Validate(in); err != nil {
		reason := expected
		var he *Error
		if errors.As(err, &he) {
			reason = he.Reason
		}
		return "", &Error{Input: s, Reason: reason}
	}
	name, port, _ := split(strings.ToLower(in))
	if port == "443" {
		port = ""
	}
	if dockerHubAliases[name] && port == "" {
		return DockerHub, nil
	}
	if port != "" {
		return name + ":" + port, nil
	}
	return name, nil
}

// IsLoopback reports whether host ("h" or "h:port") is this machine:
// localhost or a loopback address.
func IsLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
