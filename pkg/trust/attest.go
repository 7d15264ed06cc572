package trust

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// ProviderProvenance names a provenance attestation in verifications.
const ProviderProvenance = "provenance"

// InTotoPayloadType is the DSSE payload type of an in-toto statement.
const InTotoPayloadType = "application/vnd.in-toto+json"

// DSSEMediaType is the media type of a legacy .att layer: a DSSE envelope.
const DSSEMediaType = "application/vnd.dsse.envelope.v1+json"

// Attestation failure kinds.
var (
	// ErrNoAttestation is no attestation found for a digest.
	ErrNoAttestation = errors.New("no attestation found")
	// ErrUnsigned is a statement in an envelope without a signature.
	ErrUnsigned = errors.New("an unsigned statement")
	// ErrAttestsOther is an attestation whose subject is another digest.
	ErrAttestsOther = errors.New("an attestation of another digest")
)

// Attestation is an in-toto attestation as a registry served it: a
// Sigstore bundle (an OCI referrer), or a DSSE envelope from a layer of
// cosign's legacy .att tag with that layer's annotations (a keyless one's
// certificate, chain and Rekor bundle). It is untrusted until verified.
type Attestation struct {
	Bundle      []byte `json:"bundle,omitempty"`
	Envelope    []byte `json:"envelope,omitempty"`
	Certificate string `json:"certificate,omitempty"`
	Chain       string `json:"chain,omitempty"`
	RekorBundle string `json:"rekorBundle,omitempty"`
}

// Size is the bytes a holds.
func (a Attestation) Size() int {
	return len(a.Bundle) + len(a.Envelope) + len(a.Certificate) + len(a.Chain) + len(a.RekorBundle)
}

// Equal reports whether a and b are the same attestation.
func (a Attestation) Equal(b Attestation) bool {
	return string(a.Bundle) == string(b.Bundle) && string(a.Envelope) == string(b.Envelope) &&
		a.Certificate == b.Certificate && a.RekorBundle == b.RekorBundle
}

// Signers are who may sign an attestation: cosign keys, or keyless
// identities with their trusted roots.
type Signers struct {
	Keys    []Key
	Keyless []KeylessTrust
}

// KeylessTrust is trusted roots and the identities they certify.
type KeylessTrust struct {
	Roots []*TrustedRoot
	IDs   []Identity
}

// Attested is a verified attestation: the statement it signs (to be read
// and checked by the caller), and who signed it.
type Attested struct {
	Statement []byte
	// Key is the key's fingerprint, or the signing certificate's.
	Key string
	// Issuer and Subject are a keyless signer's identity.
	Issuer, Subject string
}

// dsseEnvelope is a DSSE envelope as JSON.
type dsseEnvelope struct {
	PayloadType string `json:"payloadType"`
	Payload     string `json:"payload"`
	Signatures  []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

// VerifyAttestation verifies that a is an in-toto statement signed by one
// of signers and naming digest (the chart manifest's) as a subject: keyed
// DSSE over the statement with one of the keys, or keyless with the same
// checks as a keyless signature (sigstore-go: the certificate chains to a
// trusted root's Fulcio CA and names a trusted identity, an SCT where the
// root lists CT logs, a verified log entry for this envelope, a signed
// time within the certificate's validity). It returns the statement; its
// predicate is the caller's to check.
func VerifyAttestation(a Attestation, s Signers, digest string) (Attested, error) {
	if len(s.Keys) == 0 && len(s.Keyless) == 0 {
		return Attested{}, &Failure{Kind: ErrNoTrustedKey}
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(digest, "sha256:"))
	if err != nil {
		return Attested{}, fail(ErrMalformed, "the digest %s", strconv.QuoteToASCII(digest))
	}
	if a.Bundle != nil {
		return verifyAttestationBundle(a.Bundle, s, raw)
	}
	if len(a.Envelope) > MaxPayload {
		return Attested{}, fail(ErrMalformed, "an envelope of %d bytes", len(a.Envelope))
	}
	var env dsseEnvelope
	if json.Unmarshal(a.Envelope, &env) != nil {
		return Attested{}, fail(ErrMalformed, "the .att layer is not a DSSE envelope")
	}
	payload, err := env.statement()
	if err != nil {
		return Attested{}, err
	}
	if a.Certificate != "" {
		if len(s.Keyless) == 0 {
			return Attested{}, fail(ErrUntrustedKey, "a keyless attestation (a certificate, no key), and no identity is trusted")
		}
		pe := &protodsse.Envelope{Payload: payload, PayloadType: env.PayloadType}
		for _, sig := range env.Signatures {
			b, err := base64.StdEncoding.DecodeString(sig.Sig)
			if err != nil {
				return Attested{}, fail(ErrMalformed, "a DSSE signature is not base64")
			}
			pe.Signatures = append(pe.Signatures, &protodsse.Signature{Sig: b, Keyid: sig.KeyID})
		}
		sb, err := legacyEntity(a.Certificate, a.RekorBundle, func(pb *protobundle.Bundle) {
			pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: pe}
		})
		if err != nil {
			return Attested{}, err
		}
		return verifyKeylessAttestation(sb, s.Keyless, raw, payload)
	}
	return verifyKeyedAttestation(&env, payload, s.Keys, raw)
}

// statement is the envelope's payload when it is a signed in-toto statement.
func (env *dsseEnvelope) statement() ([]byte, error) {
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fail(ErrMalformed, "the DSSE payload is not base64")
	}
	if env.PayloadType != InTotoPayloadType {
		return nil, fail(ErrMalformed, "the DSSE payload type is %s", strconv.QuoteToASCII(env.PayloadType))
	}
	if len(env.Signatures) == 0 {
		return nil, &Failure{Kind: ErrUnsigned}
	}
	return payload, nil
}

// verifyKeyedAttestation verifies the envelope's signatures over payload
// with the trusted keys.
func verifyKeyedAttestation(env *dsseEnvelope, payload []byte, keys []Key, digest []byte) (Attested, error) {
	if len(keys) == 0 {
		return Attested{}, fail(ErrUntrustedKey, "a keyed attestation, and no key is trusted")
	}
	pae := dssePAE(env.PayloadType, payload)
	for _, sig := range env.Signatures {
		raw, err := base64.StdEncoding.DecodeString(sig.Sig)
		if err != nil {
			continue
		}
		for _, k := range keys {
			if k.verify(pae, raw) {
				return attestedBy(payload, k, digest)
			}
		}
	}
	return Attested{}, &Failure{Kind: ErrUntrustedKey}
}

// IsSignature reports whether a is cosign's signature rather than an
// attestation: a statement of cosign's signing predicate (cosign v3 signs
// as it attests). It reads the payload unverified: what it says can only
// make the attestation be skipped.
func (a Attestation) IsSignature() bool {
	data := a.Envelope
	if a.Bundle != nil {
		b, err := parseBundle(a.Bundle)
		if err != nil || b.DSSEEnvelope == nil {
			return b.MessageSignature != nil
		}
		payload, err := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload)
		return err == nil && predicateOf(payload) == SignPredicateType
	}
	var env dsseEnvelope
	if json.Unmarshal(data, &env) != nil {
		return false
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	return err == nil && predicateOf(payload) == SignPredicateType
}

func predicateOf(payload []byte) string {
	var st statement
	_ = json.Unmarshal(payload, &st)
	return st.PredicateType
}

// attestedBy is a statement a key signed, once it names the digest.
func attestedBy(payload []byte, k Key, digest []byte) (Attested, error) {
	if err := namesDigest(payload, digest); err != nil {
		return Attested{}, err
	}
	return Attested{Statement: payload, Key: k.Fingerprint}, nil
}

// namesDigest checks that an in-toto statement names digest as a subject.
func namesDigest(payload, digest []byte) error {
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil || !inTotoStatementTypes[st.Type] {
		return fail(ErrMalformed, "the signed payload is not an in-toto statement")
	}
	want := hex.EncodeToString(digest)
	var signed []string
	for _, sub := range st.Subject {
		if strings.EqualFold(sub.Digest["sha256"], want) {
			return nil
		}
		signed = append(signed, "sha256:"+sub.Digest["sha256"])
	}
	return fail(ErrAttestsOther, "it attests %s", strconv.QuoteToASCII(strings.Join(signed, ", ")))
}

// verifyAttestationBundle verifies a Sigstore bundle holding a DSSE
// in-toto statement: with a key, or keyless.
func verifyAttestationBundle(data []byte, s Signers, digest []byte) (Attested, error) {
	b, err := parseBundle(data)
	if err != nil {
		return Attested{}, err
	}
	env := b.DSSEEnvelope
	if env == nil {
		return Attested{}, fail(ErrMalformed, "the bundle holds no DSSE envelope: a signature, not an attestation")
	}
	payload, err := env.statement()
	if err != nil {
		return Attested{}, err
	}
	if b.keyless() {
		if len(s.Keyless) == 0 {
			return Attested{}, fail(ErrUntrustedKey, "a keyless attestation (a certificate, no key), and no identity is trusted")
		}
		var sb sgbundle.Bundle
		if err := sb.UnmarshalJSON(data); err != nil {
			return Attested{}, fail(ErrMalformed, "the bundle cannot be read: %s", strconv.QuoteToASCII(trimErr(err)))
		}
		return verifyKeylessAttestation(&sb, s.Keyless, digest, payload)
	}
	return verifyKeyedAttestation(env, payload, s.Keys, digest)
}

// verifyKeylessAttestation verifies a keyless DSSE entity with sigstore-go
// for the digest (a subject of its statement), against one trust set.
func verifyKeylessAttestation(sb *sgbundle.Bundle, trusts []KeylessTrust, digest, payload []byte) (Attested, error) {
	if err := namesDigest(payload, digest); err != nil {
		return Attested{}, err
	}
	var last error
	for _, t := range trusts {
		res, err := verifyKeylessEntity(sb, t.Roots, t.IDs, verify.WithArtifactDigest("sha256", digest))
		if err == nil {
			return Attested{Statement: payload, Key: res.Fingerprint, Issuer: res.Issuer, Subject: res.Subject}, nil
		}
		last = err
	}
	return Attested{}, last
}
