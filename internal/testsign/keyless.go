package testsign

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Sigstore is a private Sigstore instance made in memory: a Fulcio CA that
// issues short-lived certificates for OIDC identities, a Rekor log, a
// timestamp authority and a CT log (sigstore-go's VirtualSigstore). It
// signs offline as `cosign sign` does with a keyless identity.
type Sigstore struct {
	vs *ca.VirtualSigstore
}

// NewSigstore makes a private Sigstore instance.
func NewSigstore() (*Sigstore, error) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		return nil, err
	}
	return &Sigstore{vs: vs}, nil
}

// RootOptions change what TrustedRoot lists.
type RootOptions struct {
	// CT lists the instance's CT log (whose SCTs the certificates this
	// instance issues do not carry).
	CT bool
	// NoRekor leaves out the Rekor log: an instance with a timestamp
	// authority only.
	NoRekor bool
}

// TrustedRoot is the instance's trusted_root.json: its Fulcio CA, Rekor
// log and timestamp authority, as o says.
func (s *Sigstore) TrustedRoot(o RootOptions) ([]byte, error) {
	var cts map[string]*root.TransparencyLog
	if o.CT {
		cts = s.vs.CTLogs()
	}
	logs := s.vs.RekorLogs()
	if o.NoRekor {
		logs = nil
	}
	// VirtualSigstore keys its logs in memory by the hex log ID and sets
	// ID to those hex characters; in a trusted_root.json the ID is the raw
	// key ID, as Sigstore publishes it.
	for _, m := range []map[string]*root.TransparencyLog{cts, logs} {
		for id, l := range m {
			raw, err := hex.DecodeString(id)
			if err != nil {
				return nil, err
			}
			l.ID = raw
		}
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, s.vs.FulcioCertificateAuthorities(), cts, s.vs.TimestampingAuthorities(), logs)
	if err != nil {
		return nil, err
	}
	return tr.MarshalJSON()
}

// KeylessOptions change how Sign signs.
type KeylessOptions struct {
	// PredicateType is the signed statement's (default cosign's signing
	// predicate; another makes an attestation).
	PredicateType string
	// Message signs the manifest itself (a message signature) instead of a
	// DSSE statement.
	Message bool
	// LoggedAt is the Rekor entry's integrated time (default: within the
	// certificate's ten minutes).
	LoggedAt time.Time
	// NoTimestamp leaves out the RFC 3161 timestamp, so that the Rekor
	// entry's time is the only signed time.
	NoTimestamp bool
	// NoLog leaves out the Rekor entry: the timestamp is the only signed
	// time (an instance without Rekor).
	NoLog bool
	// NoSignedTime leaves out both: the bundle says nothing about when it
	// was signed.
	NoSignedTime bool
	// Statement is signed as is, instead of a statement of cosign's
	// signing predicate: an attestation.
	Statement []byte
}

// Sign signs the manifest (whose digest is digest) of repository name for
// the OIDC identity (subject, issuer) and returns the Sigstore bundle, as
// cosign v3 stores it: a DSSE in-toto statement with cosign's signing
// predicate (v0.3 bundle), or with Message a message signature (v0.1).
func (s *Sigstore) Sign(subject, issuer, name string, manifest []byte, digest string, o KeylessOptions) ([]byte, error) {
	at := o.LoggedAt
	if at.IsZero() {
		at = time.Now().Add(5 * time.Minute)
	}
	var entity *ca.TestEntity
	var err error
	if o.Message {
		entity, err = s.vs.SignAtTime(subject, issuer, manifest, at)
	} else {
		pt := o.PredicateType
		if pt == "" {
			pt = "https://sigstore.dev/cosign/sign/v1"
		}
		stmt, _ := json.Marshal(map[string]any{
			"_type":         "https://in-toto.io/Statement/v1",
			"subject":       []any{map[string]any{"name": name, "digest": map[string]string{"sha256": strings.TrimPrefix(digest, "sha256:")}}},
			"predicateType": pt,
			"predicate":     map[string]any{},
		})
		if o.Statement != nil {
			stmt = o.Statement
		}
		entity, err = s.vs.AttestAtTime(subject, issuer, stmt, at, true)
	}
	if err != nil {
		return nil, err
	}
	vc, err := entity.VerificationContent()
	if err != nil {
		return nil, err
	}
	cert := vc.Certificate()
	pb := &protobundle.Bundle{VerificationMaterial: &protobundle.VerificationMaterial{}}
	if !o.NoSignedTime {
		entries, _ := entity.TlogEntries()
		if o.NoLog {
			entries = nil
		}
		for _, e := range entries {
			tle, err := s.logEntry(e.TransparencyLogEntry())
			if err != nil {
				return nil, err
			}
			pb.VerificationMaterial.TlogEntries = append(pb.VerificationMaterial.TlogEntries, tle)
		}
		if !o.NoTimestamp {
			tss, _ := entity.Timestamps()
			tvd := &protobundle.TimestampVerificationData{}
			for _, ts := range tss {
				tvd.Rfc3161Timestamps = append(tvd.Rfc3161Timestamps, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
			}
			pb.VerificationMaterial.TimestampVerificationData = tvd
		}
	}
	content, err := entity.SignatureContent()
	if err != nil {
		return nil, err
	}
	switch c := content.(type) {
	case *sgbundle.Envelope:
		pb.MediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
		pb.VerificationMaterial.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw}}
		payload, err := base64.StdEncoding.DecodeString(c.Payload)
		if err != nil {
			return nil, err
		}
		env := &protodsse.Envelope{Payload: payload, PayloadType: c.PayloadType}
		for _, sig := range c.Signatures {
			raw, err := base64.StdEncoding.DecodeString(sig.Sig)
			if err != nil {
				return nil, err
			}
			env.Signatures = append(env.Signatures, &protodsse.Signature{Sig: raw, Keyid: sig.KeyID})
		}
		pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: env}
	case *sgbundle.MessageSignature:
		// v0.1: the Rekor entry of a message signature carries an inclusion
		// promise (SET), not a proof.
		pb.MediaType = "application/vnd.dev.sigstore.bundle+json;version=0.1"
		pb.VerificationMaterial.Content = &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{Certificates: []*protocommon.X509Certificate{{RawBytes: cert.Raw}}}}
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: c.Digest()},
			Signature:     c.Signature(),
		}}
	default:
		return nil, fmt.Errorf("unexpected signature content %T", content)
	}
	return protojson.Marshal(pb)
}

// logEntry completes a Rekor entry as Rekor returns it: its kind and
// version, and its inclusion promise (the log's signed entry timestamp).
func (s *Sigstore) logEntry(in *protorekor.TransparencyLogEntry) (*protorekor.TransparencyLogEntry, error) {
	tle := proto.Clone(in).(*protorekor.TransparencyLogEntry)
	var body struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(tle.CanonicalizedBody, &body); err != nil {
		return nil, err
	}
	tle.KindVersion = &protorekor.KindVersion{Kind: body.Kind, Version: body.APIVersion}
	set, err := s.vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
		IntegratedTime: tle.IntegratedTime,
		LogIndex:       tle.LogIndex,
		LogID:          hex.EncodeToString(tle.LogId.KeyId),
	})
	if err != nil {
		return nil, err
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	return tle, nil
}

// CertificateSHA256 is the hex SHA-256 of a bundle's certificate, as the
// verified output names it.
func CertificateSHA256(bundleJSON []byte) (string, error) {
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return "", err
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(vc.Certificate().Raw)
	return hex.EncodeToString(sum[:]), nil
}

// LegacyOptions change how SignLegacy signs.
type LegacyOptions struct {
	// LoggedAt is the Rekor entry's integrated time (default: within the
	// certificate's ten minutes).
	LoggedAt time.Time
	// NoBundle leaves out the Rekor bundle annotation.
	NoBundle bool
	// Chain is the chain annotation (default: the instance's own CA).
	Chain string
}

// SignLegacy signs digest of repository name as cosign v2 signs keylessly
// by default: a simple-signing payload whose signature, certificate, chain
// and Rekor bundle (the signed entry timestamp and the hashedrekord entry)
// are the layer's annotations. It returns the payload and the annotations.
func (s *Sigstore) SignLegacy(subject, issuer, name, digest string, o LegacyOptions) ([]byte, map[string]string, error) {
	payload, err := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": name},
			"image":    map[string]string{"docker-manifest-digest": digest},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	if err != nil {
		return nil, nil, err
	}
	at := o.LoggedAt
	if at.IsZero() {
		at = time.Now().Add(5 * time.Minute)
	}
	entity, err := s.vs.SignAtTime(subject, issuer, payload, at)
	if err != nil {
		return nil, nil, err
	}
	content, err := entity.SignatureContent()
	if err != nil {
		return nil, nil, err
	}
	ms, ok := content.(*sgbundle.MessageSignature)
	if !ok {
		return nil, nil, fmt.Errorf("unexpected signature content %T", content)
	}
	ann, err := s.legacyAnnotations(entity, base64.StdEncoding.EncodeToString(ms.Signature()), o)
	if err != nil {
		return nil, nil, err
	}
	return payload, ann, nil
}

// legacyAnnotations are the layer annotations cosign v2 writes for a
// keyless entity: the signature (empty on attestations, whose signature is
// in the envelope), the certificate, the chain (o.Chain, else the
// instance's) and, unless o.NoBundle, the Rekor bundle.
func (s *Sigstore) legacyAnnotations(entity *ca.TestEntity, signature string, o LegacyOptions) (map[string]string, error) {
	vc, err := entity.VerificationContent()
	if err != nil {
		return nil, err
	}
	chain := o.Chain
	if chain == "" {
		chain = s.ChainPEM()
	}
	ann := map[string]string{
		"dev.cosignproject.cosign/signature": signature,
		"dev.sigstore.cosign/certificate":    string(pemCert(vc.Certificate().Raw)),
		"dev.sigstore.cosign/chain":          chain,
	}
	if !o.NoBundle {
		entries, err := entity.TlogEntries()
		if err != nil || len(entries) == 0 {
			return nil, fmt.Errorf("no Rekor entry: %w", err)
		}
		rb, err := s.rekorAnnotation(entries[0].TransparencyLogEntry())
		if err != nil {
			return nil, err
		}
		ann["dev.sigstore.cosign/bundle"] = rb
	}
	return ann, nil
}

// ChainPEM is the instance's Fulcio CA chain (intermediates, then root), PEM.
func (s *Sigstore) ChainPEM() string {
	var b strings.Builder
	for _, ca := range s.vs.FulcioCertificateAuthorities() {
		fca, ok := ca.(*root.FulcioCertificateAuthority)
		if !ok {
			continue
		}
		for _, c := range fca.Intermediates {
			b.Write(pemCert(c.Raw))
		}
		if fca.Root != nil {
			b.Write(pemCert(fca.Root.Raw))
		}
	}
	return b.String()
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// AttestLegacy attests statement for the OIDC identity as cosign v2's
// attest does keylessly: a DSSE envelope (a .att layer) whose certificate,
// chain and Rekor bundle (the signed entry timestamp and the entry) are the
// layer's annotations. It returns the envelope and the annotations.
func (s *Sigstore) AttestLegacy(subject, issuer string, statement []byte, o LegacyOptions) ([]byte, map[string]string, error) {
	at := o.LoggedAt
	if at.IsZero() {
		at = time.Now().Add(5 * time.Minute)
	}
	entity, err := s.vs.AttestAtTime(subject, issuer, statement, at, false)
	if err != nil {
		return nil, nil, err
	}
	content, err := entity.SignatureContent()
	if err != nil {
		return nil, nil, err
	}
	env, ok := content.(*sgbundle.Envelope)
	if !ok {
		return nil, nil, fmt.Errorf("unexpected signature content %T", content)
	}
	envelope, err := json.Marshal(env.Envelope)
	if err != nil {
		return nil, nil, err
	}
	ann, err := s.legacyAnnotations(entity, "", o)
	if err != nil {
		return nil, nil, err
	}
	return envelope, ann, nil
}

// rekorAnnotation is the dev.sigstore.cosign/bundle annotation of a Rekor
// entry: its signed entry timestamp and the entry.
func (s *Sigstore) rekorAnnotation(e *protorekor.TransparencyLogEntry) (string, error) {
	tle, err := s.logEntry(e)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(map[string]any{
		"SignedEntryTimestamp": base64.StdEncoding.EncodeToString(tle.InclusionPromise.SignedEntryTimestamp),
		"Payload": map[string]any{
			"body":           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
			"integratedTime": tle.IntegratedTime,
			"logIndex":       tle.LogIndex,
			"logID":          hex.EncodeToString(tle.LogId.KeyId),
		},
	})
	return string(data), err
}
