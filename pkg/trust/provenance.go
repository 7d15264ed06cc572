package trust

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"helm.sh/helm/v4/pkg/provenance"
)

// Keyring is a set of trusted OpenPGP public keys (Helm provenance).
type Keyring struct {
	entities openpgp.EntityList
	from     map[string]string // fingerprint -> where it came from
}

// Len is how many keys the keyring holds.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.entities)
}

// Fingerprints lists the keys' fingerprints.
func (k *Keyring) Fingerprints() []string {
	var out []string
	if k == nil {
		return out
	}
	for _, e := range k.entities {
		out = append(out, fingerprint(e))
	}
	return out
}

func fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// Add reads OpenPGP public keys — a binary keyring such as pubring.gpg, or
// ASCII-armored keys (several blocks may follow each other) — into k.
func (k *Keyring) Add(data []byte, from string) error {
	if len(data) > MaxPayload*4 {
		return fmt.Errorf("%s is larger than %d bytes", from, MaxPayload*4)
	}
	var list openpgp.EntityList
	if bytes.Contains(data, []byte("-----BEGIN PGP")) {
		rest := data
		for {
			i := bytes.Index(rest, []byte("-----BEGIN PGP"))
			if i < 0 {
				break
			}
			block, err := armor.Decode(bytes.NewReader(rest[i:]))
			if err != nil {
				return fmt.Errorf("%s holds an armored block that cannot be read", from)
			}
			if block.Type != openpgp.PublicKeyType {
				return fmt.Errorf("%s holds a %s, expected a %s", from, strconv.QuoteToASCII(block.Type), openpgp.PublicKeyType)
			}
			el, err := openpgp.ReadKeyRing(block.Body)
			if err != nil {
				return fmt.Errorf("%s is not an OpenPGP public key block", from)
			}
			list = append(list, el...)
			end := bytes.Index(rest[i:], []byte("-----END PGP PUBLIC KEY BLOCK-----"))
			if end < 0 {
				break
			}
			rest = rest[i+end+len("-----END PGP PUBLIC KEY BLOCK-----"):]
		}
	} else {
		el, err := openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("%s is not an OpenPGP keyring (binary, as pubring.gpg, or ASCII-armored)", from)
		}
		list = el
	}
	if len(list) == 0 {
		return fmt.Errorf("%s holds no OpenPGP public key", from)
	}
	if k.from == nil {
		k.from = map[string]string{}
	}
	for _, e := range list {
		fp := fingerprint(e)
		if _, dup := k.from[fp]; dup {
			continue
		}
		k.from[fp] = from
		k.entities = append(k.entities, e)
	}
	return nil
}

// Provenance is a verified .prov: who signed it.
type Provenance struct {
	// Key is the signer's fingerprint; Signer its first identity.
	Key    string
	Signer string
	From   string
}

// VerifyProvenance checks a Helm provenance file as Helm 4 does (pkg/provenance
// Signatory.Verify, whose message parser it uses), in memory: the clear-signed message verifies under a
// key of the keyring, and its checksum for <name>-<version>.tgz equals
// archiveDigest, the archive's SHA-256 as "sha256:<hex>" (the chart layer's
// digest, which the pull checked: the archive itself is not read again).
//
// A parser bug on crafted input (go-crypto's clearsign.Decode panicked on a
// truncated block before v1.5) is a malformed signature, never a crash.
func VerifyProvenance(prov []byte, ring *Keyring, name, version, archiveDigest string) (p Provenance, err error) {
	defer func() {
		if recover() != nil {
			p, err = Provenance{}, fail(ErrMalformed, "the .prov cannot be parsed")
		}
	}()
	return verifyProvenance(prov, ring, name, version, archiveDigest)
}

func verifyProvenance(prov []byte, ring *Keyring, name, version, archiveDigest string) (Provenance, error) {
	if ring.Len() == 0 {
		return Provenance{}, &Failure{Kind: ErrNoTrustedKey}
	}
	if len(prov) == 0 {
		return Provenance{}, &Failure{Kind: ErrNoSignature}
	}
	if len(prov) > MaxPayload {
		return Provenance{}, fail(ErrMalformed, "a .prov of %d bytes", len(prov))
	}
	block, _ := clearsign.Decode(prov)
	if block == nil {
		return Provenance{}, fail(ErrMalformed, "the .prov holds no clear-signed block")
	}
	signer, err := openpgp.CheckDetachedSignature(ring.entities, bytes.NewReader(block.Bytes), block.ArmoredSignature.Body, &packet.Config{DefaultHash: crypto.SHA512})
	if err != nil {
		if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "unknown entity") {
			return Provenance{}, &Failure{Kind: ErrUntrustedKey}
		}
		return Provenance{}, &Failure{Kind: ErrBadSignature}
	}
	// The signed message is the chart's metadata and the checksums, read as
	// Helm reads them (the metadata is not compared, as in Helm).
	if !bytes.Contains(block.Plaintext, []byte("\n...\n")) {
		return Provenance{}, fail(ErrMalformed, "the signed message has no checksums")
	}
	var sums provenance.SumCollection
	if err := provenance.ParseMessageBlock(block.Plaintext, nil, &sums); err != nil {
		return Provenance{}, fail(ErrMalformed, "the signed checksums are not YAML")
	}
	file := name + "-" + version + ".tgz"
	want, ok := sums.Files[file]
	if !ok {
		var names []string
		for n := range sums.Files {
			names = append(names, n)
		}
		return Provenance{}, fail(ErrNotForThisFile, "it has no checksum for %s, only for %s", file, strconv.QuoteToASCII(strings.Join(names, ", ")))
	}
	if want != archiveDigest {
		return Provenance{}, fail(ErrBadProvenance, "it says %s for %s, the archive is %s", strconv.QuoteToASCII(want), file, archiveDigest)
	}
	p := Provenance{Key: fingerprint(signer), From: ring.from[fingerprint(signer)]}
	for id := range signer.Identities {
		p.Signer = id
		break
	}
	return p, nil
}
