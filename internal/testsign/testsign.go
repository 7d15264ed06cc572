// Package testsign makes chart signatures for tests, offline: cosign's
// legacy simple-signing payloads, Sigstore bundles (a DSSE envelope over an
// in-toto statement, as cosign v3 writes them), and Helm provenance files
// made with Helm's own signing code. It is never part of what ocisrc ships.
package testsign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/provenance"
	"sigs.k8s.io/yaml"
)

// CosignKey is a key pair of a type cosign signs with (ECDSA P-256 by
// default, as cosign generate-key-pair makes).
type CosignKey struct {
	Signer crypto.Signer
	// Kind is p256, p384, p521, rsa, rsa-pss, ed25519 or ed25519ph: the key
	// type and, where cosign has a choice, the signing scheme.
	Kind string
	// PublicPEM is the cosign.pub a verifier is given.
	PublicPEM []byte
}

// NewCosignKey makes an ECDSA P-256 key pair.
func NewCosignKey() (*CosignKey, error) { return NewCosignKeyOf("p256") }

// NewCosignKeyOf makes a key pair of kind.
func NewCosignKeyOf(kind string) (*CosignKey, error) {
	var signer crypto.Signer
	var err error
	switch kind {
	case "p256":
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		signer, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p521":
		signer, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "rsa", "rsa-pss":
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519", "ed25519ph":
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("testsign: unknown key kind %q", kind)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return nil, err
	}
	return &CosignKey{Signer: signer, Kind: kind, PublicPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}, nil
}

// PrivatePEM is the private key as PKCS #8 PEM (what cosign import-key-pair reads).
func (k *CosignKey) PrivatePEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Fingerprint is how ocisrc names the key: SHA256:<hex of its PKIX DER>.
func (k *CosignKey) Fingerprint() string {
	block, _ := pem.Decode(k.PublicPEM)
	sum := sha256.Sum256(block.Bytes)
	return "SHA256:" + hex.EncodeToString(sum[:])
}

// Hint is the key hint cosign writes into a bundle: base64 SHA-256 of the
// PKIX DER.
func (k *CosignKey) Hint() string {
	block, _ := pem.Decode(k.PublicPEM)
	sum := sha256.Sum256(block.Bytes)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Sign signs message as cosign does for the key's type: ECDSA over SHA-256,
// SHA-384 or SHA-512 by curve, RSA PKCS #1 v1.5 (or PSS) over SHA-256,
// Ed25519 pure (or Ed25519ph over SHA-512).
func (k *CosignKey) Sign(message []byte) []byte {
	var digest []byte
	var opts crypto.SignerOpts
	switch k.Kind {
	case "p384":
		h := sha512.Sum384(message)
		digest, opts = h[:], crypto.SHA384
	case "p521":
		h := sha512.Sum512(message)
		digest, opts = h[:], crypto.SHA512
	case "rsa-pss":
		h := sha256.Sum256(message)
		digest, opts = h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	case "ed25519":
		digest, opts = message, crypto.Hash(0)
	case "ed25519ph":
		h := sha512.Sum512(message)
		digest, opts = h[:], &ed25519.Options{Hash: crypto.SHA512}
	default:
		h := sha256.Sum256(message)
		digest, opts = h[:], crypto.SHA256
	}
	sig, err := k.Signer.Sign(rand.Reader, digest, opts)
	if err != nil {
		panic(err)
	}
	return sig
}

// SimpleSigningPayload is the payload of a legacy cosign signature of
// digest, for the repository name (host/path).
func SimpleSigningPayload(repository, digest string) []byte {
	b, _ := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": repository},
			"image":    map[string]string{"docker-manifest-digest": digest},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	return b
}

// SignSimpleSigning returns a legacy signature of digest: the payload and
// the base64 signature of its layer annotation.
func (k *CosignKey) SignSimpleSigning(repository, digest string) (payload []byte, signature string) {
	payload = SimpleSigningPayload(repository, digest)
	return payload, base64.StdEncoding.EncodeToString(k.Sign(payload))
}

// Bundle returns a Sigstore bundle v0.3 with a DSSE envelope over an
// in-toto statement of cosign's signing predicate whose subject is digest,
// signed with k (no transparency log, as a keyed, offline cosign v3
// signature).
func (k *CosignKey) Bundle(name, digest string) []byte {
	return k.Statement(name, digest, "https://sigstore.dev/cosign/sign/v1", map[string]any{})
}

// Statement is Bundle with another predicate: what cosign attest makes.
func (k *CosignKey) Statement(name, digest, predicateType string, predicate any) []byte {
	hexDigest := digest[len("sha256:"):]
	stmt, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": name, "digest": map[string]string{"sha256": hexDigest}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	const payloadType = "application/vnd.in-toto+json"
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(stmt), stmt)
	b, _ := json.Marshal(map[string]any{
		"mediaType":            "application/vnd.dev.sigstore.bundle.v0.3+json",
		"verificationMaterial": map[string]any{"publicKey": map[string]string{"hint": k.Hint()}},
		"dsseEnvelope": map[string]any{
			"payload":     base64.StdEncoding.EncodeToString(stmt),
			"payloadType": payloadType,
			"signatures":  []any{map[string]string{"sig": base64.StdEncoding.EncodeToString(k.Sign([]byte(pae)))}},
		},
	})
	return b
}

// MessageBundle is a Sigstore bundle carrying a message signature over the
// manifest (its SHA-256 is digest), signed with an ECDSA P-256 or RSA key.
func (k *CosignKey) MessageBundle(manifest []byte) []byte {
	h := sha256.Sum256(manifest)
	var opts crypto.SignerOpts = crypto.SHA256
	sig, err := k.Signer.Sign(rand.Reader, h[:], opts)
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(map[string]any{
		"mediaType":            "application/vnd.dev.sigstore.bundle.v0.3+json",
		"verificationMaterial": map[string]any{"publicKey": map[string]string{"hint": k.Hint()}},
		"messageSignature": map[string]any{
			"messageDigest": map[string]string{"algorithm": "SHA2_256", "digest": base64.StdEncoding.EncodeToString(h[:])},
			"signature":     base64.StdEncoding.EncodeToString(sig),
		},
	})
	return b
}

// PGPKey is an OpenPGP key pair for Helm provenance.
type PGPKey struct {
	Entity *openpgp.Entity
}

// NewPGPKey makes a key for name <email>.
func NewPGPKey(name, email string) (*PGPKey, error) {
	e, err := openpgp.NewEntity(name, "ocisrc test", email, &packet.Config{RSABits: 2048, DefaultHash: crypto.SHA512})
	if err != nil {
		return nil, err
	}
	return &PGPKey{Entity: e}, nil
}

// Fingerprint is the key's OpenPGP fingerprint, upper-case hex.
func (k *PGPKey) Fingerprint() string {
	return fmt.Sprintf("%X", k.Entity.PrimaryKey.Fingerprint)
}

// PublicArmored is the public key, ASCII-armored.
func (k *PGPKey) PublicArmored() []byte {
	var b bytes.Buffer
	w, _ := armor.Encode(&b, openpgp.PublicKeyType, nil)
	_ = k.Entity.Serialize(w)
	_ = w.Close()
	return b.Bytes()
}

// PublicBinary is the public key as a binary keyring (pubring.gpg).
func (k *PGPKey) PublicBinary() []byte {
	var b bytes.Buffer
	_ = k.Entity.Serialize(&b)
	return b.Bytes()
}

// SecretBinary is the private key as a binary keyring (secring.gpg), as
// helm package --sign --keyring reads it.
func (k *PGPKey) SecretBinary() []byte {
	var b bytes.Buffer
	_ = k.Entity.SerializePrivate(&b, nil)
	return b.Bytes()
}

// Provenance is the .prov Helm's own code (pkg/provenance, as helm package
// --sign does it: the chart's metadata as YAML, then the archive's checksum
// under <name>-<version>.tgz) writes for the chart archive.
func (k *PGPKey) Provenance(name, version string, archive []byte) ([]byte, error) {
	c, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		return nil, fmt.Errorf("loading the chart to sign: %w", err)
	}
	meta, err := yaml.Marshal(c.Metadata)
	if err != nil {
		return nil, err
	}
	sig := &provenance.Signatory{Entity: k.Entity}
	out, err := sig.ClearSign(archive, name+"-"+version+".tgz", meta)
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}
