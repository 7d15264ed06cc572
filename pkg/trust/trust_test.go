package trust

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testenv"
	"github.com/ocisrc/ocisrc/internal/testsign"
)

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func cosignKey(t testing.TB) (*testsign.CosignKey, Key) {
	t.Helper()
	k, err := testsign.NewCosignKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(k.PublicPEM, "test key")
	if err != nil {
		t.Fatal(err)
	}
	return k, pub
}

func TestParsePublicKey(t *testing.T) {
	pemOf := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"ECDSA P-384":   {data: pemOf(&p384.PublicKey)},
		"RSA 2048":      {data: pemOf(&rsa2048.PublicKey)},
		"Ed25519":       {data: pemOf(ed)},
		"RSA 1024":      {data: pemOf(&rsa1024.PublicKey), want: "an RSA key of 1024 bits"},
		"not PEM":       {data: []byte("ssh-ed25519 AAAA"), want: "holds no PEM public key"},
		"a private key": {data: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}}), want: `holds a PEM "EC PRIVATE KEY", expected a PUBLIC KEY`},
		"two keys":      {data: append(pemOf(ed), pemOf(ed)...), want: "more than one PEM block"},
	} {
		t.Run(name, func(t *testing.T) {
			k, err := ParsePublicKey(tc.data, "k.pub")
			if tc.want == "" {
				if err != nil || !strings.HasPrefix(k.Fingerprint, "SHA256:") {
					t.Fatalf("%v %+v", err, k)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestVerifySimpleSigning(t *testing.T) {
	k, pub := cosignKey(t)
	_, other := cosignKey(t)
	payload, sig := k.SignSimpleSigning("r.io/charts/app", digestA)
	for name, tc := range map[string]struct {
		s    SimpleSigning
		keys []Key
		want error
	}{
		"valid":           {s: SimpleSigning{Payload: payload, Signature: sig}, keys: []Key{other, pub}},
		"wrong key":       {s: SimpleSigning{Payload: payload, Signature: sig}, keys: []Key{other}, want: ErrUntrustedKey},
		"no key":          {s: SimpleSigning{Payload: payload, Signature: sig}, want: ErrNoTrustedKey},
		"payload changed": {s: SimpleSigning{Payload: append(payload, ' '), Signature: sig}, keys: []Key{pub}, want: ErrUntrustedKey},
		"not base64":      {s: SimpleSigning{Payload: payload, Signature: "!!"}, keys: []Key{pub}, want: ErrMalformed},
		"replay": {s: func() SimpleSigning {
			p, s := k.SignSimpleSigning("r.io/charts/app", digestB)
			return SimpleSigning{Payload: p, Signature: s}
		}(), keys: []Key{pub}, want: ErrOtherDigest},
		"signed, not a sig": {s: SimpleSigning{Payload: []byte(`{"critical":{"type":"x"}}`), Signature: base64.StdEncoding.EncodeToString(k.Sign([]byte(`{"critical":{"type":"x"}}`)))}, keys: []Key{pub}, want: ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := VerifySimpleSigning(tc.s, tc.keys, digestA)
			if tc.want == nil {
				if err != nil || got.Fingerprint != pub.Fingerprint {
					t.Fatalf("%v, %+v", err, got)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyBundle(t *testing.T) {
	k, pub := cosignKey(t)
	_, other := cosignKey(t)
	good := k.Bundle("app", digestA)
	for name, tc := range map[string]struct {
		data []byte
		keys []Key
		want error
	}{
		"valid":      {data: good, keys: []Key{pub}},
		"wrong key":  {data: good, keys: []Key{other}, want: ErrUntrustedKey},
		"replay":     {data: k.Bundle("app", digestB), keys: []Key{pub}, want: ErrOtherDigest},
		"not JSON":   {data: []byte("{"), keys: []Key{pub}, want: ErrMalformed},
		"no DSSE":    {data: []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{}}`), keys: []Key{pub}, want: ErrMalformed},
		"tampered":   {data: []byte(strings.Replace(string(good), `"payload":"`, `"payload":"e30`, 1)), keys: []Key{pub}, want: ErrMalformed},
		"other type": {data: []byte(`{"mediaType":"x"}`), keys: []Key{pub}, want: ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := VerifyBundle(tc.data, tc.keys, digestA)
			if tc.want == nil {
				if err != nil || got.Fingerprint != pub.Fingerprint {
					t.Fatalf("%v, %+v", err, got)
				}
				return
			}
			if !errors.Is(err, tc.want) && (!errors.Is(tc.want, ErrMalformed) || !errors.Is(err, ErrUntrustedKey)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyProvenance(t *testing.T) {
	c, err := testenv.BuildChart("app", "1.2.3", 0)
	if err != nil {
		t.Fatal(err)
	}
	key, err := testsign.NewPGPKey("Chart Publisher", "charts@example.com")
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := testsign.NewPGPKey("Someone Else", "x@example.com")
	prov, err := key.Provenance("app", "1.2.3", c.Archive)
	if err != nil {
		t.Fatal(err)
	}
	var armored, binary, wrong Keyring
	if err := armored.Add(key.PublicArmored(), "keyring.asc"); err != nil {
		t.Fatal(err)
	}
	if err := binary.Add(key.PublicBinary(), "pubring.gpg"); err != nil {
		t.Fatal(err)
	}
	if err := wrong.Add(stranger.PublicArmored(), "other.asc"); err != nil {
		t.Fatal(err)
	}
	other, _ := testenv.BuildChart("app", "1.2.3", 7)
	for name, tc := range map[string]struct {
		prov    []byte
		ring    *Keyring
		archive []byte
		version string
		want    error
	}{
		"armored keyring":   {prov: prov, ring: &armored, archive: c.Archive},
		"binary keyring":    {prov: prov, ring: &binary, archive: c.Archive},
		"wrong key":         {prov: prov, ring: &wrong, archive: c.Archive, want: ErrUntrustedKey},
		"other archive":     {prov: prov, ring: &armored, archive: other.Archive, want: ErrBadProvenance},
		"other version":     {prov: prov, ring: &armored, archive: c.Archive, version: "1.2.4", want: ErrNotForThisFile},
		"tampered checksum": {prov: []byte(strings.Replace(string(prov), "sha256:", "sha256:0", 1)), ring: &armored, archive: c.Archive, want: ErrBadSignature},
		"none":              {ring: &armored, archive: c.Archive, want: ErrNoSignature},
		"not clear-signed":  {prov: []byte("hello"), ring: &armored, archive: c.Archive, want: ErrMalformed},
		"no keyring":        {prov: prov, ring: &Keyring{}, archive: c.Archive, want: ErrNoTrustedKey},
	} {
		t.Run(name, func(t *testing.T) {
			v := tc.version
			if v == "" {
				v = "1.2.3"
			}
			got, err := VerifyProvenance(tc.prov, tc.ring, "app", v, archiveDigest(tc.archive))
			if tc.want == nil {
				if err != nil || got.Key != key.Fingerprint() || !strings.Contains(got.Signer, "Chart Publisher") {
					t.Fatalf("%v, %+v", err, got)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestKeyringErrors(t *testing.T) {
	var k Keyring
	for in, want := range map[string]string{
		"not a key": "is not an OpenPGP keyring",
		"-----BEGIN PGP MESSAGE-----\n\nabc\n-----END PGP MESSAGE-----\n": `holds a "PGP MESSAGE", expected a PGP PUBLIC KEY BLOCK`,
	} {
		if err := k.Add([]byte(in), "ring"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Add(%q) = %v, want %q", in, err, want)
		}
	}
}

func FuzzVerifySimpleSigning(f *testing.F) {
	k, pub := cosignKey(f)
	payload, sig := k.SignSimpleSigning("r.io/charts/app", digestA)
	f.Add(payload, sig)
	f.Add([]byte(`{}`), "")
	f.Fuzz(func(t *testing.T, payload []byte, sig string) {
		got, err := VerifySimpleSigning(SimpleSigning{Payload: payload, Signature: sig}, []Key{pub}, digestA)
		if err == nil && got.Fingerprint != pub.Fingerprint {
			t.Fatal("accepted without the key")
		}
	})
}

func FuzzVerifyBundle(f *testing.F) {
	k, pub := cosignKey(f)
	f.Add(k.Bundle("app", digestA))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = VerifyBundle(data, []Key{pub}, digestA)
	})
}

func FuzzVerifyProvenance(f *testing.F) {
	c, _ := testenv.BuildChart("app", "1.2.3", 0)
	key, _ := testsign.NewPGPKey("P", "p@example.com")
	prov, _ := key.Provenance("app", "1.2.3", c.Archive)
	var ring Keyring
	_ = ring.Add(key.PublicArmored(), "k")
	f.Add(prov)
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nx\n...\nfiles: {}\n-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = VerifyProvenance(data, &ring, "app", "1.2.3", archiveDigest(c.Archive))
	})
}

func FuzzKeyring(f *testing.F) {
	key, _ := testsign.NewPGPKey("P", "p@example.com")
	f.Add(key.PublicArmored())
	f.Add(key.PublicBinary())
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var k Keyring
		_ = k.Add(data, "fuzz")
	})
}

func archiveDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestEveryKeyTypeCosignSignsWith: each key type, hashed as cosign hashes
// for it, in both storage forms; and a signature that fails under the key a
// bundle names says so.
func TestEveryKeyTypeCosignSignsWith(t *testing.T) {
	for _, kind := range []string{"p256", "p384", "p521", "rsa", "rsa-pss", "ed25519", "ed25519ph"} {
		t.Run(kind, func(t *testing.T) {
			k, err := testsign.NewCosignKeyOf(kind)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := ParsePublicKey(k.PublicPEM, kind)
			if err != nil {
				t.Fatal(err)
			}
			payload, sig := k.SignSimpleSigning("r.io/charts/app", digestA)
			if got, err := VerifySimpleSigning(SimpleSigning{Payload: payload, Signature: sig}, []Key{pub}, digestA); err != nil || got.Fingerprint != pub.Fingerprint {
				t.Errorf(".sig: %v", err)
			}
			if _, err := VerifyBundle(k.Bundle("app", digestA), []Key{pub}, digestA); err != nil {
				t.Errorf("bundle: %v", err)
			}
			// The same bundle with its signature altered, under the key it names.
			bad := strings.Replace(string(k.Bundle("app", digestA)), `"sig":"`, `"sig":"AAAA`, 1)
			if _, err := VerifyBundle([]byte(bad), []Key{pub}, digestA); !errors.Is(err, ErrBadSignature) {
				t.Errorf("an altered bundle under its trusted key: %v, want %v", err, ErrBadSignature)
			}
		})
	}
}

func TestAttestationsAreNotSignatures(t *testing.T) {
	k, pub := cosignKey(t)
	vuln := k.Statement("app", digestA, "https://cosign.sigstore.dev/attestation/vuln/v1", map[string]any{"scanner": map[string]any{"result": "FAILED"}})
	if _, err := VerifyBundle(vuln, []Key{pub}, digestA); !errors.Is(err, ErrNotSignature) {
		t.Fatalf("an attestation by the trusted key: %v, want %v", err, ErrNotSignature)
	}
	slsa := k.Statement("app", digestA, "https://slsa.dev/provenance/v1", map[string]any{})
	if _, err := VerifyBundle(slsa, []Key{pub}, digestA); !errors.Is(err, ErrNotSignature) {
		t.Fatalf("provenance by the trusted key: %v", err)
	}
}

func TestMessageSignatureBundle(t *testing.T) {
	k, pub := cosignKey(t)
	manifest := []byte(`{"schemaVersion":2}`)
	sum := sha256.Sum256(manifest)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if _, err := VerifyBundle(k.MessageBundle(manifest), []Key{pub}, digest); err != nil {
		t.Fatalf("a message signature over the manifest: %v", err)
	}
	if _, err := VerifyBundle(k.MessageBundle([]byte("another manifest")), []Key{pub}, digest); !errors.Is(err, ErrOtherDigest) {
		t.Fatalf("a message signature over another manifest: %v", err)
	}
}
