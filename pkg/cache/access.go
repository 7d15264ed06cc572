package cache

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/ocisrc/ocisrc/pkg/place"
)

// Identity is who a registry served: a Secret as it was read — its UID and
// resourceVersion, so that a changed, deleted and recreated, or another
// cluster's Secret of the same name is another identity — a client
// certificate (its SHA-256 fingerprint), both, or neither (anonymous). A
// record names an identity, never a name that can be reused for something
// else; Secret (namespace/name) is kept for people.
type Identity struct {
	// Secret is namespace/name of the Secret, for people.
	Secret string `json:"secret,omitempty"`
	// UID and ResourceVersion are the Secret's, as read.
	UID             string `json:"uid,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// Certificate is the SHA-256 fingerprint of the client certificate
	// presented, "SHA256:<hex>".
	Certificate string `json:"certificate,omitempty"`
}

// Anonymous reports whether the identity is nobody: no Secret, no
// certificate.
func (i Identity) Anonymous() bool { return i == Identity{} }

// String is the identity for people.
func (i Identity) String() string {
	var parts []string
	if i.Secret != "" {
		parts = append(parts, "secret "+i.Secret+" (uid "+i.UID+", resourceVersion "+i.ResourceVersion+")")
	}
	if i.Certificate != "" {
		parts = append(parts, "client certificate "+i.Certificate)
	}
	if len(parts) == 0 {
		return "anonymous"
	}
	return strings.Join(parts, " and ")
}

// key is the identity as a map key of the proofs file.
func (i Identity) key() string {
	b, _ := json.Marshal(i) //nolint:gosec // an identity names a Secret; it holds no value of it

	return string(b)
}

// Access records that a place served a chart's bytes — the manifest
// downloaded there hashed to the digest — to an identity, or, for another
// identity, that the place, having served these bytes, answered for the
// digest with that identity's credentials. Only places that served the
// bytes are recorded; a registry's word alone never adds a place.
type Access struct {
	// Repository is the chart's repository at that place (canonical).
	Repository place.Place `json:"repository"`
	// Identity is who read the chart there.
	Identity Identity `json:"identity"`
}

// access is Access as entry.json holds it: a record without an identity
// (written by an earlier ocisrc, which recorded a Secret's name) is not
// read at all, so it never stands for anonymous access.
type access struct {
	Repository place.Place `json:"repository"`
	Identity   *Identity   `json:"identity"`
}

// readAccess keeps the records that name an identity.
func readAccess(in []access) []Access {
	var out []Access
	for _, a := range in {
		if a.Identity != nil && !a.Repository.IsZero() {
			out = append(out, Access{Repository: a.Repository, Identity: *a.Identity})
		}
	}
	return out
}

// Allows reports whether the entry records that id may read the chart at
// repository: that exact identity, or the place serving it anonymously.
func (e *Entry) Allows(repository place.Place, id Identity) bool {
	for _, a := range e.Access {
		if a.Repository == repository && (a.Identity == id || a.Identity.Anonymous()) {
			return true
		}
	}
	return false
}

// Served reports whether repository is recorded as having served the bytes.
func (e *Entry) Served(repository place.Place) bool {
	for _, a := range e.Access {
		if a.Repository == repository {
			return true
		}
	}
	return false
}

func (e *Entry) addAccess(a Access) bool {
	if a.Repository.IsZero() || slices.Contains(e.Access, a) {
		return false
	}
	e.Access = append(e.Access, a)
	sort.Slice(e.Access, func(i, j int) bool {
		if e.Access[i].Repository != e.Access[j].Repository {
			return e.Access[i].Repository.String() < e.Access[j].Repository.String()
		}
		return e.Access[i].Identity.key() < e.Access[j].Identity.key()
	})
	return true
}
