// Package testsign makes chart signatures for tests, offline: cosign's
// legacy simple-signing payloads, Sigstore bundles (a DSSE envelope over an
// in-toto statement, as cosign v3 writes them), and Helm provenance files
// made with Helm's own signing code. It is never part of what ocisrc ships.
package testsign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
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

// CosignKey is an ECDSA P-256 key pair, as cosign generates.
type CosignKey struct {
	Private *ecdsa.PrivateKey
	// PublicPEM is the cosign.pub a verifier is given.
	PublicPEM []byte
}

// NewCosignKey makes a key pair.
func NewCosignKey() (*CosignKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	return &CosignKey{Private: k, PublicPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}, nil
}

// Fingerprint is how ocisrc names the key: SHA256:<hex of its PKIX DER>.
func (k *CosignKey) Fingerprint() string {
	block, _ := pem.Decode(k.PublicPEM)
	sum := sha256.Sum256(block.Bytes)
	return "SHA256:" + hex.EncodeToString(sum[:])
}

// Sign signs message as cosign does: ECDSA over its SHA-256, ASN.1.
func (k *CosignKey) Sign(message []byte) []byte {
	h := sha256.Sum256(message)
	sig, err := ecdsa.SignASN1(rand.Reader, k.Private, h[:])
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
// in-toto statement whose subject is digest, signed with k (no transparency
// log, as a keyed, offline cosign v3 signature).
func (k *CosignKey) Bundle(name, digest string) []byte {
	hexDigest := digest[len("sha256:"):]
	stmt, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": name, "digest": map[string]string{"sha256": hexDigest}}},
		"predicateType": "https://sigstore.dev/cosign/sign/v1",
		"predicate":     map[string]any{},
	})
	const payloadType = "application/vnd.in-toto+json"
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(stmt), stmt)
	b, _ := json.Marshal(map[string]any{
		"mediaType":            "application/vnd.dev.sigstore.bundle.v0.3+json",
		"verificationMaterial": map[string]any{"publicKey": map[string]string{"hint": k.Fingerprint()}},
		"dsseEnvelope": map[string]any{
			"payload":     base64.StdEncoding.EncodeToString(stmt),
			"payloadType": payloadType,
			"signatures":  []any{map[string]string{"sig": base64.StdEncoding.EncodeToString(k.Sign([]byte(pae)))}},
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
