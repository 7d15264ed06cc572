// Package policy is the registry policy: per-registry TLS, mirrors and
// blocks, from a local file and from the platform team's ConfigMap, merged
// into the settings for one chart reference.
//
// It decodes untrusted input (a ConfigMap anyone with write access to it
// can fill), so it is a leaf: no network, no Kubernetes client, and a fuzz
// target. Decoding is strict: an unknown field, a wrong type or a bad value
// is an error that names the document and the field path.
package policy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/ocisrc/ocisrc/pkg/attestation"
	"github.com/ocisrc/ocisrc/pkg/place"
	"github.com/ocisrc/ocisrc/pkg/trust"
)

// The document's apiVersion and kind.
const (
	APIVersion = "ocisrc.dev/v1alpha1"
	Kind       = "RegistryPolicy"
)

// Origin values.
const (
	// OriginFallback tries the origin registry after the mirrors (the default).
	OriginFallback = "fallback"
	// OriginNever never contacts the origin (an air gap).
	OriginNever = "never"
)

// Document is a registry policy as written.
type Document struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// AllowUnboundSystemSecrets lets Secrets of the system namespace that are
	// bound to no registry be used (local file only).
	AllowUnboundSystemSecrets bool       `json:"allowUnboundSystemSecrets,omitempty"`
	Registries                []Registry `json:"registries,omitempty"`
}

// Registry is the policy for the references under one prefix.
type Registry struct {
	// Prefix is host[:port][/path]; the longest prefix that matches a
	// reference on a path-segment boundary wins.
	Prefix string `json:"prefix"`
	TLS    *TLS   `json:"tls,omitempty"`
	// PlainHTTP talks HTTP to the registry (local file only).
	PlainHTTP bool `json:"plainHTTP,omitempty"`
	// Blocked refuses every reference under the prefix before any request;
	// an explicit false on a longer prefix of the same document unblocks
	// what is under it.
	Blocked *bool `json:"blocked,omitempty"`
	// Mirrors are tried in order before the origin.
	Mirrors []Mirror `json:"mirrors,omitempty"`
	// Origin is fallback (default) or never.
	Origin string `json:"origin,omitempty"`
	// Verify requires a valid signature by one of its keys.
	Verify *Verify `json:"verify,omitempty"`

	// prefix is Prefix parsed: what every comparison uses.
	prefix place.Place
}

// Verify is who a chart under the prefix must be signed by: one valid
// signature from any provider suffices.
type Verify struct {
	Cosign   *CosignVerify   `json:"cosign,omitempty"`
	Helm     *HelmVerify     `json:"helm,omitempty"`
	Notation *NotationVerify `json:"notation,omitempty"`
	// Provenance requires a SLSA provenance attestation: a requirement of
	// its own, beside a signature's (either, both, or neither).
	Provenance *ProvenanceVerify `json:"provenance,omitempty"`
}

// signs reports whether v requires a signature.
func (v *Verify) signs() bool {
	return v != nil && (v.Cosign != nil || v.Helm != nil || v.Notation != nil)
}

// attests reports whether v requires provenance.
func (v *Verify) attests() bool { return v != nil && v.Provenance != nil }

// ProvenanceVerify is a SLSA provenance requirement: an in-toto
// attestation of the chart's manifest digest, of the predicate type,
// whose builder and source match, signed by one of its keys or keyless
// identities.
type ProvenanceVerify struct {
	ProvenanceClaims
	// Keys, SecretRef and Keyless are who may sign the attestation, as
	// for cosign signatures.
	Keys      []string       `json:"keys,omitempty"`
	SecretRef *SecretRef     `json:"secretRef,omitempty"`
	Keyless   *KeylessVerify `json:"keyless,omitempty"`
}

// ProvenanceClaims are what a provenance attestation's statement must say.
type ProvenanceClaims struct {
	// PredicateType is https://slsa.dev/provenance/v1 (the default) or
	// https://slsa.dev/provenance/v0.2.
	PredicateType string `json:"predicateType,omitempty"`
	// BuilderID or BuilderIDRegExp is the builder's id (any when neither).
	BuilderID       string `json:"builderID,omitempty"`
	BuilderIDRegExp string `json:"builderIDRegExp,omitempty"`
	// SourceRepository or SourceRepositoryRegExp is the source repository
	// (one is required).
	SourceRepository       string `json:"sourceRepository,omitempty"`
	SourceRepositoryRegExp string `json:"sourceRepositoryRegExp,omitempty"`
	// SourceRef or SourceRefRegExp is the source ref (any when neither).
	SourceRef       string `json:"sourceRef,omitempty"`
	SourceRefRegExp string `json:"sourceRefRegExp,omitempty"`
}

// Requirement is what the attestation's statement must say.
func (p ProvenanceClaims) Requirement() attestation.Requirement {
	return attestation.Requirement{
		PredicateType: p.PredicateType,
		Builder:       attestation.Match{Exact: p.BuilderID, RegExp: p.BuilderIDRegExp},
		Repository:    attestation.Match{Exact: p.SourceRepository, RegExp: p.SourceRepositoryRegExp},
		Ref:           attestation.Match{Exact: p.SourceRef, RegExp: p.SourceRefRegExp},
	}
}

// CosignVerify is cosign public keys, and keyless identities.
type CosignVerify struct {
	// Keys are PEM public keys (ECDSA P-256/P-384/P-521, RSA, Ed25519).
	Keys []string `json:"keys,omitempty"`
	// SecretRef names a Secret in the system namespace: every "*.pub" key.
	SecretRef *SecretRef `json:"secretRef,omitempty"`
	// Keyless trusts Fulcio certificates of these identities.
	Keyless *KeylessVerify `json:"keyless,omitempty"`
}

// KeylessVerify is keyless cosign: the identities a signing certificate
// must name, and the Sigstore trust material its chain, logs and timestamps
// are checked against (the public Sigstore instance when none is given).
type KeylessVerify struct {
	Identities []trust.Identity `json:"identities,omitempty"`
	// TrustedRoot is a trusted_root.json, inline.
	TrustedRoot string `json:"trustedRoot,omitempty"`
	// TrustedRootFile is a trusted_root.json on this machine (local file
	// only), relative to the policy file.
	TrustedRootFile string `json:"trustedRootFile,omitempty"`
	// ConfigMapRef names a ConfigMap of the system namespace holding it.
	ConfigMapRef *ConfigMapRef `json:"configMapRef,omitempty"`
}

// ConfigMapRef names a ConfigMap in the system namespace and its key
// (default trusted_root.json).
type ConfigMapRef struct {
	Name string `json:"name"`
	Key  string `json:"key,omitempty"`
}

// NotationVerify is Notation: trust store certificates and the identities
// a signing certificate must have.
type NotationVerify struct {
	// TrustStore are PEM certificates (CAs, or signing certificates).
	TrustStore []string `json:"trustStore,omitempty"`
	// SecretRef names a Secret in the system namespace: every "*.crt" and
	// "*.pem" key.
	SecretRef *SecretRef `json:"secretRef,omitempty"`
	// Identities are "x509.subject: C=…, ST=…, O=…, CN=…" or "*".
	Identities []string `json:"identities,omitempty"`
}

// HelmVerify is the OpenPGP keyring Helm provenance is checked with.
type HelmVerify struct {
	// Keyring is ASCII-armored OpenPGP public keys.
	Keyring string `json:"keyring,omitempty"`
	// SecretRef names a Secret in the system namespace: key pubring.gpg or "*.asc".
	SecretRef *SecretRef `json:"secretRef,omitempty"`
}

// TLS is how to connect to the registry.
type TLS struct {
	// CA is PEM certificates added to the system roots.
	CA string `json:"ca,omitempty"`
	// CAFile, CertFile and KeyFile are paths (local file only), relative to
	// the policy file.
	CAFile   string `json:"caFile,omitempty"`
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
	// InsecureSkipVerify turns certificate verification off (local file only).
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// Mirror is a place that serves the prefix's charts.
type Mirror struct {
	// Location replaces the prefix in the reference: host[:port][/path].
	Location string `json:"location"`
	// ResolveTags lets the mirror resolve tags; by default it serves only
	// references whose digest is known (pinned, or resolved at the origin).
	ResolveTags bool `json:"resolveTags,omitempty"`
	// SecretRef names the mirror's credentials in the system namespace.
	SecretRef *SecretRef `json:"secretRef,omitempty"`

	// location is Location parsed.
	location place.Place
}

// SecretRef names a Secret in the system namespace.
type SecretRef struct {
	Name string `json:"name"`
}

// Source says where a document came from, for messages and for explain.
type Source struct {
	// Kind is "file" or "ConfigMap".
	Kind string
	// Name is the file's path, or the ConfigMap's namespace/name (and key).
	Name string
	// File, for a ConfigMap source, is a file checked as a ConfigMap's
	// content (policy validate --as-configmap): the rules are the
	// ConfigMap's, the name is the file's.
	File bool
}

// localOnlyReason is why a ConfigMap may not set a field.
const localOnlyReason = "may be set only in a local policy file, never from the cluster: a ConfigMap that sets it is refused as a whole"

// Source kinds.
const (
	SourceFile      = "file"
	SourceConfigMap = "ConfigMap"
)

func (s Source) String() string {
	if s.Kind == SourceFile {
		return fmt.Sprintf("registry policy file %q", s.Name)
	}
	if s.File {
		return fmt.Sprintf("registry policy file %q (as the ConfigMap's content)", s.Name)
	}
	return fmt.Sprintf("%s %q", s.Kind, s.Name)
}

// Error is a document that cannot be used: where it came from, the field
// path (registries[1].mirrors[0].location) and what was expected.
type Error struct {
	Source Source
	Path   string
	Reason string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", e.Source, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", e.Source, e.Path, e.Reason)
}

// MaxSize bounds a policy document.
const MaxSize = 1 << 20

// Decode reads a document strictly: YAML or JSON, no unknown field, no
// duplicate key, every value of the right type and valid. A ConfigMap may
// not set what only a local file may (anything that weakens security, or
// names local files): such a ConfigMap is refused as a whole.
func Decode(data []byte, src Source) (*Document, error) {
	fail := func(path, format string, a ...any) error {
		return &Error{Source: src, Path: path, Reason: fmt.Sprintf(format, a...)}
	}
	if len(data) > MaxSize {
		return nil, fail("", "larger than %d bytes", MaxSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fail("", "it is empty: expected apiVersion: %s and kind: %s", APIVersion, Kind)
	}
	raw, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fail("", "not valid YAML: %s", yamlReason(err))
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, fail("", "not valid YAML")
	}
	if err := checkShape(tree, reflect.TypeOf(Document{}), ""); err != nil {
		return nil, fail(err.path, "%s", err.reason)
	}
	var doc Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fail("", "cannot be read: expected a %s", Kind)
	}
	if err := doc.validate(src); err != nil {
		return nil, err
	}
	return &doc, nil
}

// yamlReason keeps the useful part of a YAML parser error.
func yamlReason(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	return msg
}

type shapeError struct{ path, reason string }

// checkShape walks a decoded JSON value against a Go type: every object key
// must be a field of the struct (by its json tag), and every value of the
// field's kind. It reports the first problem with its path.
func checkShape(v any, t reflect.Type, path string) *shapeError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return nil // null is the zero value
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return &shapeError{path, "must be an object, got " + jsonKind(v)}
		}
		fields := map[string]reflect.StructField{}
		var names []string
		// Fields of embedded structs count as the struct's, as encoding/json has them.
		for _, f := range reflect.VisibleFields(t) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f
			names = append(names, name)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, ok := fields[k]
			if !ok {
				return &shapeError{join(path, k), fmt.Sprintf("unknown field: expected one of %s", strings.Join(names, ", "))}
			}
			if err := checkShape(m[k], f.Type, join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return &shapeError{path, "must be a list, got " + jsonKind(v)}
		}
		for i, item := range list {
			if err := checkShape(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return &shapeError{path, "must be a string, got " + jsonKind(v)}
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return &shapeError{path, "must be true or false, got " + jsonKind(v)}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %+q", truncate(x))
	case bool:
		return fmt.Sprintf("%v", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	default:
		return "null"
	}
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// localOnly are the fields a ConfigMap may not set: they weaken security
// or name files on the machine that runs ocisrc.
var localOnly = map[string]bool{
	"tls.insecureSkipVerify": true, "plainHTTP": true, "tls.caFile": true, "tls.certFile": true, "tls.keyFile": true,
	"verify.cosign.keyless.trustedRootFile": true,
}

func (d *Document) validate(src Source) error {
	fail := func(path, format string, a ...any) error {
		return &Error{Source: src, Path: path, Reason: fmt.Sprintf(format, a...)}
	}
	if d.APIVersion != APIVersion {
		return fail("apiVersion", "must be %s, got %+q", APIVersion, d.APIVersion)
	}
	if d.Kind != Kind {
		return fail("kind", "must be %s, got %+q", Kind, d.Kind)
	}
	configMap := src.Kind == SourceConfigMap
	if configMap && d.AllowUnboundSystemSecrets {
		return fail("allowUnboundSystemSecrets", localOnlyReason)
	}
	seen := map[place.Place]int{}
	for i := range d.Registries {
		r := &d.Registries[i]
		at := fmt.Sprintf("registries[%d]", i)
		prefix, err := ParsePrefix(r.Prefix)
		if err != nil {
			return fail(at+".prefix", "%s", err)
		}
		if j, dup := seen[prefix]; dup {
			return fail(at+".prefix", "%+q is also the prefix of registries[%d] (both are %s): each prefix appears once", r.Prefix, j, prefix)
		}
		seen[prefix] = i
		r.prefix, r.Prefix = prefix, prefix.String()
		if configMap {
			set := map[string]bool{"plainHTTP": r.PlainHTTP}
			if r.TLS != nil {
				set["tls.insecureSkipVerify"] = r.TLS.InsecureSkipVerify
				set["tls.caFile"] = r.TLS.CAFile != ""
				set["tls.certFile"] = r.TLS.CertFile != ""
				set["tls.keyFile"] = r.TLS.KeyFile != ""
			}
			for _, f := range []string{"tls.insecureSkipVerify", "plainHTTP", "tls.caFile", "tls.certFile", "tls.keyFile"} {
				if set[f] && localOnly[f] {
					return fail(at+"."+f, localOnlyReason)
				}
			}
		}
		switch r.Origin {
		case "", OriginFallback, OriginNever:
		default:
			return fail(at+".origin", "must be %s or %s, got %+q", OriginFallback, OriginNever, r.Origin)
		}
		blocked := r.Blocked != nil && *r.Blocked
		if r.Origin == OriginNever && len(r.Mirrors) == 0 && !blocked {
			return fail(at+".origin", "is never, but the prefix has no mirrors: nothing could serve it (use blocked: true to refuse it)")
		}
		if blocked && (len(r.Mirrors) > 0 || r.Origin != "") {
			return fail(at+".blocked", "a blocked prefix has no mirrors and no origin setting: nothing under it is pulled")
		}
		if t := r.TLS; t != nil {
			if t.CA != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(t.CA)) {
				return fail(at+".tls.ca", "holds no PEM certificate")
			}
			if (t.CertFile == "") != (t.KeyFile == "") {
				return fail(at+".tls", "certFile and keyFile must be given together")
			}
		}
		if v := r.Verify; v != nil {
			if err := validateVerify(v, at+".verify"); err != nil {
				return &Error{Source: src, Path: err.path, Reason: err.reason}
			}
			if configMap && v.Cosign != nil && v.Cosign.Keyless != nil && v.Cosign.Keyless.TrustedRootFile != "" {
				return fail(at+".verify.cosign.keyless.trustedRootFile", localOnlyReason+" (use trustedRoot or configMapRef)")
			}
			if configMap && v.Provenance != nil && v.Provenance.Keyless != nil && v.Provenance.Keyless.TrustedRootFile != "" {
				return fail(at+".verify.provenance.keyless.trustedRootFile", localOnlyReason+" (use trustedRoot or configMapRef)")
			}
		}
		mirrors := map[place.Place]bool{}
		for j := range r.Mirrors {
			m := &r.Mirrors[j]
			mat := fmt.Sprintf("%s.mirrors[%d]", at, j)
			loc, err := ParsePrefix(m.Location)
			if err != nil {
				return fail(mat+".location", "%s", err)
			}
			if loc == prefix {
				return fail(mat+".location", "is the prefix itself (%s): a mirror is another place", loc)
			}
			if mirrors[loc] {
				return fail(mat+".location", "%+q is listed twice (as %s)", m.Location, loc)
			}
			mirrors[loc] = true
			m.location, m.Location = loc, loc.String()
			if m.SecretRef != nil && !validName(m.SecretRef.Name) {
				return fail(mat+".secretRef.name", "must be a Secret name (lower-case letters, digits, '-' and '.'), got %+q", m.SecretRef.Name)
			}
		}
	}
	return nil
}

func validateVerify(v *Verify, at string) *shapeError {
	if !v.signs() && !v.attests() {
		return &shapeError{at, "names no provider: expected cosign, helm, notation and/or provenance"}
	}
	if c := v.Cosign; c != nil {
		if err := validateSigners(c.Keys, c.SecretRef, c.Keyless, at+".cosign"); err != nil {
			return err
		}
	}
	if p := v.Provenance; p != nil {
		pat := at + ".provenance"
		if err := validateSigners(p.Keys, p.SecretRef, p.Keyless, pat); err != nil {
			return err
		}
		req := p.Requirement()
		if t := req.Type(); t != attestation.SLSAProvenanceV1 && t != attestation.SLSAProvenanceV02 {
			return &shapeError{pat + ".predicateType", fmt.Sprintf("must be %s (the default) or %s, got %+q", attestation.SLSAProvenanceV1, attestation.SLSAProvenanceV02, t)}
		}
		for _, f := range []struct {
			name string
			m    attestation.Match
		}{{"builderID", req.Builder}, {"sourceRepository", req.Repository}, {"sourceRef", req.Ref}} {
			if f.m.Exact != "" && f.m.RegExp != "" {
				return &shapeError{pat + "." + f.name, fmt.Sprintf("give %s or %sRegExp, not both", f.name, f.name)}
			}
			if err := f.m.Check(); err != nil {
				return &shapeError{pat + "." + f.name + "RegExp", err.Error()}
			}
		}
		if req.Repository.IsZero() {
			return &shapeError{pat + ".sourceRepository", "is required (or sourceRepositoryRegExp): provenance from any repository proves nothing"}
		}
	}
	if h := v.Helm; h != nil {
		if h.Keyring == "" && h.SecretRef == nil {
			return &shapeError{at + ".helm", "needs a keyring or a secretRef"}
		}
		if h.Keyring != "" {
			var ring trust.Keyring
			if err := ring.Add([]byte(h.Keyring), "the keyring"); err != nil {
				return &shapeError{at + ".helm.keyring", err.Error()}
			}
		}
		if h.SecretRef != nil && !validName(h.SecretRef.Name) {
			return &shapeError{at + ".helm.secretRef.name", fmt.Sprintf("must be a Secret name, got %+q", h.SecretRef.Name)}
		}
	}
	if n := v.Notation; n != nil {
		if len(n.TrustStore) == 0 && n.SecretRef == nil {
			return &shapeError{at + ".notation", "needs a trustStore or a secretRef"}
		}
		for i, pemData := range n.TrustStore {
			var t trust.NotationTrust
			if err := t.AddCertificates([]byte(pemData), "the certificate"); err != nil {
				return &shapeError{fmt.Sprintf("%s.notation.trustStore[%d]", at, i), err.Error()}
			}
		}
		if n.SecretRef != nil && !validName(n.SecretRef.Name) {
			return &shapeError{at + ".notation.secretRef.name", fmt.Sprintf("must be a Secret name, got %+q", n.SecretRef.Name)}
		}
		if len(n.Identities) == 0 {
			return &shapeError{at + ".notation.identities", `is required: expected ["x509.subject: C=…, ST=…, O=…, CN=…"] or ["*"]`}
		}
		for i, id := range n.Identities {
			if err := trust.CheckNotationIdentity(id); err != nil {
				return &shapeError{fmt.Sprintf("%s.notation.identities[%d]", at, i), err.Error()}
			}
		}
	}
	return nil
}

// validateSigners checks who may sign (cosign's, or an attestation's):
// keys, a Secret of them, keyless identities.
func validateSigners(keys []string, secret *SecretRef, keyless *KeylessVerify, at string) *shapeError {
	if len(keys) == 0 && secret == nil && keyless == nil {
		return &shapeError{at, "needs keys, a secretRef or keyless"}
	}
	for i, k := range keys {
		if _, err := trust.ParsePublicKey([]byte(k), "the key"); err != nil {
			return &shapeError{fmt.Sprintf("%s.keys[%d]", at, i), err.Error()}
		}
	}
	if secret != nil && !validName(secret.Name) {
		return &shapeError{at + ".secretRef.name", fmt.Sprintf("must be a Secret name, got %+q", secret.Name)}
	}
	k := keyless
	if k == nil {
		return nil
	}
	kat := at + ".keyless"
	if len(k.Identities) == 0 {
		return &shapeError{kat + ".identities", "is required: expected [{issuer or issuerRegExp, subject or subjectRegExp}]"}
	}
	for i, id := range k.Identities {
		if err := id.Check(); err != nil {
			return &shapeError{fmt.Sprintf("%s.identities[%d]", kat, i), err.Error()}
		}
	}
	sources := 0
	for _, set := range []bool{k.TrustedRoot != "", k.TrustedRootFile != "", k.ConfigMapRef != nil} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return &shapeError{kat, "give at most one of trustedRoot, trustedRootFile and configMapRef (none: the public Sigstore instance)"}
	}
	if k.TrustedRoot != "" {
		if _, err := trust.ParseTrustedRoot([]byte(k.TrustedRoot), "the trusted root"); err != nil {
			return &shapeError{kat + ".trustedRoot", err.Error()}
		}
	}
	if k.ConfigMapRef != nil && !validName(k.ConfigMapRef.Name) {
		return &shapeError{kat + ".configMapRef.name", fmt.Sprintf("must be a ConfigMap name, got %+q", k.ConfigMapRef.Name)}
	}
	return nil
}

// validName is a Kubernetes object name (RFC 1123 subdomain).
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !pathSegmentName.MatchString(label) {
			return false
		}
	}
	return true
}

var pathSegmentName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// ParsePrefix checks a prefix or a mirror location — host[:port][/path],
// without a scheme, a tag or a digest — and returns its canonical place
// (pkg/place): the host as it is dialled, the path as written.
func ParsePrefix(s string) (place.Place, error) {
	if s == "" {
		return place.Place{}, errors.New("is required: expected host[:port][/path], for example registry.example.com/charts")
	}
	p, err := place.ParsePlace(s)
	if err != nil {
		var pe *place.LocationError
		if errors.As(err, &pe) {
			return place.Place{}, errors.New(pe.Error())
		}
		return place.Place{}, err
	}
	return p, nil
}

// Loaded is a document ready to be matched: its files read, and where it
// came from.
type Loaded struct {
	Doc    *Document
	Source Source
	// per registries[i]: PEM read from caFile, certFile and keyFile.
	files []fileMaterial
}

type fileMaterial struct {
	ca, cert, key []byte
	// trustedRoot is verify.cosign.keyless.trustedRootFile, read;
	// provenanceRoot verify.provenance.keyless.trustedRootFile.
	trustedRoot, provenanceRoot []byte
}

// Load decodes a document and, for a local file, reads the files it names
// (relative to the file's directory) and checks them.
func Load(data []byte, src Source) (*Loaded, error) {
	doc, err := Decode(data, src)
	if err != nil {
		return nil, err
	}
	l := &Loaded{Doc: doc, Source: src, files: make([]fileMaterial, len(doc.Registries))}
	dir := ""
	if src.Kind == SourceFile {
		dir = filepath.Dir(src.Name)
	}
	read := func(path, p string) ([]byte, error) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, &Error{Source: src, Path: path, Reason: fmt.Sprintf("cannot read %q: %v", p, errors.Unwrap(err))}
		}
		return b, nil
	}
	for i, r := range doc.Registries {
		if v := r.Verify; v != nil && v.Cosign != nil && v.Cosign.Keyless != nil && v.Cosign.Keyless.TrustedRootFile != "" {
			path := fmt.Sprintf("registries[%d].verify.cosign.keyless.trustedRootFile", i)
			b, err := read(path, v.Cosign.Keyless.TrustedRootFile)
			if err != nil {
				return nil, err
			}
			if _, err := trust.ParseTrustedRoot(b, fmt.Sprintf("%q", v.Cosign.Keyless.TrustedRootFile)); err != nil {
				return nil, &Error{Source: src, Path: path, Reason: err.Error()}
			}
			l.files[i].trustedRoot = b
		}
		if v := r.Verify; v != nil && v.Provenance != nil && v.Provenance.Keyless != nil && v.Provenance.Keyless.TrustedRootFile != "" {
			path := fmt.Sprintf("registries[%d].verify.provenance.keyless.trustedRootFile", i)
			b, err := read(path, v.Provenance.Keyless.TrustedRootFile)
			if err != nil {
				return nil, err
			}
			if _, err := trust.ParseTrustedRoot(b, fmt.Sprintf("%q", v.Provenance.Keyless.TrustedRootFile)); err != nil {
				return nil, &Error{Source: src, Path: path, Reason: err.Error()}
			}
			l.files[i].provenanceRoot = b
		}
		if r.TLS == nil {
			continue
		}
		at := fmt.Sprintf("registries[%d].tls", i)
		if r.TLS.CAFile != "" {
			b, err := read(at+".caFile", r.TLS.CAFile)
			if err != nil {
				return nil, err
			}
			if !x509.NewCertPool().AppendCertsFromPEM(b) {
				return nil, &Error{Source: src, Path: at + ".caFile", Reason: fmt.Sprintf("%q holds no PEM certificate", r.TLS.CAFile)}
			}
			l.files[i].ca = b
		}
		if r.TLS.CertFile != "" {
			cert, err := read(at+".certFile", r.TLS.CertFile)
			if err != nil {
				return nil, err
			}
			key, err := read(at+".keyFile", r.TLS.KeyFile)
			if err != nil {
				return nil, err
			}
			if _, err := tls.X509KeyPair(cert, key); err != nil {
				return nil, &Error{Source: src, Path: at, Reason: "certFile and keyFile are not a matching PEM certificate and key"}
			}
			l.files[i].cert, l.files[i].key = cert, key
		}
	}
	return l, nil
}
