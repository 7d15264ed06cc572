package trust

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ocisrc/ocisrc/internal/testsign"
)

const (
	testIssuer  = "https://token.actions.example.com"
	testSubject = "https://github.com/org/charts/.github/workflows/release.yaml@refs/heads/main"
)

// keylessFixture is a private Sigstore instance, its trusted root, and a
// manifest with its digest.
type keylessFixture struct {
	ss       *testsign.Sigstore
	root     *TrustedRoot
	manifest []byte
	digest   string
}

func newKeylessFixture(t *testing.T) keylessFixture {
	t.Helper()
	ss, err := testsign.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	rootJSON, err := ss.TrustedRoot(testsign.RootOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ParseTrustedRoot(rootJSON, "test root")
	if err != nil {
		t.Fatal(err)
	}
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	sum := sha256.Sum256(manifest)
	return keylessFixture{ss: ss, root: tr, manifest: manifest, digest: "sha256:" + hex.EncodeToString(sum[:])}
}

func (k keylessFixture) sign(t *testing.T, subject string, o testsign.KeylessOptions) []byte {
	t.Helper()
	b, err := k.ss.Sign(subject, testIssuer, "r.io/charts/app", k.manifest, k.digest, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyKeyless(t *testing.T) {
	k := newKeylessFixture(t)
	ids := []Identity{{Issuer: testIssuer, SubjectRegExp: `https://github\.com/org/charts/.*`}}
	good := k.sign(t, testSubject, testsign.KeylessOptions{})
	if !IsKeyless(good) {
		t.Fatal("IsKeyless = false for a certificate bundle")
	}
	res, err := VerifyKeyless(good, []*TrustedRoot{k.root}, ids, k.digest)
	if err != nil {
		t.Fatalf("VerifyKeyless = %v", err)
	}
	if res.Issuer != testIssuer || res.Subject != testSubject || !strings.HasPrefix(res.Fingerprint, "SHA256:") {
		t.Errorf("result = %+v", res)
	}
	if want, _ := testsign.CertificateSHA256(good); res.Fingerprint != "SHA256:"+want {
		t.Errorf("fingerprint %s, want the certificate's SHA256:%s", res.Fingerprint, want)
	}

	message := k.sign(t, testSubject, testsign.KeylessOptions{Message: true})
	if _, err := VerifyKeyless(message, []*TrustedRoot{k.root}, ids, k.digest); err != nil {
		t.Errorf("a keyless message signature: %v", err)
	}

	ctJSON, err := k.ss.TrustedRoot(testsign.RootOptions{CT: true})
	if err != nil {
		t.Fatal(err)
	}
	withCT, err := ParseTrustedRoot(ctJSON, "root with CT")
	if err != nil {
		t.Fatal(err)
	}
	otherSS := newKeylessFixture(t)
	tsaJSON, err := k.ss.TrustedRoot(testsign.RootOptions{NoRekor: true})
	if err != nil {
		t.Fatal(err)
	}
	tsaOnly, err := ParseTrustedRoot(tsaJSON, "root without Rekor")
	if err != nil {
		t.Fatal(err)
	}
	// A private instance without Rekor: the timestamp is the signed time.
	if _, err := VerifyKeyless(k.sign(t, testSubject, testsign.KeylessOptions{NoLog: true}), []*TrustedRoot{tsaOnly}, ids, k.digest); err != nil {
		t.Errorf("a timestamped signature under a root without Rekor: %v", err)
	}

	for name, tc := range map[string]struct {
		bundle []byte
		roots  []*TrustedRoot
		ids    []Identity
		digest string
		want   error
	}{
		"another subject": {bundle: good, ids: []Identity{{Issuer: testIssuer, Subject: "https://github.com/org/other"}}, want: ErrUntrustedIdentity},
		"another issuer":  {bundle: good, ids: []Identity{{Issuer: "https://accounts.example.com", SubjectRegExp: ".*"}}, want: ErrUntrustedIdentity},
		// Anchored: a regular expression that matches inside the subject is not enough.
		"unanchored match": {bundle: good, ids: []Identity{{Issuer: testIssuer, SubjectRegExp: `github\.com/org/charts`}}, want: ErrUntrustedIdentity},
		"another digest":   {bundle: good, digest: "sha256:" + strings.Repeat("b", 64), want: ErrOtherDigest},
		"another instance": {bundle: good, roots: []*TrustedRoot{otherSS.root}, want: ErrUntrustedKey},
		"an attestation": {bundle: k.sign(t, testSubject, testsign.KeylessOptions{PredicateType: "https://cosign.sigstore.dev/attestation/vuln/v1"}),
			want: ErrNotSignature},
		"expired at its only signed time": {bundle: k.sign(t, testSubject, testsign.KeylessOptions{NoTimestamp: true, LoggedAt: time.Now().Add(30 * time.Minute)}),
			want: ErrNoSignedTime},
		"no signed time":                      {bundle: k.sign(t, testSubject, testsign.KeylessOptions{NoSignedTime: true}), roots: []*TrustedRoot{tsaOnly}, want: ErrNoSignedTime},
		"no SCT where the root lists CT logs": {bundle: good, roots: []*TrustedRoot{withCT}, want: ErrUntrustedKey},
		// Where the root lists Rekor logs, a signature must be logged there.
		"not logged where the root lists Rekor": {bundle: k.sign(t, testSubject, testsign.KeylessOptions{NoLog: true}), want: ErrUntrustedKey},
	} {
		t.Run(name, func(t *testing.T) {
			roots := tc.roots
			if roots == nil {
				roots = []*TrustedRoot{k.root}
			}
			if tc.ids == nil {
				tc.ids = ids
			}
			if tc.digest == "" {
				tc.digest = k.digest
			}
			_, err := VerifyKeyless(tc.bundle, roots, tc.ids, tc.digest)
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyKeyless = %v, want %v", err, tc.want)
			}
		})
	}

	// A keyed bundle is not keyless.
	key, _ := cosignKey(t)
	if IsKeyless(key.Bundle("r.io/charts/app", k.digest)) {
		t.Error("IsKeyless = true for a keyed bundle")
	}
}

func TestParseIdentity(t *testing.T) {
	id, err := ParseIdentity("https://token.actions.githubusercontent.com=^https://github.com/org/.*$")
	if err != nil || id.Issuer != "https://token.actions.githubusercontent.com" || id.SubjectRegExp != "^https://github.com/org/.*$" {
		t.Fatalf("ParseIdentity = %+v, %v", id, err)
	}
	for in, want := range map[string]string{
		"https://issuer":   "expected ISSUER=SUBJECT_REGEXP",
		"=x":               "expected ISSUER=SUBJECT_REGEXP",
		"https://issuer=(": "not valid by itself",
		// Valid only once wrapped in ^(?:…)$: it would match every subject.
		"https://issuer=https://github.com/org/.*)|(.*": "not valid by itself",
		"https://issuer=\x1b[31mx":                      "",
	} {
		_, err := ParseIdentity(in)
		if want == "" {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseIdentity(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestParseTrustedRoot(t *testing.T) {
	for name, tc := range map[string]struct{ data, want string }{
		"not JSON":   {"nope", "is not a Sigstore trusted root"},
		"empty":      {"{}", "is not a Sigstore trusted root"},
		"too large":  {strings.Repeat(" ", MaxTrustedRoot+1), "is larger than"},
		"no Fulcio":  {`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`, "names no Fulcio certificate authority"},
		"hostile":    {"\x1b[2J", "is not a Sigstore trusted root"},
		"wrong type": {`{"mediaType":"text/plain"}`, "is not a Sigstore trusted root"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseTrustedRoot([]byte(tc.data), "the root")
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.ContainsRune(err.Error(), 0x1b) {
				t.Fatalf("ParseTrustedRoot = %v, want %q", err, tc.want)
			}
		})
	}
}

// With nothing cached and --offline, the public instance's root is refused
// without a request.
func TestPublicTrustedRootOfflineEmptyCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tuf")
	_, err := PublicTrustedRoot(t.Context(), dir, true)
	if err == nil || !strings.Contains(err.Error(), "not cached") {
		t.Fatalf("PublicTrustedRoot = %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "tuf-repo-cdn.sigstore.dev", "trusted_root.json")); statErr == nil {
		t.Error("a trusted root appeared in the cache")
	}
}

// TestIdentityExampleMatchesGitHub: the example --verify-identity's error
// gives matches a real GitHub Actions identity, anchored as it is checked.
func TestIdentityExampleMatchesGitHub(t *testing.T) {
	_, err := ParseIdentity("no-equals-sign")
	if err == nil {
		t.Fatal("no error")
	}
	_, example, ok := strings.Cut(err.Error(), "for example ")
	if !ok {
		t.Fatalf("no example in %q", err)
	}
	id, err := ParseIdentity(example)
	if err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
	re := regexp.MustCompile(anchor(strings.ReplaceAll(id.SubjectRegExp, "ORG/REPO", "example/charts")))
	if s := "https://github.com/example/charts/.github/workflows/release.yml@refs/heads/main"; !re.MatchString(s) || id.Issuer != "https://token.actions.githubusercontent.com" {
		t.Errorf("the example %q does not match %s", example, s)
	}
}
