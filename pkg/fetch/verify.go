package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/ocisrc/ocisrc/pkg/attestation"
	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/policy"
	"github.com/ocisrc/ocisrc/pkg/trust"
)

// KeyData is key material and where it came from (a flag's file).
type KeyData struct {
	Data []byte
	From string
}

// requirement is what a Component's chart must be signed with: one valid
// signature for the exact digest, by any of these keys, identities or
// certificates, suffices.
type requirement struct {
	cosign []trust.Key
	helm   *trust.Keyring
	// keyless are keyless cosign's trust sets: each a document's (or the
	// flags') trusted roots and identities; one must accept the signature.
	keyless []keylessTrust
	// notation are Notation's trust sets: each a document's (or the flags')
	// trust store and identities.
	notation []trust.NotationTrust
	// why says which documents or flags ask for a signature.
	why []string
	// provenance are the provenance requirements: each must be met by an
	// attestation, apart from any signature requirement.
	provenance []provenanceRule
}

// signs reports whether req requires a signature.
func (req *requirement) signs() bool {
	return len(req.cosign) > 0 || req.helm.Len() > 0 || len(req.keyless) > 0 || len(req.notation) > 0
}

// provenanceRule is one provenance requirement: what the attestation must
// say, who may sign it, and which document or flag asks for it.
type provenanceRule struct {
	want    attestation.Requirement
	signers trust.Signers
	from    string
}

// ProvenanceFlag is --require-provenance SOURCE_REPOSITORY[@REF].
type ProvenanceFlag struct {
	Repository, Ref string
}

// GitHubIssuer is GitHub Actions' OIDC issuer: the signer --require-provenance
// trusts where no policy rule names one.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// ParseProvenanceFlag reads --require-provenance: a repository URL, and a
// ref after its last "@".
func ParseProvenanceFlag(s string) (*ProvenanceFlag, error) {
	repo, ref := s, ""
	if i := strings.LastIndex(s, "@"); i > strings.Index(s, "://") && strings.Contains(s, "://") {
		repo, ref = s[:i], s[i+1:]
	}
	scheme, rest, ok := strings.Cut(repo, "://")
	if !ok || scheme == "" || rest == "" || strings.ContainsAny(repo, " \t\n") || (strings.Contains(s, "@") && ref == "") {
		return nil, fmt.Errorf("--require-provenance %s: expected SOURCE_REPOSITORY[@REF], the repository as the provenance names it, for example https://github.com/ORG/REPO@refs/heads/main", strconv.QuoteToASCII(s))
	}
	return &ProvenanceFlag{Repository: repo, Ref: ref}, nil
}

// keylessTrust is the trusted roots and identities of keyless signatures.
type keylessTrust struct {
	roots []*trust.TrustedRoot
	ids   []trust.Identity
}

// secretKeys caches the keys read from Secrets of the system namespace.
type secretKeys struct {
	mu   sync.Mutex
	done map[string]secretKeysResult
}

type secretKeysResult struct {
	cosign []trust.Key
	ring   []KeyData
	certs  []KeyData
	err    error
}

// builtRequirement is a requirement built once per run for the Components
// whose policy rules are the same.
type builtRequirement struct {
	once sync.Once
	req  *requirement
	err  error
}

// requirementFor is the signature requirement of r: the registry policy's
// verify (a union of the local file's and the cluster's) and the run's
// --verify-key, --keyring, --verify-identity and --notation-cert. nil when
// no signature is required. It is built once per run for every Component
// under the same policy rules: keys parsed, trusted roots and Secrets read
// once, not once per Component.
func (f *Fetcher) requirementFor(ctx context.Context, r *Resolution) (*requirement, error) {
	v, _ := f.requirements.LoadOrStore(r.Settings.Verify.Rules, &builtRequirement{})
	b := v.(*builtRequirement)
	b.once.Do(func() { b.req, b.err = f.buildRequirement(ctx, r.Settings.Verify) })
	return b.req, b.err
}

func (f *Fetcher) buildRequirement(ctx context.Context, st policy.VerifySettings) (*requirement, error) {
	signs := st.Required || len(f.CosignKeys) > 0 || len(f.Keyrings) > 0 || len(f.Identities) > 0 || len(f.NotationCerts) > 0
	attests := len(st.Provenance) > 0 || f.RequireProvenance != nil
	if !signs && !attests {
		return nil, nil
	}
	req := &requirement{helm: &trust.Keyring{}}
	if signs {
		if err := f.signatureFor(ctx, st, req); err != nil {
			return nil, err
		}
	}
	if attests {
		if err := f.provenanceFor(ctx, st, req); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// provenanceFor adds to req the provenance requirements: one per document
// (its builder, source and signers), and, for --require-provenance, the
// flag's source with each document's builder and signers — or, where no
// document sets one, any builder, signed through the public Sigstore
// instance by a GitHub Actions workflow of that repository (as
// `gh attestation verify --repo` checks).
func (f *Fetcher) provenanceFor(ctx context.Context, st policy.VerifySettings, req *requirement) error {
	for _, src := range st.Provenance {
		rule := provenanceRule{want: src.Requirement(), from: src.From}
		for _, k := range src.Keys {
			key, err := trust.ParsePublicKey(k.Data, "a provenance key of the "+k.From)
			if err != nil {
				return clierror.Invalid(err)
			}
			rule.signers.Keys = append(rule.signers.Keys, key)
		}
		if src.Secret != "" {
			got := f.keysFromSecret(ctx, src.Secret, src.From)
			if got.err != nil {
				return got.err
			}
			if len(got.cosign) == 0 {
				return clierror.Invalid(fmt.Errorf("secret %q, which the %s names for verify.provenance, has no *.pub key", f.SystemNamespace+"/"+src.Secret, src.From))
			}
			rule.signers.Keys = append(rule.signers.Keys, got.cosign...)
		}
		if k := src.Keyless; k != nil {
			tr, err := f.keylessRoot(ctx, *k)
			if err != nil {
				return err
			}
			kt := trust.KeylessTrust{IDs: k.Identities}
			if tr != nil {
				kt.Roots = []*trust.TrustedRoot{tr}
			}
			rule.signers.Keyless = append(rule.signers.Keyless, kt)
		}
		req.provenance = append(req.provenance, rule)
	}
	flag := f.RequireProvenance
	if flag == nil {
		return nil
	}
	source := func(r attestation.Requirement) attestation.Requirement {
		r.Repository = attestation.Match{Exact: flag.Repository}
		r.Ref = attestation.Match{Exact: flag.Ref}
		return r
	}
	if n := len(req.provenance); n > 0 {
		for _, rule := range req.provenance[:n] {
			req.provenance = append(req.provenance, provenanceRule{want: source(rule.want), signers: rule.signers, from: "--require-provenance (signers and builder of the " + rule.from + ")"})
		}
		return nil
	}
	tr, err := f.publicRoot(ctx)
	if err != nil {
		return err
	}
	kt := trust.KeylessTrust{IDs: []trust.Identity{{Issuer: GitHubIssuer, SubjectRegExp: regexp.QuoteMeta(flag.Repository) + "/.+"}}}
	if tr != nil {
		kt.Roots = []*trust.TrustedRoot{tr}
	}
	req.provenance = append(req.provenance, provenanceRule{want: source(attestation.Requirement{}), signers: trust.Signers{Keyless: []trust.KeylessTrust{kt}}, from: "--require-provenance"})
	return nil
}

// signatureFor adds to req the signature requirement: the documents' and
// the flags' keys, keyrings, identities and certificates.
func (f *Fetcher) signatureFor(ctx context.Context, st policy.VerifySettings, req *requirement) error {
	req.why = append(req.why, st.RequiredBy...)
	req.cosign = append(req.cosign, f.CosignKeys...)
	for _, k := range f.Keyrings {
		if err := req.helm.Add(k.Data, k.From); err != nil {
			return clierror.Invalid(err)
		}
	}
	if len(f.CosignKeys) > 0 {
		req.why = append(req.why, "--verify-key")
	}
	if len(f.Keyrings) > 0 {
		req.why = append(req.why, "--keyring")
	}
	for _, k := range st.CosignKeys {
		key, err := trust.ParsePublicKey(k.Data, "a cosign key of the "+k.From)
		if err != nil {
			return clierror.Invalid(err)
		}
		req.cosign = append(req.cosign, key)
	}
	for _, k := range st.HelmKeyrings {
		if err := req.helm.Add(k.Data, "the keyring of the "+k.From); err != nil {
			return clierror.Invalid(err)
		}
	}
	for _, s := range st.CosignSecrets {
		got := f.keysFromSecret(ctx, s.Secret, s.From)
		if got.err != nil {
			return got.err
		}
		if len(got.cosign) == 0 {
			return clierror.Invalid(fmt.Errorf("secret %q, which the %s names for verify.cosign, has no *.pub key", f.SystemNamespace+"/"+s.Secret, s.From))
		}
		req.cosign = append(req.cosign, got.cosign...)
	}
	for _, s := range st.HelmSecrets {
		got := f.keysFromSecret(ctx, s.Secret, s.From)
		if got.err != nil {
			return got.err
		}
		if len(got.ring) == 0 {
			return clierror.Invalid(fmt.Errorf("secret %q, which the %s names for verify.helm, has no pubring.gpg or *.asc key", f.SystemNamespace+"/"+s.Secret, s.From))
		}
		for _, k := range got.ring {
			if err := req.helm.Add(k.Data, k.From); err != nil {
				return clierror.Invalid(err)
			}
		}
	}
	if err := f.keylessFor(ctx, st, req); err != nil {
		return err
	}
	if err := f.notationFor(ctx, st, req); err != nil {
		return err
	}
	if !req.signs() {
		return clierror.Invalid(fmt.Errorf("a signature is required (%s), but no key, identity or certificate is configured", strings.Join(req.why, ", ")))
	}
	return nil
}

// keylessFor adds to req the keyless trust sets: one per document (its
// identities, with its trusted root: inline, a local file, a ConfigMap of
// the system namespace, or the public Sigstore instance), and one for
// --verify-identity (its identities with the policy's trusted roots when it
// names any, else the public instance's). A document's identities are
// never combined with another document's root.
func (f *Fetcher) keylessFor(ctx context.Context, st policy.VerifySettings, req *requirement) error {
	var roots []*trust.TrustedRoot
	for _, src := range st.Keyless {
		tr, err := f.keylessRoot(ctx, src)
		if err != nil {
			return err
		}
		if tr == nil { // a dry run: the public instance is not read
			req.keyless = append(req.keyless, keylessTrust{ids: src.Identities})
			continue
		}
		roots = append(roots, tr)
		req.keyless = append(req.keyless, keylessTrust{roots: []*trust.TrustedRoot{tr}, ids: src.Identities})
	}
	if len(f.Identities) > 0 {
		req.why = append(req.why, "--verify-identity")
		if len(roots) == 0 {
			tr, err := f.publicRoot(ctx)
			if err != nil {
				return err
			}
			if tr != nil {
				roots = append(roots, tr)
			}
		}
		req.keyless = append(req.keyless, keylessTrust{roots: roots, ids: f.Identities})
	}
	return nil
}

// keylessRoot is a document's trusted root for keyless signers: inline, a
// local file, a ConfigMap of the system namespace, or the public Sigstore
// instance's (nil in a dry run).
func (f *Fetcher) keylessRoot(ctx context.Context, src policy.KeylessSource) (*trust.TrustedRoot, error) {
	switch {
	case src.RootJSON != nil:
		tr, err := trust.ParseTrustedRoot(src.RootJSON, "the trusted root of the "+src.From)
		if err != nil {
			return nil, clierror.Invalid(err)
		}
		return tr, nil
	case src.ConfigMap != "":
		return f.trustedRootFromConfigMap(ctx, src)
	}
	return f.publicRoot(ctx)
}

// publicRoot is the public Sigstore instance's trusted root, read once per
// run. A dry run has no way to read it (PublicRoot is nil: it contacts
// nothing, through TUF or otherwise): its requirement is built without it.
func (f *Fetcher) publicRoot(ctx context.Context) (*trust.TrustedRoot, error) {
	f.publicOnce.Do(func() {
		if f.PublicRoot == nil {
			if !f.DryRun {
				f.publicErr = errors.New("the public Sigstore instance's trusted root cannot be read in this run")
			}
			return
		}
		f.public, f.publicErr = f.PublicRoot(ctx)
		if f.publicErr != nil {
			f.publicErr = clierror.WithHint(f.publicErr,
				"give the Sigstore instance's trusted_root.json in the registry policy (verify.cosign.keyless.trustedRoot, trustedRootFile or configMapRef), or run once where tuf-repo-cdn.sigstore.dev can be reached")
		}
	})
	return f.public, f.publicErr
}

// trustedRootFromConfigMap reads a keyless trusted root from a ConfigMap
// of the system namespace.
func (f *Fetcher) trustedRootFromConfigMap(ctx context.Context, src policy.KeylessSource) (*trust.TrustedRoot, error) {
	name := f.SystemNamespace + "/" + src.ConfigMap
	if f.ConfigMaps == nil {
		return nil, clierror.Invalid(fmt.Errorf("the %s names ConfigMap %q for a trusted root, but no cluster is read", src.From, name))
	}
	data, err := f.ConfigMaps.GetConfigMapKey(ctx, f.SystemNamespace, src.ConfigMap, src.MapKey)
	if err != nil {
		return nil, clierror.WithHint(fmt.Errorf("reading the trusted root in ConfigMap %q (key %s), which the %s names: %w", name, src.MapKey, src.From, err),
			fmt.Sprintf("create it, or ask for \"get\" on configmap %s in namespace %q", src.ConfigMap, f.SystemNamespace))
	}
	tr, err := trust.ParseTrustedRoot(data, fmt.Sprintf("ConfigMap %s key %s", name, src.MapKey))
	if err != nil {
		return nil, clierror.Invalid(err)
	}
	return tr, nil
}

// notationFor adds to req the Notation trust sets: one per document (its
// trust store certificates, inline and every *.crt and *.pem of its Secret,
// with its identities), and one for --notation-cert (those certificates,
// for any identity they sign for: the user named them).
func (f *Fetcher) notationFor(ctx context.Context, st policy.VerifySettings, req *requirement) error {
	for _, src := range st.Notation {
		n := trust.NotationTrust{Identities: src.Identities}
		for _, c := range src.Certs {
			if err := n.AddCertificates(c, "a trust store certificate of the "+src.From); err != nil {
				return clierror.Invalid(err)
			}
		}
		if src.Secret != "" {
			got := f.keysFromSecret(ctx, src.Secret, src.From)
			if got.err != nil {
				return got.err
			}
			if len(got.certs) == 0 {
				return clierror.Invalid(fmt.Errorf("secret %q, which the %s names for verify.notation, has no *.crt or *.pem key", f.SystemNamespace+"/"+src.Secret, src.From))
			}
			for _, c := range got.certs {
				if err := n.AddCertificates(c.Data, c.From); err != nil {
					return clierror.Invalid(err)
				}
			}
		}
		req.notation = append(req.notation, n)
	}
	if len(f.NotationCerts) > 0 {
		n := trust.NotationTrust{Identities: []string{"*"}}
		for _, c := range f.NotationCerts {
			if err := n.AddCertificates(c.Data, c.From); err != nil {
				return clierror.Invalid(err)
			}
		}
		req.why = append(req.why, "--notation-cert")
		req.notation = append(req.notation, n)
	}
	return nil
}

// keysFromSecret reads the keys of a Secret in the system namespace, once
// per run: cosign's *.pub keys, and Helm's pubring.gpg and *.asc.
func (f *Fetcher) keysFromSecret(ctx context.Context, name, from string) secretKeysResult {
	f.keys.mu.Lock()
	defer f.keys.mu.Unlock()
	if f.keys.done == nil {
		f.keys.done = map[string]secretKeysResult{}
	}
	if got, ok := f.keys.done[name]; ok {
		return got
	}
	ref := f.SystemNamespace + "/" + name
	var res secretKeysResult
	s, err := f.Secrets.GetSecret(ctx, f.SystemNamespace, name)
	switch {
	case apierrors.IsNotFound(err):
		res.err = clierror.WithHint(fmt.Errorf("secret %q, which the %s names for signature keys, not found", ref, from), "create it, or fix verify.*.secretRef in the registry policy")
	case apierrors.IsForbidden(err):
		res.err = clierror.WithHint(fmt.Errorf("reading secret %q, which the %s names for signature keys: forbidden: your identity cannot get secrets in namespace %q", ref, from, f.SystemNamespace),
			fmt.Sprintf("ask your cluster admin for \"get\" on secret %s in namespace %q: the chart's signature cannot be checked without its keys", name, f.SystemNamespace))
	case err != nil:
		res.err = fmt.Errorf("reading secret %q (signature keys): %w", ref, err)
	case s.Type != "" && s.Type != "Opaque":
		res.err = clierror.Invalid(fmt.Errorf("secret %q, which holds signature keys, is of type %+q: expected Opaque", ref, string(s.Type)))
	default:
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	keys:
		for _, k := range keys {
			from := fmt.Sprintf("secret %s key %s", ref, k)
			switch {
			case strings.HasSuffix(k, ".pub"):
				key, err := trust.ParsePublicKey(s.Data[k], from)
				if err != nil {
					res.err = clierror.Invalid(err)
					break keys
				}
				res.cosign = append(res.cosign, key)
			case k == "pubring.gpg" || strings.HasSuffix(k, ".asc"):
				res.ring = append(res.ring, KeyData{Data: s.Data[k], From: from})
			case strings.HasSuffix(k, ".crt") || strings.HasSuffix(k, ".pem"):
				res.certs = append(res.certs, KeyData{Data: s.Data[k], From: from})
			}
		}
	}
	f.keys.done[name] = res
	return res
}

// verifyStored checks the material the cache kept against what is
// required now: a signature (when one is required) and every provenance
// requirement.
func verifyStored(ctx context.Context, req *requirement, m trust.Material, prov []byte, sub chartSubject) ([]cache.Verification, bool) {
	var vs []cache.Verification
	if req.signs() {
		v, _, _ := verifySignatures(ctx, req, m, prov, sub)
		if len(v) == 0 {
			return nil, false
		}
		vs = v
	}
	if len(req.provenance) > 0 {
		pv, _, reasons := verifyProvenance(req, m.Attestations, sub)
		if reasons != nil {
			return nil, false
		}
		vs = append(vs, pv...)
	}
	return vs, true
}

// sources says which documents and flags require what req requires.
func (req *requirement) sources() []string {
	out := append([]string(nil), req.why...)
	for _, r := range req.provenance {
		out = append(out, r.from)
	}
	return out
}

// verifyProvenance checks attestations — as a registry served them, or as
// the cache kept them — against each provenance requirement: one must be
// signed by the requirement's signers, for this digest, and say what it
// requires. It returns a verification per requirement and the attestations
// that met them; or, when one is not met, why (one reason per requirement
// not met: the refusal of the attestation that came closest).
func verifyProvenance(req *requirement, atts []trust.Attestation, sub chartSubject) ([]cache.Verification, []trust.Attestation, []string) {
	var vs []cache.Verification
	var used []trust.Attestation
	var reasons []string
	for _, rule := range req.provenance {
		why, close := trust.ErrNoAttestation.Error(), false
		met := false
		for _, a := range atts {
			if a.IsSignature() {
				continue
			}
			got, err := trust.VerifyAttestation(a, rule.signers, sub.digest)
			if err != nil {
				if !close {
					why = err.Error()
				}
				continue
			}
			st, err := attestation.Parse(got.Statement)
			var p attestation.Provenance
			if err == nil {
				p, err = rule.want.Accept(st, sub.digest)
			}
			if err != nil {
				// Signed by whom the rule trusts, but saying something
				// else: the most telling refusal.
				why, close = err.Error(), true
				continue
			}
			v := cache.Verification{Provider: trust.ProviderProvenance, Key: got.Key, Issuer: got.Issuer, Subject: got.Subject, Builder: p.Builder, Source: p.Source()}
			if !slices.Contains(vs, v) {
				vs = append(vs, v)
			}
			if !slices.ContainsFunc(used, a.Equal) {
				used = append(used, a)
			}
			met = true
			break
		}
		if !met {
			reasons = append(reasons, fmt.Sprintf("%s (required by %s): %s", rule.want.String(), rule.from, why))
		}
	}
	if reasons != nil {
		return nil, nil, reasons
	}
	return vs, used, nil
}

// UnprovenError is a chart without the provenance a requirement asks for:
// refused by policy (exit 2), with each requirement not met and why.
type UnprovenError struct {
	Ref, Digest string
	Reasons     []string
}

// Reason is the failure's reason for programs.
func (e *UnprovenError) Reason() string { return ReasonNoProvenance }

func (e *UnprovenError) Error() string {
	return fmt.Sprintf("refused: %s has no provenance attestation that meets the requirement: %s", withDigest(e.Ref, e.Digest), strings.Join(e.Reasons, "; "))
}

func unproven(ref chartref.Reference, digest string, reasons []string) error {
	return clierror.InvalidWithHint(&UnprovenError{Ref: ref.String(), Digest: digest, Reasons: reasons},
		"the chart's publisher attests how it was built (cosign attest --type slsaprovenance1, or GitHub's attest-build-provenance with push-to-registry); check what is required with: ocisrc policy explain "+ref.String())
}

// UnsignedError is a chart that has no valid signature where one is
// required: refused by policy (exit 2), with each provider tried and why.
type UnsignedError struct {
	Ref, Digest string
	// Reasons are "provider: why", one per provider tried.
	Reasons []string
	Why     []string
}

// Reason is the failure's reason for programs.
func (e *UnsignedError) Reason() string { return ReasonUnsigned }

func (e *UnsignedError) Error() string {
	return fmt.Sprintf("refused: %s has no valid signature (required by %s): %s", withDigest(e.Ref, e.Digest), strings.Join(e.Why, ", "), strings.Join(e.Reasons, "; "))
}

// withDigest is a reference and the digest it was pulled at, the digest once:
// oci://…:1.2.3 (sha256:…), or oci://…@sha256:… when the reference names it.
func withDigest(ref, digest string) string {
	if digest == "" || strings.HasSuffix(ref, "@"+digest) {
		return ref
	}
	return ref + " (" + digest + ")"
}

func unsigned(ref chartref.Reference, digest string, req *requirement, reasons []string) error {
	hint := fmt.Sprintf("a signature by a trusted key, identity or certificate is required: sign the chart (cosign sign, notation sign, or helm package --sign), or check what is trusted with: ocisrc policy explain %s", ref.String())
	if fromFlagsOnly(req.why) {
		hint = "a signature by a trusted key, identity or certificate is required by " + strings.Join(req.why, " and ") + ": sign the chart, or check the key, identity or certificate you gave"
	}
	return clierror.InvalidWithHint(&UnsignedError{Ref: ref.String(), Digest: digest, Reasons: reasons, Why: req.why}, hint)
}

// fromFlagsOnly reports whether every requirement came from flags.
func fromFlagsOnly(why []string) bool {
	for _, w := range why {
		if !strings.HasPrefix(w, "--") {
			return false
		}
	}
	return len(why) > 0
}

// verifyAt checks the chart's signatures for digest at place p: cosign
// (the legacy .sig, then Sigstore bundles, keyed or keyless), Notation,
// then the .prov. The first valid one wins; it is returned with the
// material it was read from, which the cache keeps. A registry that fails
// is a runtime error; no valid signature is an *UnsignedError (refused,
// exit 2).
func (f *Fetcher) verifyAt(ctx context.Context, req *requirement, p *site, sub chartSubject, prov []byte) ([]cache.Verification, trust.Material, error) {
	var vs []cache.Verification
	var used trust.Material
	if req.signs() {
		v, m, err := f.signaturesAt(ctx, req, p, sub, prov)
		if err != nil {
			return nil, trust.Material{}, err
		}
		vs, used = v, m
	}
	if len(req.provenance) > 0 {
		atts, err := f.Puller.Attestations(ctx, p.ref, sub.digest, p.auth)
		if err != nil {
			return nil, trust.Material{}, err
		}
		pv, pa, reasons := verifyProvenance(req, atts, sub)
		if reasons != nil {
			return nil, trust.Material{}, unproven(p.ref, sub.digest, reasons)
		}
		vs, used.Attestations = append(vs, pv...), pa
	}
	return vs, used, nil
}

// signaturesAt checks the chart's signatures at place p (see verifyAt).
func (f *Fetcher) signaturesAt(ctx context.Context, req *requirement, p *site, sub chartSubject, prov []byte) ([]cache.Verification, trust.Material, error) {
	var m trust.Material
	if len(req.cosign) > 0 || len(req.keyless) > 0 {
		// The legacy .sig tag: keyed, or keyless (what cosign v2 writes).
		sigs, err := f.Puller.CosignSignatures(ctx, p.ref, sub.digest, p.auth)
		if err != nil {
			return nil, m, err
		}
		m.Cosign = sigs
		if vs, used, _ := verifySignatures(ctx, req, trust.Material{Cosign: sigs}, nil, sub); len(vs) > 0 {
			return vs, used, nil
		}
	}
	if len(req.cosign) > 0 || len(req.keyless) > 0 {
		bundles, err := f.Puller.SigstoreBundles(ctx, p.ref, sub.digest, p.auth)
		if err != nil {
			return nil, m, err
		}
		m.Bundles = bundles
	}
	if len(req.notation) > 0 {
		sigs, err := f.Puller.NotationSignatures(ctx, p.ref, sub.digest, p.auth)
		if err != nil {
			return nil, m, err
		}
		m.Notation = sigs
	}
	vs, used, reasons := verifySignatures(ctx, req, m, prov, sub)
	if len(vs) > 0 {
		return vs, used, nil
	}
	return nil, trust.Material{}, unsigned(p.ref, sub.digest, req, reasons)
}

// chartSubject is what a signature must sign: the chart's manifest (its
// digest, size and media type, at a repository) and, for Helm provenance,
// the archive's name, version and digest.
type chartSubject struct {
	repository, digest, mediaType string
	size                          int64
	name, version, archiveDigest  string
}

// subjectOf describes a chart for verification from its manifest.
func subjectOf(repository string, manifest []byte, digest, name, version, archiveDigest string) chartSubject {
	var m struct {
		MediaType string `json:"mediaType"`
	}
	_ = json.Unmarshal(manifest, &m)
	mt := m.MediaType
	if mt == "" {
		mt = "application/vnd.oci.image.manifest.v1+json"
	}
	return chartSubject{repository: repository, digest: digest, mediaType: mt, size: int64(len(manifest)), name: name, version: version, archiveDigest: archiveDigest}
}

// verifySignatures checks signature material — as a registry served it, or
// as the cache kept it — against what is trusted now: cosign signatures
// and bundles (keyed, then keyless), Notation envelopes, then the .prov.
// It returns what verified and the material that did (nothing else is
// kept), or why nothing did, one reason per provider, in one vocabulary.
func verifySignatures(ctx context.Context, req *requirement, m trust.Material, prov []byte, sub chartSubject) ([]cache.Verification, trust.Material, []string) {
	var reasons []string
	if len(req.cosign) > 0 || len(req.keyless) > 0 {
		why := ""
		for _, s := range m.Cosign {
			if s.IsLegacyKeyless() {
				if len(req.keyless) == 0 {
					why = "a keyless signature (.sig), and no identity is trusted (verify.cosign.keyless, --verify-identity)"
					continue
				}
				for _, k := range req.keyless {
					res, err := trust.VerifyLegacyKeyless(s, k.roots, k.ids, sub.digest)
					if err == nil {
						return []cache.Verification{{Provider: trust.ProviderCosign, Key: res.Fingerprint, Issuer: res.Issuer, Subject: res.Subject}}, trust.Material{Cosign: []trust.SimpleSigning{s}}, nil
					}
					why = err.Error()
				}
				continue
			}
			if len(req.cosign) == 0 {
				why = "a keyed signature (.sig), and no cosign key is trusted"
				continue
			}
			key, err := trust.VerifySimpleSigning(s, req.cosign, sub.digest)
			if err == nil {
				return []cache.Verification{{Provider: trust.ProviderCosign, Key: key.Fingerprint}}, trust.Material{Cosign: []trust.SimpleSigning{s}}, nil
			}
			why = err.Error()
		}
		for _, b := range m.Bundles {
			if trust.IsKeyless(b) {
				if len(req.keyless) == 0 {
					why = "a keyless signature, and no identity is trusted (verify.cosign.keyless, --verify-identity)"
					continue
				}
				for _, k := range req.keyless {
					res, err := trust.VerifyKeyless(b, k.roots, k.ids, sub.digest)
					if err == nil {
						return []cache.Verification{{Provider: trust.ProviderCosign, Key: res.Fingerprint, Issuer: res.Issuer, Subject: res.Subject}}, trust.Material{Bundles: [][]byte{b}}, nil
					}
					why = err.Error()
				}
				continue
			}
			if len(req.cosign) == 0 {
				why = "a keyed signature, and no cosign key is trusted"
				continue
			}
			key, err := trust.VerifyBundle(b, req.cosign, sub.digest)
			if err == nil {
				return []cache.Verification{{Provider: trust.ProviderCosign, Key: key.Fingerprint}}, trust.Material{Bundles: [][]byte{b}}, nil
			}
			why = err.Error()
		}
		if why == "" {
			why = trust.ErrNoSignature.Error()
		}
		reasons = append(reasons, "cosign: "+why)
	}
	if len(req.notation) > 0 {
		why := trust.ErrNoSignature.Error()
		for _, s := range m.Notation {
			for _, n := range req.notation {
				res, err := trust.VerifyNotation(ctx, s, n, trust.Subject{Repository: sub.repository, Digest: sub.digest, Size: sub.size, MediaType: sub.mediaType})
				if err == nil {
					return []cache.Verification{{Provider: trust.ProviderNotation, Key: res.Fingerprint, Subject: res.Subject}}, trust.Material{Notation: []trust.NotationSignature{s}}, nil
				}
				why = err.Error()
			}
		}
		reasons = append(reasons, "notation: "+why)
	}
	if req.helm.Len() > 0 {
		pv, err := trust.VerifyProvenance(prov, req.helm, sub.name, sub.version, sub.archiveDigest)
		if err == nil {
			return []cache.Verification{{Provider: trust.ProviderHelm, Key: pv.Key}}, trust.Material{}, nil
		}
		why := err.Error()
		if errors.Is(err, trust.ErrNoSignature) {
			why = trust.ErrNoSignature.Error() + " (no .prov layer in the chart's manifest)"
		}
		reasons = append(reasons, "helm: "+why)
	}
	return nil, trust.Material{}, reasons
}

// trusted serves a cached chart under a signature requirement only when its
// stored signature material (or its .prov) verifies again, now, against
// what is trusted now — never because a record says it was verified — or
// when it verifies at the first place that answers (the material is then
// kept). With --offline, a chart whose stored material does not verify is
// refused.
func (f *Fetcher) trusted(ctx context.Context, r *Resolution, pinned chartref.Reference, got *obtained) (*obtained, error) {
	req := r.trust
	if req == nil {
		return got, nil
	}
	e := got.entry
	digest := e.ManifestDigest
	prov := f.Store.Prov(e)
	manifest, _ := f.Store.Blobs(e)
	sub := subjectOf(pinned.Repo(), manifest, digest, e.Chart, e.Version, e.ChartDigest)
	if vs, ok := verifyStored(ctx, req, f.Store.Material(e), prov, sub); ok {
		got.verified = vs
		return got, nil
	}
	if f.Offline {
		what := "signature that verifies with what is trusted now"
		if !req.signs() {
			what = "provenance attestation that meets what is required now"
		}
		return nil, clierror.InvalidWithHint(
			fmt.Errorf("refused: --offline: the cached chart %s has no stored %s (%s), and it cannot be fetched offline",
				withDigest(r.Ref.String(), digest), what, strings.Join(req.sources(), ", ")),
			"run once without --offline to verify it at the registry")
	}
	var refusal error
	for _, p := range f.sites(r, pinned) {
		if err := f.ready(ctx, r, p); err != nil {
			continue
		}
		sub.repository = p.ref.Repo()
		vs, m, err := f.verifyAt(ctx, req, p, sub, prov)
		if err == nil {
			if updated, err := f.Store.Update(e, nil, m, vs); err != nil {
				f.warn(fmt.Sprintf("could not record the signatures of %s in the cache: %v", digest, err))
			} else {
				got.entry = updated
				f.remember(updated, got.path)
			}
			got.verified = vs
			return got, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		refusal = err
	}
	if refusal == nil {
		refusal = unsigned(pinned, digest, req, []string{"no place could be asked for signatures"})
	}
	return nil, refusal
}
