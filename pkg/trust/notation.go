package trust

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Notation signatures, as notation sign stores them: OCI 1.1 referrers of
// the chart's manifest with this artifact type, one envelope layer each.
const (
	NotationArtifactType = "application/vnd.cncf.notary.signature"
	NotationJWS          = "application/jose+json"
	NotationCOSE         = "application/cose"
	// ProviderNotation names Notation in verified output.
	ProviderNotation = "notation"
)

// NotationSignature is one Notation signature envelope and its media type.
type NotationSignature struct {
	MediaType string `json:"mediaType"`
	Envelope  []byte `json:"envelope"`
}

// NotationTrust is what Notation signatures are verified against: trust
// store certificates (CAs or signing certificates, PEM) and the trusted
// identities ("x509.subject: C=…, ST=…, O=…, CN=…", or "*").
type NotationTrust struct {
	Certs      []*x509.Certificate
	Identities []string
	// From says where the certificates came from.
	From []string
}

// AddCertificates reads PEM certificates into t.
func (t *NotationTrust) AddCertificates(data []byte, from string) error {
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("%s holds a certificate that cannot be read", from)
		}
		t.Certs = append(t.Certs, c)
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s holds no PEM certificate", from)
	}
	t.From = append(t.From, from)
	return nil
}

// CheckNotationIdentity validates a trusted identity as Notation does.
func CheckNotationIdentity(id string) error {
	doc := notationPolicy([]string{id})
	if err := doc.Validate(); err != nil {
		return fmt.Errorf("%s is not a Notation trusted identity: %s", strconv.QuoteToASCII(id), strconv.QuoteToASCII(trimErr(err)))
	}
	return nil
}

// notationPolicy is the in-memory trust policy: every registry scope (the
// place was chosen by ocisrc's own policy), signature verification level
// strict with revocation not checked (ocisrc makes no OCSP or CRL request:
// a revoked certificate is removed from the trust store instead), the one
// trust store "ca:ocisrc", the identities. The trust store is a CA store
// only: a signature of the signing-authority scheme, whose signing time is
// the signer's own word, has no store to verify against and is refused, as
// notation verify refuses it with a ca: store.
func notationPolicy(ids []string) *trustpolicy.Document {
	return &trustpolicy.Document{
		Version: "1.0",
		TrustPolicies: []trustpolicy.TrustPolicy{{
			Name:           "ocisrc",
			RegistryScopes: []string{"*"},
			SignatureVerification: trustpolicy.SignatureVerification{
				VerificationLevel: trustpolicy.LevelStrict.Name,
				Override:          map[trustpolicy.ValidationType]trustpolicy.ValidationAction{trustpolicy.TypeRevocation: trustpolicy.ActionSkip},
			},
			TrustStores:       []string{"ca:ocisrc"},
			TrustedIdentities: ids,
		}},
	}
}

// memoryTrustStore is the CA trust store "ocisrc", in memory.
type memoryTrustStore struct{ certs []*x509.Certificate }

func (m memoryTrustStore) GetCertificates(_ context.Context, storeType truststore.Type, name string) ([]*x509.Certificate, error) {
	if name != "ocisrc" || storeType != truststore.TypeCA {
		return nil, fmt.Errorf("no trust store %s:%s", storeType, name)
	}
	return m.certs, nil
}

// Subject is what a Notation signature must sign: the chart manifest's
// descriptor (digest, size and media type) at a repository.
type Subject struct {
	Repository string
	Digest     string
	Size       int64
	MediaType  string
}

// NotationResult is who signed: the signing certificate's subject and
// fingerprint.
type NotationResult struct {
	Subject, Fingerprint string
}

// VerifyNotation verifies one Notation envelope of subj with notation-go's
// verifier, against an in-memory trust policy and trust store: integrity,
// authenticity (the chain ends in a certificate of the trust store), the
// trusted identity, expiry, and that the envelope's target is this exact
// manifest (a signature copied from another chart is refused).
func VerifyNotation(ctx context.Context, sig NotationSignature, t NotationTrust, subj Subject) (NotationResult, error) {
	if len(t.Certs) == 0 {
		return NotationResult{}, &Failure{Kind: ErrNoTrustedKey}
	}
	if len(sig.Envelope) > MaxPayload {
		return NotationResult{}, fail(ErrMalformed, "an envelope of %d bytes", len(sig.Envelope))
	}
	if sig.MediaType != NotationJWS && sig.MediaType != NotationCOSE {
		return NotationResult{}, fail(ErrMalformed, "an envelope of type %s", strconv.QuoteToASCII(sig.MediaType))
	}
	ids := t.Identities
	if len(ids) == 0 {
		ids = []string{"*"}
	}
	v, err := verifier.New(notationPolicy(ids), memoryTrustStore{certs: t.Certs}, nil)
	if err != nil {
		return NotationResult{}, fail(ErrMalformed, "the trust policy: %s", strconv.QuoteToASCII(trimErr(err)))
	}
	d, err := digest.Parse(subj.Digest)
	if err != nil {
		return NotationResult{}, fail(ErrMalformed, "the digest %s", strconv.QuoteToASCII(subj.Digest))
	}
	desc := ocispec.Descriptor{MediaType: subj.MediaType, Digest: d, Size: subj.Size}
	outcome, err := v.Verify(ctx, desc, sig.Envelope, notation.VerifierVerifyOptions{
		ArtifactReference:  subj.Repository + "@" + subj.Digest,
		SignatureMediaType: sig.MediaType,
	})
	if err != nil {
		return NotationResult{}, notationFailure(err)
	}
	out := NotationResult{}
	if outcome != nil && outcome.EnvelopeContent != nil && len(outcome.EnvelopeContent.SignerInfo.CertificateChain) > 0 {
		leaf := outcome.EnvelopeContent.SignerInfo.CertificateChain[0]
		out.Subject = leaf.Subject.String()
		out.Fingerprint = "SHA256:" + sha256Hex(leaf.Raw)
	}
	return out, nil
}

// notationFailure says in one phrase why notation-go refused an envelope.
func notationFailure(err error) error {
	msg := trimErr(err)
	var authenticity notation.VerificationInconclusiveError
	switch {
	case strings.Contains(msg, "content descriptor mismatch"):
		return fail(ErrOtherDigest, "the envelope signs another manifest")
	case strings.Contains(msg, "trusted identit") || strings.Contains(msg, "identity"):
		return fail(ErrUntrustedIdentity, "%s", strconv.QuoteToASCII(msg))
	case strings.Contains(msg, "authenticity") || strings.Contains(msg, "trust store") || strings.Contains(msg, "certificate chain"):
		return fail(ErrUntrustedKey, "%s", strconv.QuoteToASCII(msg))
	case errors.As(err, &authenticity):
		return fail(ErrUntrustedKey, "%s", strconv.QuoteToASCII(msg))
	}
	return fail(ErrBadSignature, "%s", strconv.QuoteToASCII(msg))
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
