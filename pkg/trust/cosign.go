// Package trust verifies chart signatures as functions of bytes and keys:
// cosign signatures (the legacy simple-signing payload of a .sig tag, and
// Sigstore bundles stored as OCI referrers) and Helm provenance (.prov)
// files. pkg/oci fetches the signatures; trust decides.
//
// A signature counts only when it verifies under a trusted key AND names the
// exact manifest digest being pulled: a valid signature copied from another
// chart (a replay) is refused.
//
// It parses untrusted input, so it is a leaf (the standard library's crypto,
// and ProtonMail's OpenPGP for provenance) with fuzz targets.
package trust

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Providers.
const (
	ProviderCosign = "cosign"
	ProviderHelm   = "helm"
)

// Formats of cosign signatures in a registry.
const (
	// SimpleSigningMediaType is the layer media type of a legacy .sig manifest.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation holds the base64 signature of a legacy layer.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// BundleArtifactTypePrefix starts the artifact type of Sigstore bundles.
	BundleArtifactTypePrefix = "application/vnd.dev.sigstore.bundle"
	// ProvenanceMediaType is the layer of a Helm chart's .prov.
	ProvenanceMediaType = "application/vnd.cncf.helm.chart.provenance.v1.prov"
)

// Limits on what is parsed.
const (
	// MaxPayload bounds a signed payload, a bundle or a .prov.
	MaxPayload = 1 << 20
	// MaxSignatures bounds the signatures considered per chart.
	MaxSignatures = 64
)

// Key is a trusted public key.
type Key struct {
	// Fingerprint names the key: SHA256:<hex of the SHA-256 of its PKIX DER>
	// for a cosign key, the OpenPGP fingerprint for a Helm key.
	Fingerprint string
	// From says where the key came from (a file, a Secret key, the policy).
	From string
	pub  crypto.PublicKey
}

// ParsePublicKey reads a cosign public key: a PEM "PUBLIC KEY" (PKIX) of
// ECDSA P-256, P-384 or P-521, RSA (2048 bits or more) or Ed25519.
func ParsePublicKey(data []byte, from string) (Key, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return Key{}, fmt.Errorf("%s holds no PEM public key", from)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return Key{}, fmt.Errorf("%s holds more than one PEM block: expected one public key", from)
	}
	if block.Type != "PUBLIC KEY" {
		return Key{}, fmt.Errorf("%s holds a PEM %+q, expected a PUBLIC KEY", from, block.Type)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		if curve := ecCurveName(block.Bytes); curve != "" {
			return Key{}, fmt.Errorf("%s is an ECDSA key on %s, a curve cosign does not sign with: expected P-256, P-384 or P-521 (or RSA, or Ed25519)", from, curve)
		}
		return Key{}, fmt.Errorf("%s is not a PKIX public key", from)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256, 384, 521:
		default:
			return Key{}, fmt.Errorf("%s is an ECDSA key on an unsupported curve", from)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return Key{}, fmt.Errorf("%s is an RSA key of %d bits: at least 2048 are required", from, k.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return Key{}, fmt.Errorf("%s is a %T key: expected ECDSA, RSA or Ed25519", from, pub)
	}
	sum := sha256.Sum256(block.Bytes)
	return Key{Fingerprint: "SHA256:" + hex.EncodeToString(sum[:]), From: from, pub: pub}, nil
}

// verify checks sig over message with the key, hashed as cosign hashes for
// the key's type (sigstore's default algorithm for each): ECDSA P-256 over
// SHA-256, P-384 over SHA-384, P-521 over SHA-512; RSA over SHA-256, in
// PKCS #1 v1.5 or PSS; Ed25519 over the message itself, or in the
// pre-hashed Ed25519ph form (SHA-512) cosign v3 signs with.
func (k Key) verify(message, sig []byte) bool {
	switch pub := k.pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(pub, hashFor(pub, message), sig)
	case *rsa.PublicKey:
		h := sha256.Sum256(message)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil ||
			rsa.VerifyPSS(pub, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	case ed25519.PublicKey:
		if ed25519.Verify(pub, message, sig) {
			return true
		}
		h := sha512.Sum512(message)
		return ed25519.VerifyWithOptions(pub, h[:], sig, &ed25519.Options{Hash: crypto.SHA512}) == nil
	}
	return false
}

// verifyDigest checks sig over a message whose SHA-256 digest is given (a
// Sigstore bundle's messageSignature): the key's hash must be SHA-256.
func (k Key) verifyDigest(digest, sig []byte) bool {
	switch pub := k.pub.(type) {
	case *ecdsa.PublicKey:
		return pub.Curve.Params().BitSize == 256 && ecdsa.VerifyASN1(pub, digest, sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) == nil ||
			rsa.VerifyPSS(pub, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	}
	return false
}

// hashFor hashes message as cosign does for an ECDSA key of pub's curve.
func hashFor(pub *ecdsa.PublicKey, message []byte) []byte {
	switch pub.Curve.Params().BitSize {
	case 384:
		h := sha512.Sum384(message)
		return h[:]
	case 521:
		h := sha512.Sum512(message)
		return h[:]
	}
	h := sha256.Sum256(message)
	return h[:]
}

// hint is the key hint cosign writes into a bundle for this key: the
// base64 SHA-256 of its PKIX DER.
func (k Key) hint() string {
	raw, err := hex.DecodeString(strings.TrimPrefix(k.Fingerprint, "SHA256:"))
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// Failure kinds: why a provider found no valid signature.
var (
	ErrNoSignature    = errors.New("no signature found")
	ErrUntrustedKey   = errors.New("signed by an untrusted key")
	ErrBadSignature   = errors.New("the signature does not verify")
	ErrNotSignature   = errors.New("an attestation, not a signature")
	ErrOtherDigest    = errors.New("signature for another digest")
	ErrBadProvenance  = errors.New("bad provenance checksum")
	ErrMalformed      = errors.New("malformed signature")
	ErrNoTrustedKey   = errors.New("no trusted key configured")
	ErrNotForThisFile = errors.New("the provenance names another chart archive")
)

// Failure is why one signature was refused.
type Failure struct {
	Kind   error
	Detail string
}

func (f *Failure) Error() string {
	if f.Detail == "" {
		return f.Kind.Error()
	}
	return f.Kind.Error() + " (" + f.Detail + ")"
}

func (f *Failure) Unwrap() error { return f.Kind }

func fail(kind error, format string, a ...any) *Failure {
	return &Failure{Kind: kind, Detail: fmt.Sprintf(format, a...)}
}

// SimpleSigning is one legacy cosign signature: the payload blob and the
// base64 signature from the layer's annotation.
type SimpleSigning struct {
	Payload   []byte `json:"payload"`
	Signature string `json:"signature"`
	// Certificate, Chain and Bundle are a keyless signature's annotations
	// (CertificateAnnotation, ChainAnnotation, RekorBundleAnnotation).
	Certificate string `json:"certificate,omitempty"`
	Chain       string `json:"chain,omitempty"`
	Bundle      string `json:"bundle,omitempty"`
}

// Material is the signature material of one chart digest as a registry
// served it: what a verification reads, and what the cache keeps with the
// chart so that a later read verifies again from bytes, never from a record.
type Material struct {
	// Cosign are legacy simple-signing signatures (a .sig tag's layers).
	Cosign []SimpleSigning `json:"cosign,omitempty"`
	// Bundles are Sigstore bundles (OCI referrers), as JSON: keyed or keyless.
	Bundles [][]byte `json:"bundles,omitempty"`
	// Notation are Notation signature envelopes (OCI referrers).
	Notation []NotationSignature `json:"notation,omitempty"`
	// Attestations are in-toto attestations (provenance): Sigstore bundle
	// referrers and legacy .att layers.
	Attestations []Attestation `json:"attestations,omitempty"`
}

// Empty reports whether m holds no signature.
func (m Material) Empty() bool {
	return len(m.Cosign) == 0 && len(m.Bundles) == 0 && len(m.Notation) == 0 && len(m.Attestations) == 0
}

// Size is the bytes m holds.
func (m Material) Size() int {
	n := 0
	for _, s := range m.Cosign {
		n += len(s.Payload) + len(s.Signature) + len(s.Certificate) + len(s.Chain) + len(s.Bundle)
	}
	for _, a := range m.Attestations {
		n += a.Size()
	}
	for _, b := range m.Bundles {
		n += len(b)
	}
	for _, s := range m.Notation {
		n += len(s.Envelope)
	}
	return n
}

// simpleSigningPayload is the signed payload of a legacy cosign signature.
type simpleSigningPayload struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// VerifySimpleSigning verifies a legacy cosign signature of digest
// ("sha256:<hex>") under any of keys, and returns the key that signed it.
func VerifySimpleSigning(s SimpleSigning, keys []Key, digest string) (Key, error) {
	if len(keys) == 0 {
		return Key{}, &Failure{Kind: ErrNoTrustedKey}
	}
	if len(s.Payload) > MaxPayload {
		return Key{}, fail(ErrMalformed, "a payload of %d bytes", len(s.Payload))
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || len(sig) == 0 {
		return Key{}, fail(ErrMalformed, "the signature annotation is not base64")
	}
	var signer *Key
	for i := range keys {
		if keys[i].verify(s.Payload, sig) {
			signer = &keys[i]
			break
		}
	}
	if signer == nil {
		return Key{}, fail(ErrUntrustedKey, "no trusted key verifies it: signed by another key, or altered")
	}
	// Only a verified payload is read.
	if err := checkSimpleSigningPayload(s.Payload, digest); err != nil {
		return Key{}, err
	}
	return *signer, nil
}

// checkSimpleSigningPayload checks that a simple-signing payload signs
// digest (a .sig copied from another chart is refused).
func checkSimpleSigningPayload(payload []byte, digest string) error {
	var p simpleSigningPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return fail(ErrMalformed, "the signed payload is not JSON")
	}
	if p.Critical.Type != "cosign container image signature" {
		return fail(ErrMalformed, "the signed payload's critical.type is %s", strconv.QuoteToASCII(p.Critical.Type))
	}
	if p.Critical.Image.DockerManifestDigest != digest {
		return fail(ErrOtherDigest, "it signs %s", strconv.QuoteToASCII(p.Critical.Image.DockerManifestDigest))
	}
	return nil
}

// bundle is the part of a Sigstore bundle (v0.1–v0.3) a keyed signature
// needs: a DSSE envelope, or a message signature.
type bundle struct {
	MediaType            string `json:"mediaType"`
	VerificationMaterial struct {
		PublicKey *struct {
			Hint string `json:"hint"`
		} `json:"publicKey"`
		Certificate          *json.RawMessage `json:"certificate"`
		X509CertificateChain *json.RawMessage `json:"x509CertificateChain"`
	} `json:"verificationMaterial"`
	DSSEEnvelope     *dsseEnvelope `json:"dsseEnvelope"`
	MessageSignature *struct {
		MessageDigest struct {
			Algorithm string `json:"algorithm"`
			Digest    string `json:"digest"`
		} `json:"messageDigest"`
		Signature string `json:"signature"`
	} `json:"messageSignature"`
}

// Keyless reports whether the bundle is signed with a certificate (keyless)
// rather than a key.
func (b bundle) keyless() bool {
	return b.VerificationMaterial.Certificate != nil || b.VerificationMaterial.X509CertificateChain != nil
}

// SignPredicateType is the predicate type of the in-toto statement cosign
// v3 signs for `cosign sign`; any other is an attestation (`cosign attest`).
const SignPredicateType = "https://sigstore.dev/cosign/sign/v1"

// inTotoStatementTypes are the in-toto statement types a signed statement
// may have.
var inTotoStatementTypes = map[string]bool{"https://in-toto.io/Statement/v1": true, "https://in-toto.io/Statement/v0.1": true}

// statement is an in-toto statement: what a cosign v3 bundle signs.
type statement struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
}

// VerifyBundle verifies a Sigstore bundle made with one of keys for digest:
// a DSSE envelope over an in-toto statement of cosign's signing predicate
// (https://sigstore.dev/cosign/sign/v1) naming digest as a subject, or a
// message signature over digest. An attestation (any other predicate: a
// vulnerability scan, SLSA provenance) is not a signature, whoever signed
// it — stricter than `cosign verify`, on purpose. Bundles that carry a
// certificate (keyless) are verified by VerifyKeyless.
func VerifyBundle(data []byte, keys []Key, digest string) (Key, error) {
	if len(keys) == 0 {
		return Key{}, &Failure{Kind: ErrNoTrustedKey}
	}
	b, err := parseBundle(data)
	if err != nil {
		return Key{}, err
	}
	if b.keyless() {
		return Key{}, fail(ErrUntrustedKey, "a keyless signature (a certificate, no key): trust it with verify.cosign.keyless or --verify-identity")
	}
	// The key the bundle names, when it names a trusted one: a signature
	// that then fails is reported as not verifying, not as another key's.
	var hinted *Key
	if pk := b.VerificationMaterial.PublicKey; pk != nil && pk.Hint != "" {
		for i := range keys {
			if keys[i].hint() == pk.Hint {
				hinted = &keys[i]
			}
		}
	}
	if m := b.MessageSignature; m != nil && b.DSSEEnvelope == nil {
		return verifyMessageSignature(m.MessageDigest.Algorithm, m.MessageDigest.Digest, m.Signature, keys, hinted, digest)
	}
	env := b.DSSEEnvelope
	if env == nil {
		return Key{}, fail(ErrMalformed, "the bundle holds neither a DSSE envelope nor a message signature")
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return Key{}, fail(ErrMalformed, "the DSSE payload is not base64")
	}
	pae := dssePAE(env.PayloadType, payload)
	var signer *Key
	for _, s := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			continue
		}
		for i := range keys {
			if keys[i].verify(pae, sig) {
				signer = &keys[i]
				break
			}
		}
		if signer != nil {
			break
		}
	}
	if signer == nil {
		if hinted != nil {
			return Key{}, fail(ErrBadSignature, "by the trusted key %s", hinted.Fingerprint)
		}
		return Key{}, &Failure{Kind: ErrUntrustedKey}
	}
	if env.PayloadType != "application/vnd.in-toto+json" {
		return Key{}, fail(ErrMalformed, "the DSSE payload type is %s", strconv.QuoteToASCII(env.PayloadType))
	}
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return Key{}, fail(ErrMalformed, "the signed statement is not JSON")
	}
	if !inTotoStatementTypes[st.Type] {
		return Key{}, fail(ErrMalformed, "the signed statement's _type is %s, not an in-toto statement", strconv.QuoteToASCII(st.Type))
	}
	if st.PredicateType != SignPredicateType {
		return Key{}, fail(ErrNotSignature, "predicate type %s", strconv.QuoteToASCII(st.PredicateType))
	}
	want := strings.TrimPrefix(digest, "sha256:")
	var signed []string
	for _, sub := range st.Subject {
		if sub.Digest["sha256"] == want {
			return *signer, nil
		}
		signed = append(signed, "sha256:"+sub.Digest["sha256"])
	}
	return Key{}, fail(ErrOtherDigest, "it signs %s", strconv.QuoteToASCII(strings.Join(signed, ", ")))
}

// parseBundle reads a bundle's JSON.
func parseBundle(data []byte) (bundle, error) {
	var b bundle
	if len(data) > MaxPayload {
		return b, fail(ErrMalformed, "a bundle of %d bytes", len(data))
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return b, fail(ErrMalformed, "the bundle is not JSON")
	}
	if !strings.HasPrefix(b.MediaType, "application/vnd.dev.sigstore.bundle") {
		return b, fail(ErrMalformed, "the bundle's mediaType is %s", strconv.QuoteToASCII(b.MediaType))
	}
	return b, nil
}

// verifyMessageSignature checks a bundle's message signature: the signed
// message is the manifest, whose SHA-256 must be digest.
func verifyMessageSignature(algorithm, messageDigest, signature string, keys []Key, hinted *Key, digest string) (Key, error) {
	if algorithm != "SHA2_256" {
		return Key{}, fail(ErrMalformed, "a message digest of %s, expected SHA2_256", strconv.QuoteToASCII(algorithm))
	}
	md, err := base64.StdEncoding.DecodeString(messageDigest)
	if err != nil || len(md) != sha256.Size {
		return Key{}, fail(ErrMalformed, "the message digest is not a base64 SHA-256")
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return Key{}, fail(ErrMalformed, "the message signature is not base64")
	}
	for i := range keys {
		if keys[i].verifyDigest(md, sig) {
			if got := "sha256:" + hex.EncodeToString(md); got != digest {
				return Key{}, fail(ErrOtherDigest, "it signs %s", strconv.QuoteToASCII(got))
			}
			return keys[i], nil
		}
	}
	if hinted != nil {
		return Key{}, fail(ErrBadSignature, "by the trusted key %s", hinted.Fingerprint)
	}
	return Key{}, &Failure{Kind: ErrUntrustedKey}
}

// dssePAE is DSSE's pre-authentication encoding, what is signed.
func dssePAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "DSSEv1 %d %s %d ", len(payloadType), payloadType, len(payload))
	b.Write(payload)
	return b.Bytes()
}

// ecCurveName names the curve of a PKIX EC public key Go cannot parse
// ("secp256k1", or its OID), "" when der is not an EC key.
func ecCurveName(der []byte) string {
	var spki struct {
		Algorithm struct {
			Algorithm  asn1.ObjectIdentifier
			Parameters asn1.RawValue `asn1:"optional"`
		}
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil || !spki.Algorithm.Algorithm.Equal(asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}) {
		return ""
	}
	var curve asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(spki.Algorithm.Parameters.FullBytes, &curve); err != nil {
		return "an unnamed curve"
	}
	switch {
	case curve.Equal(asn1.ObjectIdentifier{1, 3, 132, 0, 10}):
		return "secp256k1"
	case curve.Equal(asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}):
		return "brainpoolP256r1"
	}
	return "the curve " + curve.String()
}
