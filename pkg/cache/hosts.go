package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// The auth schemes registries asked for: one file per host, holding
// "basic" or "bearer" and never a credential, so that a known basic-auth
// registry gets credentials on the first request instead of after a 401.
//
//	<root>/hosts/<sha256 of host>   basic | bearer

const hostsDir = "hosts"

func hostName(host string) string {
	sum := sha256.Sum256([]byte(host))
	return hostsDir + "/" + hex.EncodeToString(sum[:16])
}

// Scheme returns the auth scheme ("basic", "bearer") last seen for a
// registry host, or "".
func (s *ChartStore) Scheme(host string) string {
	if s.root == nil {
		return ""
	}
	raw, err := s.readRegular(hostName(host), 64)
	if err != nil {
		return ""
	}
	switch v := strings.TrimSpace(string(raw)); v {
	case "basic", "bearer":
		return v
	default:
		return ""
	}
}

// RememberScheme records the auth scheme a registry host asked for.
func (s *ChartStore) RememberScheme(host, scheme string) {
	if s.Scheme(host) == scheme {
		return
	}
	_ = s.writeAtomic(hostsDir, hostName(host), []byte(scheme+"\n"))
}
