package testsign

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	_ "github.com/notaryproject/notation-core-go/signature/cose" // the COSE envelope
	_ "github.com/notaryproject/notation-core-go/signature/jws"  // the JWS envelope

	"github.com/notaryproject/notation-core-go/testhelper"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/signer"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// NotationCA is a CA and a code-signing certificate it issued, as a
// platform team's Notation PKI would be: RSA 3072, subject
// C=US, ST=WA, L=Seattle, O=Notary, CN=<cn>.
type NotationCA struct {
	Root, Leaf *x509.Certificate
	key        *rsa.PrivateKey
	rootKey    *rsa.PrivateKey
}

// NewNotationCA makes a CA and a leaf with common name cn.
func NewNotationCA(cn string) (*NotationCA, error) {
	rootKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return nil, err
	}
	// The root is valid for a year either side of now, so that a leaf of
	// the past (SignAsAuthority) still chains to it.
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Locality: []string{"Seattle"}, Organization: []string{"Notary"}, CommonName: cn + " Root"},
		NotBefore:             now.Add(-365 * 24 * time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	rootCert, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, err
	}
	root := testhelper.RSACertTuple{Cert: rootCert, PrivateKey: rootKey}
	leafKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return nil, err
	}
	leaf := testhelper.GetRSACertTupleWithPK(leafKey, cn, &root)
	return &NotationCA{Root: root.Cert, Leaf: leaf.Cert, key: leafKey, rootKey: rootKey}, nil
}

// Identity is the leaf's trusted identity as a Notation trust policy
// writes it.
func (c *NotationCA) Identity() string {
	return "x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=" + c.Leaf.Subject.CommonName
}

// RootPEM is the CA certificate, for a trust store.
func (c *NotationCA) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Root.Raw})
}

// Sign signs the manifest descriptor with the leaf in the envelope format
// mediaType (application/jose+json or application/cose), as notation sign
// does.
func (c *NotationCA) Sign(desc ocispec.Descriptor, mediaType string) ([]byte, error) {
	s, err := signer.NewGenericSigner(c.key, []*x509.Certificate{c.Leaf, c.Root})
	if err != nil {
		return nil, err
	}
	env, _, err := s.Sign(context.Background(), desc, notation.SignerSignOptions{SignatureMediaType: mediaType})
	return env, err
}

// Descriptor describes a manifest.
func Descriptor(mediaType string, manifest []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
}

// SignAsAuthority signs desc in the signing-authority scheme
// (notary.x509.signingAuthority) with a new leaf of the CA that expired
// 100 days ago, asserting as its signing time 150 days ago, when the leaf
// was valid: a time only the signer vouches for.
func (c *NotationCA) SignAsAuthority(desc ocispec.Descriptor, mediaType string) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Locality: []string{"Seattle"}, Organization: []string{"Notary"}, CommonName: c.Leaf.Subject.CommonName},
		NotBefore:    now.Add(-200 * 24 * time.Hour),
		NotAfter:     now.Add(-100 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Root, &key.PublicKey, c.rootKey)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(map[string]ocispec.Descriptor{"targetArtifact": desc})
	if err != nil {
		return nil, err
	}
	s, err := signature.NewLocalSigner([]*x509.Certificate{leaf, c.Root}, key)
	if err != nil {
		return nil, err
	}
	env, err := signature.NewEnvelope(mediaType)
	if err != nil {
		return nil, err
	}
	return env.Sign(&signature.SignRequest{
		Payload:       signature.Payload{ContentType: "application/vnd.cncf.notary.payload.v1+json", Content: payload},
		Signer:        s,
		SigningTime:   now.Add(-150 * 24 * time.Hour),
		SigningScheme: signature.SigningSchemeX509SigningAuthority,
		SigningAgent:  "ocisrc-test",
	})
}
