package policy

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strconv"

	"github.com/ocisrc/ocisrc/pkg/place"
	"github.com/ocisrc/ocisrc/pkg/trust"
)

// DefaultTrustedRootKey is the key of a keyless configMapRef by default.
const DefaultTrustedRootKey = "trusted_root.json"

// Settings is the effective policy for one chart repository
// (host[:port]/path), with where each setting came from. Its JSON form is
// the output of `policy explain -o json`; every place in it is canonical.
type Settings struct {
	// Repository is the reference's host[:port]/path.
	Repository place.Place `json:"repository"`
	// Matches are the prefixes that matched, the longest of each document.
	Matches []Match `json:"matches"`
	// Blocked refuses the reference; BlockedBy says which documents block it.
	Blocked   bool     `json:"blocked"`
	BlockedBy []string `json:"blockedBy,omitempty"`
	// Origin is fallback or never; OriginFrom says which document set it.
	Origin     string `json:"origin"`
	OriginFrom string `json:"originFrom,omitempty"`
	// Mirrors are tried in order before the origin.
	Mirrors []MirrorSettings `json:"mirrors"`
	// TLS is how to connect to the origin registry.
	TLS TLSSettings `json:"tls"`
	// AllowUnboundSystemSecrets is the local file's allowUnboundSystemSecrets.
	AllowUnboundSystemSecrets bool `json:"allowUnboundSystemSecrets,omitempty"`
	// Verify is the signature requirement: a union of every document's.
	Verify VerifySettings `json:"verify"`
}

// VerifySettings is which keys a chart must be signed with. When Required,
// one valid signature, for the exact digest pulled, by any of the keys of any
// provider suffices.
type VerifySettings struct {
	Required   bool     `json:"required"`
	RequiredBy []string `json:"requiredBy,omitempty"`
	// CosignKeys are PEM public keys in the documents.
	CosignKeys []KeySource `json:"cosignKeys,omitempty"`
	// CosignSecrets name Secrets in the system namespace: every *.pub key.
	CosignSecrets []KeySource `json:"cosignSecrets,omitempty"`
	// HelmKeyrings are armored keyrings in the documents.
	HelmKeyrings []KeySource `json:"helmKeyrings,omitempty"`
	// HelmSecrets name Secrets in the system namespace: pubring.gpg or *.asc.
	HelmSecrets []KeySource `json:"helmSecrets,omitempty"`
	// Keyless are keyless cosign requirements: identities and their root.
	Keyless []KeylessSource `json:"keyless,omitempty"`
	// Notation are Notation requirements, one per document: its trust
	// store and identities (a document's identities apply to its own
	// certificates only).
	Notation []NotationSource `json:"notation,omitempty"`
	// Provenance are provenance requirements, one per document that sets
	// one for the repository (from its longest prefix that does): unlike
	// signatures, each must be met — a document's requirement cannot be
	// met by another document's builder or source.
	Provenance []ProvenanceSource `json:"provenance,omitempty"`
	// Rules names the policy rules these settings come from (each
	// document's matching prefix that sets verify): within one Set, equal
	// Rules mean equal settings, so what is built from them can be shared.
	Rules string `json:"-"`
}

// ProvenanceSource is one document's provenance requirement: what the
// attestation must say, and who may sign it.
type ProvenanceSource struct {
	// ProvenanceClaims are the document's, with the predicate type it
	// defaults to written out.
	ProvenanceClaims
	// Keys are PEM public keys in the document.
	Keys []KeySource `json:"keys,omitempty"`
	// Secret names a Secret of the system namespace: every *.pub key.
	Secret string `json:"secret,omitempty"`
	// Keyless are keyless signers with their trusted root.
	Keyless *KeylessSource `json:"keyless,omitempty"`
	From    string         `json:"from"`
}

// NotationSource is one document's Notation requirement.
type NotationSource struct {
	// Certificates is how many PEM certificates the document holds inline.
	Certificates int `json:"certificates"`
	// Secret names a Secret of the system namespace holding more (every
	// *.crt and *.pem).
	Secret     string   `json:"secret,omitempty"`
	Identities []string `json:"identities"`
	From       string   `json:"from"`
	// Certs are the inline certificates.
	Certs [][]byte `json:"-"`
}

// KeylessSource is one document's keyless cosign requirement.
type KeylessSource struct {
	Identities []trust.Identity `json:"identities"`
	// Root says which trusted root: "public" (the public Sigstore instance),
	// "inline", "file <path>" or "ConfigMap <name> key <key>".
	Root      string `json:"trustedRoot"`
	From      string `json:"from"`
	RootJSON  []byte `json:"-"`
	ConfigMap string `json:"-"`
	MapKey    string `json:"-"`
}

// KeySource is keys (or the Secret that holds them) and where that came from.
type KeySource struct {
	// Secret is the Secret's name, for the *Secrets lists.
	Secret string `json:"secret,omitempty"`
	From   string `json:"from"`
	Data   []byte `json:"-"`
}

// Match is a prefix that matched and the document it is in.
type Match struct {
	Prefix place.Place `json:"prefix"`
	From   string      `json:"from"`
}

// MirrorSettings is one mirror, for one reference.
type MirrorSettings struct {
	// Location is the mirror's location (host[:port][/path]).
	Location place.Place `json:"location"`
	// Repository is the reference's repository at the mirror; the zero
	// Place when the location and the reference leave no repository.
	Repository place.Place `json:"repository"`
	// Host is the mirror's host[:port].
	Host        place.Host `json:"host"`
	ResolveTags bool       `json:"resolveTags"`
	// SecretRef is the name of the mirror's credentials in the system namespace.
	SecretRef string `json:"secretRef,omitempty"`
	From      string `json:"from"`
	// TLS is how to connect to the mirror (the policy's entries for its host).
	TLS TLSSettings `json:"tls"`
}

// TLSSettings is how to connect to one registry.
type TLSSettings struct {
	// CAs are added to the system roots (never replace them).
	CAs []CA `json:"cas,omitempty"`
	// ClientCertificate is the policy file's client certificate.
	ClientCertificate      *Cert  `json:"clientCertificate,omitempty"`
	InsecureSkipVerify     bool   `json:"insecureSkipVerify,omitempty"`
	InsecureSkipVerifyFrom string `json:"insecureSkipVerifyFrom,omitempty"`
	PlainHTTP              bool   `json:"plainHTTP,omitempty"`
	PlainHTTPFrom          string `json:"plainHTTPFrom,omitempty"`
}

// CA is one set of certificates to trust and where it came from.
type CA struct {
	// Subjects names the certificates (never their bytes).
	Subjects []string `json:"subjects"`
	From     string   `json:"from"`
	PEM      []byte   `json:"-"`
}

// Cert is a client certificate and where it came from.
type Cert struct {
	Subject string `json:"subject"`
	From    string `json:"from"`
	CertPEM []byte `json:"-"`
	KeyPEM  []byte `json:"-"`
}

// CAPEMs returns the PEM of every CA, in order.
func (t TLSSettings) CAPEMs() [][]byte {
	var out [][]byte
	for _, c := range t.CAs {
		out = append(out, c.PEM)
	}
	return out
}

// Set is the documents of one run, in precedence order: the local file,
// then the cluster's ConfigMap. Either may be missing.
type Set struct {
	Layers []*Loaded
}

// best returns the index of the longest prefix of l that contains
// repository, or -1.
func (l *Loaded) best(repository place.Place) int {
	return l.bestWith(repository, func(Registry) bool { return true })
}

// bestWith is best among the prefixes that set what has asks for: TLS
// comes from the longest prefix that says anything about TLS, so a CA
// given for a host applies under a longer prefix of it that only routes or
// blocks.
func (l *Loaded) bestWith(repository place.Place, has func(Registry) bool) int {
	best := -1
	for i, r := range l.Doc.Registries {
		if has(r) && r.prefix.Contains(repository) && (best < 0 || r.prefix.Depth() > l.Doc.Registries[best].prefix.Depth()) {
			best = i
		}
	}
	return best
}

// For returns the effective settings for repository (host[:port]/path).
// Within one document, each field comes from the longest prefix that sets
// that field — a longer prefix that only sets TLS, say, leaves blocked,
// origin, mirrors and verify as the shorter prefix has them — and each
// field names the prefix it came from:
//
//   - blocked is a union: any document that blocks it blocks it (within a
//     document, an explicit blocked: false on a longer prefix unblocks);
//   - mirrors and origin each come from the longest prefix of either
//     document that sets them; on a tie, the local file's wins;
//   - verify is a union of every document's, each from its longest prefix
//     that sets verify;
//   - trust roots are a union of every document's CAs for the host, each
//     document's from its longest prefix that sets TLS;
//   - the client certificate, insecureSkipVerify and plainHTTP come from the
//     local file only (a ConfigMap cannot set them).
func (s Set) For(repository place.Place) Settings {
	st := Settings{Repository: repository, Origin: OriginFallback, Mirrors: []MirrorSettings{}, Matches: []Match{}}
	mirrorDepth, originDepth := -1, -1
	for li, l := range s.Layers {
		if l == nil {
			continue
		}
		if l.Source.Kind == SourceFile && l.Doc.AllowUnboundSystemSecrets {
			st.AllowUnboundSystemSecrets = true
		}
		if i := l.best(repository); i >= 0 {
			r := l.Doc.Registries[i]
			st.Matches = append(st.Matches, Match{Prefix: r.prefix, From: l.Source.String()})
		}
		if i := l.bestWith(repository, func(r Registry) bool { return r.Blocked != nil }); i >= 0 {
			if r := l.Doc.Registries[i]; *r.Blocked {
				st.Blocked = true
				st.BlockedBy = append(st.BlockedBy, l.at(i))
			}
		}
		// A signature and provenance are separate requirements, each from
		// the longest prefix that sets it.
		if i := l.bestWith(repository, func(r Registry) bool { return r.Verify.signs() }); i >= 0 {
			l.addVerify(&st.Verify, li, i)
		}
		if i := l.bestWith(repository, func(r Registry) bool { return r.Verify.attests() }); i >= 0 {
			l.addProvenance(&st.Verify, li, i)
		}
		if i := l.bestWith(repository, func(r Registry) bool { return len(r.Mirrors) > 0 }); i >= 0 {
			r := l.Doc.Registries[i]
			if r.prefix.Depth() > mirrorDepth {
				mirrorDepth = r.prefix.Depth()
				st.Mirrors = []MirrorSettings{}
				for _, m := range r.Mirrors {
					ms := MirrorSettings{Location: m.location, Host: m.location.Host(), ResolveTags: m.ResolveTags, From: l.at(i)}
					if at, ok := repository.Rebase(r.prefix, m.location); ok {
						ms.Repository = at
					}
					if m.SecretRef != nil {
						ms.SecretRef = m.SecretRef.Name
					}
					st.Mirrors = append(st.Mirrors, ms)
				}
			}
		}
		if i := l.bestWith(repository, func(r Registry) bool { return r.Origin != "" }); i >= 0 {
			r := l.Doc.Registries[i]
			if r.prefix.Depth() > originDepth {
				originDepth = r.prefix.Depth()
				st.Origin, st.OriginFrom = r.Origin, l.at(i)
			}
		}
	}
	st.TLS = s.tlsFor(repository)
	for i := range st.Mirrors {
		at := st.Mirrors[i].Repository
		if at.IsZero() {
			at = st.Mirrors[i].Location
		}
		st.Mirrors[i].TLS = s.tlsFor(at)
	}
	return st
}

// at names registries[i] of l: the document and the prefix.
func (l *Loaded) at(i int) string {
	return l.Source.String() + " (prefix " + l.Doc.Registries[i].prefix.String() + ")"
}

// addVerify adds registries[i]'s verify (the li-th document's) to v.
func (l *Loaded) addVerify(v *VerifySettings, li, i int) {
	r := l.Doc.Registries[i]
	from := l.Source.String()
	v.Rules += strconv.Itoa(li) + ":" + strconv.Itoa(i) + ";"
	v.Required = true
	v.RequiredBy = append(v.RequiredBy, l.at(i))
	if c := r.Verify.Cosign; c != nil {
		for _, k := range c.Keys {
			v.CosignKeys = append(v.CosignKeys, KeySource{From: from, Data: []byte(k)})
		}
		if c.SecretRef != nil {
			v.CosignSecrets = append(v.CosignSecrets, KeySource{Secret: c.SecretRef.Name, From: from})
		}
		if k := c.Keyless; k != nil {
			v.Keyless = append(v.Keyless, keylessSource(k, from, l.files[i].trustedRoot))
		}
	}
	if n := r.Verify.Notation; n != nil {
		ns := NotationSource{Certificates: len(n.TrustStore), Identities: n.Identities, From: from}
		for _, c := range n.TrustStore {
			ns.Certs = append(ns.Certs, []byte(c))
		}
		if n.SecretRef != nil {
			ns.Secret = n.SecretRef.Name
		}
		v.Notation = append(v.Notation, ns)
	}
	if h := r.Verify.Helm; h != nil {
		if h.Keyring != "" {
			v.HelmKeyrings = append(v.HelmKeyrings, KeySource{From: from, Data: []byte(h.Keyring)})
		}
		if h.SecretRef != nil {
			v.HelmSecrets = append(v.HelmSecrets, KeySource{Secret: h.SecretRef.Name, From: from})
		}
	}
}

// keylessSource is a document's keyless signers; file is its
// trustedRootFile, read.
func keylessSource(k *KeylessVerify, from string, file []byte) KeylessSource {
	ks := KeylessSource{Identities: k.Identities, From: from, Root: "public"}
	switch {
	case k.TrustedRoot != "":
		ks.Root, ks.RootJSON = "inline", []byte(k.TrustedRoot)
	case k.TrustedRootFile != "":
		ks.Root, ks.RootJSON = "file "+k.TrustedRootFile, file
	case k.ConfigMapRef != nil:
		key := k.ConfigMapRef.Key
		if key == "" {
			key = DefaultTrustedRootKey
		}
		ks.Root, ks.ConfigMap, ks.MapKey = "ConfigMap "+k.ConfigMapRef.Name+" key "+key, k.ConfigMapRef.Name, key
	}
	return ks
}

// addProvenance adds registries[i]'s provenance requirement (the li-th
// document's) to v.
func (l *Loaded) addProvenance(v *VerifySettings, li, i int) {
	p := l.Doc.Registries[i].Verify.Provenance
	v.Rules += "p" + strconv.Itoa(li) + ":" + strconv.Itoa(i) + ";"
	ps := ProvenanceSource{ProvenanceClaims: p.ProvenanceClaims, From: l.at(i)}
	ps.PredicateType = p.Requirement().Type()
	for _, k := range p.Keys {
		ps.Keys = append(ps.Keys, KeySource{From: l.Source.String(), Data: []byte(k)})
	}
	if p.SecretRef != nil {
		ps.Secret = p.SecretRef.Name
	}
	if p.Keyless != nil {
		ks := keylessSource(p.Keyless, l.Source.String(), l.files[i].provenanceRoot)
		ps.Keyless = &ks
	}
	v.Provenance = append(v.Provenance, ps)
}

// tlsFor is the TLS settings for the registry of repository.
func (s Set) tlsFor(repository place.Place) TLSSettings {
	var t TLSSettings
	for _, l := range s.Layers {
		if l == nil {
			continue
		}
		i := l.bestWith(repository, func(r Registry) bool { return r.TLS != nil || r.PlainHTTP })
		if i < 0 {
			continue
		}
		r := l.Doc.Registries[i]
		from := l.at(i)
		if r.TLS != nil && r.TLS.CA != "" {
			t.CAs = append(t.CAs, CA{PEM: []byte(r.TLS.CA), Subjects: subjects([]byte(r.TLS.CA)), From: from + " (tls.ca)"})
		}
		f := l.files[i]
		if f.ca != nil {
			t.CAs = append(t.CAs, CA{PEM: f.ca, Subjects: subjects(f.ca), From: from + " (tls.caFile " + r.TLS.CAFile + ")"})
		}
		if l.Source.Kind != SourceFile {
			continue
		}
		if f.cert != nil && t.ClientCertificate == nil {
			subject := ""
			if s := subjects(f.cert); len(s) > 0 {
				subject = s[0]
			}
			t.ClientCertificate = &Cert{Subject: subject, From: from + " (tls.certFile " + r.TLS.CertFile + ")", CertPEM: f.cert, KeyPEM: f.key}
		}
		if r.TLS != nil && r.TLS.InsecureSkipVerify && !t.InsecureSkipVerify {
			t.InsecureSkipVerify, t.InsecureSkipVerifyFrom = true, from
		}
		if r.PlainHTTP && !t.PlainHTTP {
			t.PlainHTTP, t.PlainHTTPFrom = true, from
		}
	}
	return t
}

// subjects names the certificates in a PEM bundle.
func subjects(b []byte) []string {
	var out []string
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c.Subject.String())
		}
	}
}

// MirrorSecret returns the secretRef of the policy's mirror whose location
// contains repository (a bundle pushed into a mirror gets the mirror's
// credentials): the deepest such location, the local file's first.
func (s Set) MirrorSecret(repository place.Place) (string, bool) {
	best, depth := "", -1
	for _, l := range s.Layers {
		if l == nil {
			continue
		}
		for _, r := range l.Doc.Registries {
			for _, m := range r.Mirrors {
				if m.SecretRef == nil || !m.location.Contains(repository) || m.location.Depth() <= depth {
					continue
				}
				best, depth = m.SecretRef.Name, m.location.Depth()
			}
		}
	}
	return best, depth >= 0
}

// Warnings are what a document allows that its author probably did not
// mean: a mirror of a prefix that requires a signature, whose location is
// not itself under a prefix that requires one — a Component that names
// the mirror's location directly gets the mirror's own policy, and its
// chart is pulled unsigned.
func (l *Loaded) Warnings() []string {
	var out []string
	set := Set{Layers: []*Loaded{l}}
	for i, r := range l.Doc.Registries {
		if r.Verify == nil {
			continue
		}
		for j, m := range r.Mirrors {
			at := set.For(m.location).Verify
			if r.Verify.signs() && !at.Required {
				out = append(out, fmt.Sprintf("%s: registries[%d].mirrors[%d].location %s: a Component that names the mirror directly is not held to the signature registries[%d] (prefix %s) requires; add a prefix for %s with the same verify",
					l.Source, i, j, m.location, i, r.prefix, m.location))
			}
			if r.Verify.attests() && len(at.Provenance) == 0 {
				out = append(out, fmt.Sprintf("%s: registries[%d].mirrors[%d].location %s: a Component that names the mirror directly is not held to the provenance registries[%d] (prefix %s) requires; add a prefix for %s with the same verify.provenance",
					l.Source, i, j, m.location, i, r.prefix, m.location))
			}
		}
	}
	return out
}
