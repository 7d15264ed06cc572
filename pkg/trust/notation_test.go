package trust

import (
	"errors"
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testsign"
)

func TestVerifyNotation(t *testing.T) {
	ca, err := testsign.NewNotationCA("charts.example.com")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testsign.NewNotationCA("other.example.com")
	if err != nil {
		t.Fatal(err)
	}
	const mt = "application/vnd.oci.image.manifest.v1+json"
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{}}`)
	desc := testsign.Descriptor(mt, manifest)
	subj := Subject{Repository: "r.io/charts/app", Digest: desc.Digest.String(), Size: desc.Size, MediaType: mt}
	var store NotationTrust
	if err := store.AddCertificates(ca.RootPEM(), "the CA"); err != nil {
		t.Fatal(err)
	}
	store.Identities = []string{ca.Identity()}

	for _, envType := range []string{NotationJWS, NotationCOSE} {
		env, err := ca.Sign(desc, envType)
		if err != nil {
			t.Fatal(err)
		}
		res, err := VerifyNotation(t.Context(), NotationSignature{MediaType: envType, Envelope: env}, store, subj)
		if err != nil {
			t.Fatalf("%s: VerifyNotation = %v", envType, err)
		}
		if !strings.Contains(res.Subject, "CN=charts.example.com") || !strings.HasPrefix(res.Fingerprint, "SHA256:") {
			t.Errorf("%s: result %+v", envType, res)
		}
	}

	good, _ := ca.Sign(desc, NotationJWS)
	otherManifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"size":1}}`)
	copied, _ := ca.Sign(testsign.Descriptor(mt, otherManifest), NotationJWS)
	byOther, _ := other.Sign(desc, NotationJWS)
	anyIdentity := store
	anyIdentity.Identities = []string{"*"}
	otherIdentity := store
	otherIdentity.Identities = []string{other.Identity()}
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)/2] ^= 1

	for name, tc := range map[string]struct {
		sig   NotationSignature
		trust NotationTrust
		want  error
	}{
		"copied from another chart": {sig: NotationSignature{MediaType: NotationJWS, Envelope: copied}, trust: store, want: ErrOtherDigest},
		"another CA":                {sig: NotationSignature{MediaType: NotationJWS, Envelope: byOther}, trust: anyIdentity, want: ErrUntrustedKey},
		"another identity":          {sig: NotationSignature{MediaType: NotationJWS, Envelope: good}, trust: otherIdentity, want: ErrUntrustedIdentity},
		"tampered":                  {sig: NotationSignature{MediaType: NotationJWS, Envelope: tampered}, trust: store},
		"wrong media type":          {sig: NotationSignature{MediaType: NotationCOSE, Envelope: good}, trust: store},
		"unknown media type":        {sig: NotationSignature{MediaType: "text/plain", Envelope: good}, trust: store, want: ErrMalformed},
		"nothing trusted":           {sig: NotationSignature{MediaType: NotationJWS, Envelope: good}, want: ErrNoTrustedKey},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := VerifyNotation(t.Context(), tc.sig, tc.trust, subj)
			if err == nil {
				t.Fatal("VerifyNotation accepted it")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("VerifyNotation = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNotationTrustInput(t *testing.T) {
	var n NotationTrust
	if err := n.AddCertificates([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "file x"); err == nil || !strings.Contains(err.Error(), "file x holds a certificate that cannot be read") {
		t.Errorf("AddCertificates(bad) = %v", err)
	}
	if err := n.AddCertificates([]byte("nothing"), "file y"); err == nil || !strings.Contains(err.Error(), "file y holds no PEM certificate") {
		t.Errorf("AddCertificates(none) = %v", err)
	}
	for id, ok := range map[string]bool{
		"*": true,
		"x509.subject: C=US, ST=WA, O=Notary, CN=x": true,
		"CN=x":               false,
		"x509.subject: C=US": false,
	} {
		if err := CheckNotationIdentity(id); (err == nil) != ok {
			t.Errorf("CheckNotationIdentity(%q) = %v", id, err)
		}
	}
}
