package trust

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestVerifyAttestation(t *testing.T) {
	k, pub := cosignKey(t)
	_, other := cosignKey(t)
	slsa := k.Statement("r.io/charts/app", digestA, "https://slsa.dev/provenance/v1", map[string]any{})
	var b struct {
		DSSE json.RawMessage `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(slsa, &b); err != nil {
		t.Fatal(err)
	}
	unsigned := []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`)
	for name, tc := range map[string]struct {
		a    Attestation
		s    Signers
		want error
	}{
		"bundle":            {a: Attestation{Bundle: slsa}, s: Signers{Keys: []Key{other, pub}}},
		"legacy .att":       {a: Attestation{Envelope: b.DSSE}, s: Signers{Keys: []Key{pub}}},
		"another key":       {a: Attestation{Envelope: b.DSSE}, s: Signers{Keys: []Key{other}}, want: ErrUntrustedKey},
		"no signer":         {a: Attestation{Envelope: b.DSSE}, want: ErrNoTrustedKey},
		"keyless only":      {a: Attestation{Envelope: b.DSSE}, s: Signers{Keyless: []KeylessTrust{{}}}, want: ErrUntrustedKey},
		"unsigned":          {a: Attestation{Envelope: unsigned}, s: Signers{Keys: []Key{pub}}, want: ErrUnsigned},
		"another digest":    {a: Attestation{Bundle: k.Statement("r.io/charts/app", digestB, "https://slsa.dev/provenance/v1", map[string]any{})}, s: Signers{Keys: []Key{pub}}, want: ErrAttestsOther},
		"not an envelope":   {a: Attestation{Envelope: []byte(`[]`)}, s: Signers{Keys: []Key{pub}}, want: ErrMalformed},
		"a message bundle":  {a: Attestation{Bundle: k.MessageBundle([]byte("m"))}, s: Signers{Keys: []Key{pub}}, want: ErrMalformed},
		"keyless, no roots": {a: Attestation{Envelope: b.DSSE, Certificate: "x"}, s: Signers{Keyless: []KeylessTrust{{}}}, want: ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := VerifyAttestation(tc.a, tc.s, digestA)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want == nil && (got.Key != pub.Fingerprint || len(got.Statement) == 0) {
				t.Errorf("attested %+v", got)
			}
		})
	}
	if !(Attestation{Bundle: k.Bundle("r.io/charts/app", digestA)}).IsSignature() || (Attestation{Bundle: slsa}).IsSignature() {
		t.Error("IsSignature does not tell a signature from an attestation")
	}
}
