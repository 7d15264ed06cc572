package testsign

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"

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
}

// NewNotationCA makes a CA and a leaf with common name cn.
func NewNotationCA(cn string) (*NotationCA, error) {
	rootKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return nil, err
	}
	root := testhelper.GetRSACertTupleWithPK(rootKey, cn+" Root", nil)
	leafKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return nil, err
	}
	leaf := testhelper.GetRSACertTupleWithPK(leafKey, cn, &root)
	return &NotationCA{Root: root.Cert, Leaf: leaf.Cert, key: leafKey}, nil
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
