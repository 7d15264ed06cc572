package trust

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Identity is who a keyless (Fulcio) certificate must name: the OIDC
// issuer (its certificate extension) and the subject (the certificate's
// SAN), each exact or a regular expression, anchored at both ends as
// Flux's matchOIDCIdentity anchors them.
type Identity struct {
	Issuer        string `json:"issuer,omitempty"`
	IssuerRegExp  string `json:"issuerRegExp,omitempty"`
	Subject       string `json:"subject,omitempty"`
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
}

// String is the identity as messages show it.
func (id Identity) String() string {
	issuer, subject := id.Issuer, id.Subject
	if id.IssuerRegExp != "" {
		issuer = "~" + id.IssuerRegExp
	}
	if id.SubjectRegExp != "" {
		subject = "~" + id.SubjectRegExp
	}
	return issuer + " " + subject
}

// Check validates an identity: one of issuer and issuerRegExp, one of
// subject and subjectRegExp, regular expressions that compile.
func (id Identity) Check() error {
	if (id.Issuer == "") == (id.IssuerRegExp == "") {
		return errors.New("needs exactly one of issuer and issuerRegExp")
	}
	if (id.Subject == "") == (id.SubjectRegExp == "") {
		return errors.New("needs exactly one of subject and subjectRegExp")
	}
	for _, re := range []string{id.IssuerRegExp, id.SubjectRegExp} {
		if re == "" {
			continue
		}
		// Compiled on its own first: an expression that only compiles once
		// wrapped as ^(?:…)$ (…/.*)|(.* ) escapes its anchors.
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("has a regular expression that is not valid by itself: %s", strconv.QuoteToASCII(re))
		}
		if _, err := regexp.Compile(anchor(re)); err != nil {
			return fmt.Errorf("has a regular expression that does not compile: %s", strconv.QuoteToASCII(re))
		}
	}
	return nil
}

// ParseIdentity reads --verify-identity ISSUER=SUBJECT_REGEXP.
func ParseIdentity(s string) (Identity, error) {
	issuer, subject, ok := strings.Cut(s, "=")
	if !ok || issuer == "" || subject == "" {
		return Identity{}, fmt.Errorf("%s: expected ISSUER=SUBJECT_REGEXP (the subject is matched whole), for example https://token.actions.githubusercontent.com=https://github.com/ORG/REPO/\\.github/workflows/.+@refs/heads/main", strconv.QuoteToASCII(s))
	}
	id := Identity{Issuer: issuer, SubjectRegExp: subject}
	if err := id.Check(); err != nil {
		return Identity{}, fmt.Errorf("%s %w", strconv.QuoteToASCII(s), err)
	}
	return id, nil
}

func anchor(re string) string { return "^(?:" + re + ")$" }

func (id Identity) certificateIdentity() (verify.CertificateIdentity, error) {
	issuerRE, subjectRE := "", ""
	if id.IssuerRegExp != "" {
		issuerRE = anchor(id.IssuerRegExp)
	}
	if id.SubjectRegExp != "" {
		subjectRE = anchor(id.SubjectRegExp)
	}
	return verify.NewShortCertificateIdentity(id.Issuer, issuerRE, id.Subject, subjectRE)
}

// TrustedRoot is Sigstore trust material: Fulcio CAs, Rekor and CT logs,
// timestamp authorities (Sigstore's trusted_root.json).
type TrustedRoot struct {
	material root.TrustedMaterial
	// From says where it came from.
	From string
	// hasCTs and hasLogs say whether it lists CT logs (a certificate must
	// then carry an SCT) and Rekor logs (a signature must then be logged).
	hasCTs, hasLogs bool
}

// MaxTrustedRoot bounds a trusted_root.json.
const MaxTrustedRoot = 1 << 20

// ParseTrustedRoot reads a trusted_root.json.
func ParseTrustedRoot(data []byte, from string) (*TrustedRoot, error) {
	if len(data) > MaxTrustedRoot {
		return nil, fmt.Errorf("%s is larger than %d bytes", from, MaxTrustedRoot)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s is not a Sigstore trusted root (trusted_root.json): %s", from, strconv.QuoteToASCII(trimErr(err)))
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, fmt.Errorf("%s names no Fulcio certificate authority", from)
	}
	return &TrustedRoot{material: tr, From: from, hasCTs: len(tr.CTLogs()) > 0, hasLogs: len(tr.RekorLogs()) > 0}, nil
}

// PublicTrustedRoot is the public Sigstore instance's trusted root, through
// its TUF repository, cached in cacheDir. With offline, or when the
// repository cannot be reached, the cached copy is used; with nothing
// cached it is an error. Every request is bound to ctx (--timeout, Ctrl-C)
// and goes through the environment's proxy, as any HTTPS request of ocisrc.
func PublicTrustedRoot(ctx context.Context, cacheDir string, offline bool) (*TrustedRoot, error) {
	opts := func() *tuf.Options {
		o := tuf.DefaultOptions().WithCachePath(cacheDir).WithContext(ctx)
		o.Fetcher = tufFetcher{ctx: ctx}
		return o
	}
	var tr *root.TrustedRoot
	var err error
	if !offline {
		tr, err = root.FetchTrustedRootWithOptions(opts())
	}
	if offline || err != nil {
		tr, err = root.FetchTrustedRootWithOptions(opts().WithForceCache())
	}
	if err != nil {
		if offline {
			return nil, fmt.Errorf("--offline: the public Sigstore instance's trusted root is not cached in %s", cacheDir)
		}
		return nil, fmt.Errorf("the public Sigstore instance's trusted root cannot be read: its TUF repository (%s) cannot be reached and nothing is cached in %s", tuf.DefaultMirror, cacheDir)
	}
	return &TrustedRoot{material: tr, From: "the public Sigstore instance (TUF)", hasCTs: len(tr.CTLogs()) > 0, hasLogs: len(tr.RekorLogs()) > 0}, nil
}

// tufFetcher downloads TUF metadata with ctx.
type tufFetcher struct{ ctx context.Context }

func (f tufFetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: res.StatusCode, URL: url}
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxLength+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is larger than %d bytes", url, maxLength)}
	}
	return data, nil
}

// KeylessResult is who signed: the certificate's issuer and subject.
type KeylessResult struct {
	Issuer, Subject string
	// Fingerprint is the SHA-256 of the signing certificate.
	Fingerprint string
}

// IsKeyless reports whether a bundle is signed with a certificate.
func IsKeyless(data []byte) bool {
	b, err := parseBundle(data)
	return err == nil && b.keyless()
}

// VerifyKeyless verifies a Sigstore bundle signed with a Fulcio certificate
// for digest, with the reference verifier (sigstore-go): the certificate
// chains to a Fulcio CA of one of roots, it carries an SCT when that root
// lists CT logs, it was valid at a signed time (a Rekor entry's integrated
// time or an RFC 3161 timestamp the root trusts), its issuer and subject
// match one of identities, and it signs digest — with cosign's signing
// predicate (an attestation is not a signature), or a message signature.
func VerifyKeyless(data []byte, roots []*TrustedRoot, ids []Identity, digest string) (KeylessResult, error) {
	if len(roots) == 0 || len(ids) == 0 {
		return KeylessResult{}, &Failure{Kind: ErrNoTrustedKey}
	}
	b, err := parseBundle(data)
	if err != nil {
		return KeylessResult{}, err
	}
	if !b.keyless() {
		return KeylessResult{}, fail(ErrUntrustedKey, "a keyed signature: trust its key with verify.cosign.keys or --verify-key")
	}
	// cosign's own rules first: a signature, of this digest.
	if env := b.DSSEEnvelope; env != nil {
		payload, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			return KeylessResult{}, fail(ErrMalformed, "the DSSE payload is not base64")
		}
		var st statement
		if json.Unmarshal(payload, &st) != nil || !inTotoStatementTypes[st.Type] {
			return KeylessResult{}, fail(ErrMalformed, "the signed statement is not an in-toto statement")
		}
		if st.PredicateType != SignPredicateType {
			return KeylessResult{}, fail(ErrNotSignature, "predicate type %s", strconv.QuoteToASCII(st.PredicateType))
		}
	}
	var sb sgbundle.Bundle
	if err := sb.UnmarshalJSON(data); err != nil {
		return KeylessResult{}, fail(ErrMalformed, "the bundle cannot be read: %s", strconv.QuoteToASCII(trimErr(err)))
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(digest, "sha256:"))
	if err != nil {
		return KeylessResult{}, fail(ErrMalformed, "the digest %s", strconv.QuoteToASCII(digest))
	}
	return verifyKeylessEntity(&sb, roots, ids, verify.WithArtifactDigest("sha256", raw))
}

// verifyKeylessEntity verifies a signed entity (a Sigstore bundle, or a
// legacy layer adapted into one) with sigstore-go, against one of roots,
// for one of ids, over artifact.
func verifyKeylessEntity(sb *sgbundle.Bundle, roots []*TrustedRoot, ids []Identity, artifact verify.ArtifactPolicyOption) (KeylessResult, error) {
	var policy []verify.PolicyOption
	for _, id := range ids {
		ci, err := id.certificateIdentity()
		if err != nil {
			return KeylessResult{}, fail(ErrMalformed, "the identity %s: %s", strconv.QuoteToASCII(id.String()), strconv.QuoteToASCII(err.Error()))
		}
		policy = append(policy, verify.WithCertificateIdentity(ci))
	}
	var last error
	for _, tr := range roots {
		// A signed time: an RFC 3161 timestamp or, where the root lists
		// Rekor logs, the log entry's integrated time — and then, as cosign
		// requires by default, a verified entry in one of those logs.
		opts := []verify.VerifierOption{verify.WithObserverTimestamps(1)}
		if tr.hasLogs {
			opts = append(opts, verify.WithTransparencyLog(1))
		}
		if tr.hasCTs {
			opts = append(opts, verify.WithSignedCertificateTimestamps(1))
		}
		v, err := verify.NewVerifier(tr.material, opts...)
		if err != nil {
			last = err
			continue
		}
		res, err := v.Verify(sb, verify.NewPolicy(artifact, policy...))
		if err != nil {
			last = err
			continue
		}
		out := KeylessResult{}
		if res.Signature != nil && res.Signature.Certificate != nil {
			out.Issuer, out.Subject = res.Signature.Certificate.Issuer, res.Signature.Certificate.SubjectAlternativeName
		}
		if vc, err := sb.VerificationContent(); err == nil && vc.Certificate() != nil {
			sum := sha256Hex(vc.Certificate().Raw)
			out.Fingerprint = "SHA256:" + sum
		}
		return out, nil
	}
	// sigstore-go checks the log before the certificate: a certificate
	// of another CA, logged in another log, would read as unlogged. The
	// more fundamental reason is said first.
	if vc, err := sb.VerificationContent(); err == nil && vc.Certificate() != nil && !chainsToRoot(vc.Certificate(), roots) {
		return KeylessResult{}, fail(ErrUntrustedKey, "the certificate does not chain to a Fulcio CA of the trusted root (issued by %s)", strconv.QuoteToASCII(vc.Certificate().Issuer.String()))
	}
	return KeylessResult{}, keylessFailure(last)
}

// chainsToRoot reports whether cert chains to a Fulcio CA of one of
// roots at the start of its validity, with sigstore-go's own check.
func chainsToRoot(cert *x509.Certificate, roots []*TrustedRoot) bool {
	for _, tr := range roots {
		if _, err := verify.VerifyLeafCertificate(cert.NotBefore, cert, tr.material); err == nil {
			return true
		}
	}
	return false
}

// keylessFailure says in one phrase why sigstore-go refused a bundle. Its
// errors name the step that failed ("failed to verify …"); the kind follows
// the step, and sigstore-go's own words follow, quoted.
func keylessFailure(err error) error {
	if err == nil {
		return &Failure{Kind: ErrUntrustedKey}
	}
	msg := trimErr(err)
	q := strconv.QuoteToASCII(msg)
	has := func(s string) bool { return strings.Contains(msg, s) }
	switch {
	case has("failed to verify certificate identity"):
		return fail(ErrUntrustedIdentity, "%s", q)
	case has("failed to verify signed certificate timestamp"):
		return fail(ErrUntrustedKey, "the certificate carries no SCT from a CT log of the trusted root: %s", q)
	case has("outside certificate validity"):
		return fail(ErrNoSignedTime, "the certificate was not valid when the signature was logged or timestamped: %s", q)
	case has("failed to verify log inclusion"):
		return fail(ErrUntrustedKey, "not logged in a Rekor log of the trusted root: %s", q)
	case has("failed to verify timestamps") && has("verification failure"):
		return fail(ErrUntrustedKey, "timestamped by an authority the trusted root does not list: %s", q)
	case has("failed to verify timestamps"):
		return fail(ErrNoSignedTime, "%s", q)
	case has("artifact digest") || has("does not match any digest"):
		return fail(ErrOtherDigest, "%s", q)
	case has("failed to verify signing certificate") || has("certificate chain") || has("x509:"):
		return fail(ErrUntrustedKey, "the certificate does not chain to a Fulcio CA of the trusted root: %s", q)
	}
	return fail(ErrBadSignature, "%s", q)
}

// Keyless failure kinds.
var (
	ErrUntrustedIdentity = errors.New("signed by an identity that is not trusted")
	ErrNoSignedTime      = errors.New("no signed time at which the certificate was valid")
	ErrNoLogEntry        = errors.New("no transparency log entry")
)

func trimErr(err error) string {
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

// Annotations of cosign's legacy layers (a .sig or .att tag's), beside the
// signature: a keyless signature's certificate, its chain (a hint, never a
// trust anchor: the trusted root's CAs are), and the Rekor entry that
// logged it with Rekor's signed entry timestamp.
const (
	CertificateAnnotation = "dev.sigstore.cosign/certificate"
	ChainAnnotation       = "dev.sigstore.cosign/chain"
	RekorBundleAnnotation = "dev.sigstore.cosign/bundle"
)

// rekorBundle is the bundle annotation: Rekor's signed entry timestamp
// (SET) and the entry it signs.
type rekorBundle struct {
	SignedEntryTimestamp string `json:"SignedEntryTimestamp"`
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	} `json:"Payload"`
}

// legacyEntity adapts a legacy keyless layer into the bundle sigstore-go
// verifies (v0.1: the certificate and the Rekor entry with its inclusion
// promise): its leaf certificate only, so that the chain is built from the
// trusted root's CAs; content is the signature, a message signature over
// the payload or a DSSE envelope.
func legacyEntity(certPEM, rekorJSON string, content func(*protobundle.Bundle)) (*sgbundle.Bundle, error) {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fail(ErrMalformed, "the certificate annotation holds no PEM certificate")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fail(ErrMalformed, "the certificate annotation holds a certificate that cannot be read")
	}
	if rekorJSON == "" {
		return nil, fail(ErrNoLogEntry, "the layer has no %s annotation", RekorBundleAnnotation)
	}
	var rb rekorBundle
	if len(rekorJSON) > MaxPayload || json.Unmarshal([]byte(rekorJSON), &rb) != nil {
		return nil, fail(ErrMalformed, "the %s annotation is not Rekor's bundle", RekorBundleAnnotation)
	}
	set, err1 := base64.StdEncoding.DecodeString(rb.SignedEntryTimestamp)
	body, err2 := base64.StdEncoding.DecodeString(rb.Payload.Body)
	logID, err3 := hex.DecodeString(rb.Payload.LogID)
	if err1 != nil || err2 != nil || err3 != nil || len(set) == 0 || len(body) == 0 {
		return nil, fail(ErrMalformed, "the %s annotation's entry cannot be read", RekorBundleAnnotation)
	}
	var kind struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if json.Unmarshal(body, &kind) != nil || kind.Kind == "" {
		return nil, fail(ErrMalformed, "the Rekor entry's body names no kind")
	}
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{
				Certificates: []*protocommon.X509Certificate{{RawBytes: block.Bytes}}}},
			TlogEntries: []*protorekor.TransparencyLogEntry{{
				LogIndex:          rb.Payload.LogIndex,
				LogId:             &protocommon.LogId{KeyId: logID},
				KindVersion:       &protorekor.KindVersion{Kind: kind.Kind, Version: kind.APIVersion},
				IntegratedTime:    rb.Payload.IntegratedTime,
				InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: set},
				CanonicalizedBody: body,
			}},
		},
	}
	content(pb)
	b, err := sgbundle.NewBundle(pb)
	if err != nil {
		return nil, fail(ErrMalformed, "the legacy signature cannot be read as a bundle: %s", strconv.QuoteToASCII(trimErr(err)))
	}
	return b, nil
}

// IsLegacyKeyless reports whether a .sig layer is signed with a
// certificate (keyless) rather than a key.
func (s SimpleSigning) IsLegacyKeyless() bool { return s.Certificate != "" }

// VerifyLegacyKeyless verifies a keyless signature in cosign's legacy
// form — a .sig tag's simple-signing layer with its certificate and Rekor
// bundle annotations, what cosign v2 writes — with the same guarantees as
// a Sigstore bundle (VerifyKeyless), through sigstore-go: the certificate
// chains to a Fulcio CA of one of roots (the chain annotation is ignored),
// names one of ids, carries an SCT when the root lists CT logs, and was
// valid at the Rekor entry's integrated time; the entry is verified with
// the root's Rekor key and must be this signature's, over this payload,
// with this certificate; and the payload signs digest.
func VerifyLegacyKeyless(s SimpleSigning, roots []*TrustedRoot, ids []Identity, digest string) (KeylessResult, error) {
	if len(roots) == 0 || len(ids) == 0 {
		return KeylessResult{}, &Failure{Kind: ErrNoTrustedKey}
	}
	if len(s.Payload) > MaxPayload {
		return KeylessResult{}, fail(ErrMalformed, "a payload of %d bytes", len(s.Payload))
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || len(sig) == 0 {
		return KeylessResult{}, fail(ErrMalformed, "the signature annotation is not base64")
	}
	if err := checkSimpleSigningPayload(s.Payload, digest); err != nil {
		return KeylessResult{}, err
	}
	sum := sha256.Sum256(s.Payload)
	sb, err := legacyEntity(s.Certificate, s.Bundle, func(pb *protobundle.Bundle) {
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]},
			Signature:     sig,
		}}
	})
	if err != nil {
		return KeylessResult{}, err
	}
	return verifyKeylessEntity(sb, roots, ids, verify.WithArtifact(bytes.NewReader(s.Payload)))
}
