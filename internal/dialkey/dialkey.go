// Package dialkey is the fuzz targets' oracle for registry places: what a
// dialler reaches for host[:port], worked out independently of pkg/place
// (with net/url and net.ParseIP only), so that a test can check that the
// place ocisrc compares is the place it dials.
package dialkey

import (
	"net"
	"net/url"
	"strings"
)

// Of is the host and port a dialler reaches for s (host[:port]): the
// lower-case host name or normalized address, the port as a number (443 by
// default), and Docker Hub's aliases as the host oras-go dials for
// docker.io. ok is false when s is not a host[:port] a URL can carry.
func Of(s string) (key string, ok bool) {
	u, err := url.Parse("https://" + s + "/")
	if err != nil || u.Host != s || u.User != nil {
		return "", false
	}
	name := strings.ToLower(u.Hostname())
	if ip := net.ParseIP(name); ip != nil {
		name = ip.String()
	}
	port := u.Port()
	for len(port) > 1 && port[0] == '0' {
		port = port[1:]
	}
	if port == "" {
		port = "443"
	}
	switch name {
	case "docker.io", "index.docker.io", "registry.hub.docker.com":
		if port == "443" {
			name = "registry-1.docker.io"
		}
	}
	return name + ":" + port, true
}
