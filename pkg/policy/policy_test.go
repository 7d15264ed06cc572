package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocisrc/ocisrc/internal/dialkey"
	"github.com/ocisrc/ocisrc/internal/testsign"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/place"
)

var (
	fileSrc = Source{Kind: SourceFile, Name: "/etc/ocisrc/registry-policy.yaml"}
	cmSrc   = Source{Kind: SourceConfigMap, Name: "deployment-system/ocisrc-registry-policy"}
)

const head = "apiVersion: ocisrc.dev/v1alpha1\nkind: RegistryPolicy\n"

func selfSigned(t testing.TB, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: k})
}

func indent(s, pad string) string {
	return pad + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pad)
}

func TestDecodeErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		src  Source
		doc  string
		want string
	}{
		"empty":            {fileSrc, "", `registry policy file "/etc/ocisrc/registry-policy.yaml": it is empty`},
		"not YAML":         {fileSrc, "a: [", "not valid YAML"},
		"duplicate key":    {fileSrc, head + "kind: RegistryPolicy\n", "not valid YAML"},
		"wrong apiVersion": {fileSrc, "apiVersion: v1\nkind: RegistryPolicy\n", `apiVersion: must be ocisrc.dev/v1alpha1, got "v1"`},
		"wrong kind":       {fileSrc, "apiVersion: ocisrc.dev/v1alpha1\nkind: ConfigMap\n", `kind: must be RegistryPolicy, got "ConfigMap"`},
		"unknown top field": {fileSrc, head + "registires: []\n",
			"registires: unknown field: expected one of apiVersion, kind, allowUnboundSystemSecrets, registries"},
		"unknown nested field": {fileSrc, head + "registries:\n- prefix: r.io\n  mirrors:\n  - locaton: m.io\n",
			"registries[0].mirrors[0].locaton: unknown field: expected one of location, resolveTags, secretRef"},
		"wrong type":            {fileSrc, head + "registries:\n- prefix: r.io\n  blocked: \"yes please\"\n", `registries[0].blocked: must be true or false, got the string "yes please"`},
		"registries not a list": {fileSrc, head + "registries: {prefix: r.io}\n", "registries: must be a list, got an object"},
		"prefix missing":        {fileSrc, head + "registries:\n- blocked: true\n", "registries[0].prefix: is required"},
		"prefix with a scheme":  {fileSrc, head + "registries:\n- prefix: oci://r.io/charts\n", `registries[0].prefix: "oci://r.io/charts" must not have a scheme`},
		"prefix with a tag":     {fileSrc, head + "registries:\n- prefix: r.io/charts/app:1.0\n", "has an invalid path"},
		"prefix shell":          {fileSrc, head + "registries:\n- prefix: \"r.io';x\"\n", `has an invalid host`},
		"duplicate prefix":      {fileSrc, head + "registries:\n- prefix: r.io\n- prefix: R.io/\n", `registries[1].prefix: "R.io/" is also the prefix of registries[0]`},
		"bad origin":            {fileSrc, head + "registries:\n- prefix: r.io\n  origin: sometimes\n", `registries[0].origin: must be fallback or never, got "sometimes"`},
		"never without mirrors": {fileSrc, head + "registries:\n- prefix: r.io\n  origin: never\n", "is never, but the prefix has no mirrors"},
		"blocked with mirrors":  {fileSrc, head + "registries:\n- prefix: r.io\n  blocked: true\n  mirrors: [{location: m.io}]\n", "registries[0].blocked: a blocked prefix has no mirrors"},
		"bad CA":                {fileSrc, head + "registries:\n- prefix: r.io\n  tls: {ca: not a pem}\n", "registries[0].tls.ca: holds no PEM certificate"},
		"cert without key":      {fileSrc, head + "registries:\n- prefix: r.io\n  tls: {certFile: c.pem}\n", "registries[0].tls: certFile and keyFile must be given together"},
		"mirror is the prefix":  {fileSrc, head + "registries:\n- prefix: r.io/charts\n  mirrors: [{location: r.io/charts}]\n", "is the prefix itself"},
		"mirror twice":          {fileSrc, head + "registries:\n- prefix: r.io\n  mirrors: [{location: m.io}, {location: m.io}]\n", `registries[0].mirrors[1].location: "m.io" is listed twice`},
		"bad secret name":       {fileSrc, head + "registries:\n- prefix: r.io\n  mirrors: [{location: m.io, secretRef: {name: Bad_Name}}]\n", `registries[0].mirrors[0].secretRef.name: must be a Secret name`},
		"ConfigMap insecure": {cmSrc, head + "registries:\n- prefix: r.io\n  tls: {insecureSkipVerify: true}\n",
			`ConfigMap "deployment-system/ocisrc-registry-policy": registries[0].tls.insecureSkipVerify: may be set only in a local policy file, never from the cluster: a ConfigMap that sets it is refused as a whole`},
		"ConfigMap plain HTTP":     {cmSrc, head + "registries:\n- prefix: r.io\n  plainHTTP: true\n", "registries[0].plainHTTP: may be set only in a local policy file"},
		"ConfigMap caFile":         {cmSrc, head + "registries:\n- prefix: r.io\n  tls: {caFile: /etc/passwd}\n", "registries[0].tls.caFile: may be set only in a local policy file"},
		"ConfigMap certFile":       {cmSrc, head + "registries:\n- prefix: r.io\n  tls: {certFile: c, keyFile: k}\n", "registries[0].tls.certFile: may be set only in a local policy file"},
		"ConfigMap allows unbound": {cmSrc, head + "allowUnboundSystemSecrets: true\n", "allowUnboundSystemSecrets: may be set only in a local policy file"},
		"provenance without a source": {fileSrc, head + "registries:\n- prefix: r.io\n  verify:\n    provenance: {builderID: b, keyless: {identities: [{issuer: i, subject: s}]}}\n",
			"registries[0].verify.provenance.sourceRepository: is required (or sourceRepositoryRegExp)"},
		"provenance without a signer": {fileSrc, head + "registries:\n- prefix: r.io\n  verify:\n    provenance: {sourceRepository: https://github.com/o/r}\n",
			"registries[0].verify.provenance: needs keys, a secretRef or keyless"},
		"provenance predicate type": {fileSrc, head + "registries:\n- prefix: r.io\n  verify:\n    provenance: {predicateType: https://slsa.dev/provenance/v0.1, sourceRepository: x, keyless: {identities: [{issuer: i, subject: s}]}}\n",
			`registries[0].verify.provenance.predicateType: must be https://slsa.dev/provenance/v1 (the default) or https://slsa.dev/provenance/v0.2, got "https://slsa.dev/provenance/v0.1"`},
		"provenance both forms": {fileSrc, head + "registries:\n- prefix: r.io\n  verify:\n    provenance: {sourceRepository: x, sourceRepositoryRegExp: z.*, keyless: {identities: [{issuer: i, subject: s}]}}\n",
			"registries[0].verify.provenance.sourceRepository: give sourceRepository or sourceRepositoryRegExp, not both"},
		"provenance regexp escaping its anchors": {fileSrc, head + "registries:\n- prefix: r.io\n  verify:\n    provenance: {sourceRepositoryRegExp: 'x)|(.*', keyless: {identities: [{issuer: i, subject: s}]}}\n",
			"registries[0].verify.provenance.sourceRepositoryRegExp: has a regular expression that is not valid by itself"},
		"ConfigMap provenance root file": {cmSrc, head + "registries:\n- prefix: r.io\n  verify:\n    provenance: {sourceRepository: x, keyless: {identities: [{issuer: i, subject: s}], trustedRootFile: r.json}}\n",
			"registries[0].verify.provenance.keyless.trustedRootFile: may be set only in a local policy file"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(tc.doc), tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadReadsFilesRelativeToThePolicy(t *testing.T) {
	dir := t.TempDir()
	ca, _ := selfSigned(t, "file CA")
	cert, key := selfSigned(t, "client")
	for name, data := range map[string][]byte{"ca.pem": ca, "client.pem": cert, "client-key.pem": key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := Source{Kind: SourceFile, Name: filepath.Join(dir, "policy.yaml")}
	l, err := Load([]byte(head+"registries:\n- prefix: r.io\n  tls: {caFile: ca.pem, certFile: client.pem, keyFile: client-key.pem}\n"), src)
	if err != nil {
		t.Fatal(err)
	}
	st := Set{Layers: []*Loaded{l}}.For(mustPlace(t, "r.io/charts/app"))
	if len(st.TLS.CAs) != 1 || st.TLS.CAs[0].Subjects[0] != "CN=file CA" || st.TLS.ClientCertificate == nil || st.TLS.ClientCertificate.Subject != "CN=client" {
		t.Fatalf("TLS = %+v", st.TLS)
	}
	_, err = Load([]byte(head+"registries:\n- prefix: r.io\n  tls: {caFile: missing.pem}\n"), src)
	if err == nil || !strings.Contains(err.Error(), `registries[0].tls.caFile: cannot read "`+filepath.Join(dir, "missing.pem")+`"`) {
		t.Fatalf("missing file: %v", err)
	}
	_, err = Load([]byte(head+"registries:\n- prefix: r.io\n  tls: {certFile: client.pem, keyFile: ca.pem}\n"), src)
	if err == nil || !strings.Contains(err.Error(), "not a matching PEM certificate and key") {
		t.Fatalf("mismatched pair: %v", err)
	}
}

func TestMatchesEverySpellingOfAPlace(t *testing.T) {
	l := mustLoad(t, fileSrc, `registries:
- prefix: r.io/charts
  blocked: true
- prefix: 127.0.0.1:5000/charts
  blocked: true
- prefix: docker.io
  blocked: true
- prefix: registry.example.com:443
  blocked: true
`)
	set := Set{Layers: []*Loaded{l}}
	for repo, want := range map[string]bool{
		"r.io/charts/app":            true,
		"R.IO/charts/app":            true,
		"r.io:443/charts/app":        true,
		"r.io:0443/charts/app":       true,
		"r.io/charts":                true,
		"r.io/char/app":              false,
		"r.io/charts-old/app":        false,
		"r.io:5000/charts/app":       false,
		"127.0.0.1:05000/charts/app": true,
		"127.0.0.1:5000/charts/app":  true,
		"127.0.0.1:5001/charts/app":  false,
		"registry-1.docker.io/x/app": true,
		"index.docker.io/x/app":      true,
		"docker.io/x/app":            true,
		"docker.io:5000/x/app":       false,
		"registry.example.com/a/b":   true,
		"Registry.Example.com:443/a": true,
	} {
		if got := set.For(mustPlace(t, repo)).Blocked; got != want {
			t.Errorf("blocked(%s) = %v, want %v", repo, got, want)
		}
	}
}

func mustPlace(t testing.TB, s string) place.Place {
	t.Helper()
	p, err := place.ParsePlace(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, src Source, doc string) *Loaded {
	t.Helper()
	l, err := Load([]byte(head+doc), src)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestFor(t *testing.T) {
	caA, _ := selfSigned(t, "CA of the file")
	caB, _ := selfSigned(t, "CA of the cluster")
	file := mustLoad(t, fileSrc, `allowUnboundSystemSecrets: true
registries:
- prefix: r.io
  tls:
    ca: |
`+indent(string(caA), "      ")+`
    insecureSkipVerify: true
- prefix: r.io/charts/special
  mirrors: [{location: local.mirror/special}]
- prefix: blocked-by-file.io
  blocked: true
- prefix: mirror.internal:5000
  tls:
    ca: |
`+indent(string(caA), "      ")+`
`)
	cm := mustLoad(t, cmSrc, `registries:
- prefix: r.io/charts
  tls:
    ca: |
`+indent(string(caB), "      ")+`
  mirrors:
  - location: mirror.internal:5000/base
    secretRef: {name: mirror-credentials}
  - location: second.mirror/x
    resolveTags: true
  origin: never
- prefix: r.io/charts/special
  origin: never
  mirrors: [{location: cluster.mirror/special}]
- prefix: evil.io
  blocked: true
`)
	set := Set{Layers: []*Loaded{file, cm}}

	st := set.For(mustPlace(t, "r.io/charts/app"))
	if len(st.Matches) != 2 || st.Matches[0].Prefix.String() != "r.io" || st.Matches[1].Prefix.String() != "r.io/charts" {
		t.Errorf("matches = %+v", st.Matches)
	}
	if st.Origin != OriginNever || st.OriginFrom != cmSrc.String()+" (prefix r.io/charts)" {
		t.Errorf("origin = %s from %s", st.Origin, st.OriginFrom)
	}
	if len(st.Mirrors) != 2 || st.Mirrors[0].Repository.String() != "mirror.internal:5000/base/app" || st.Mirrors[0].Host.String() != "mirror.internal:5000" ||
		st.Mirrors[0].SecretRef != "mirror-credentials" || st.Mirrors[1].Repository.String() != "second.mirror/x/app" || !st.Mirrors[1].ResolveTags {
		t.Errorf("mirrors = %+v", st.Mirrors)
	}
	if len(st.Mirrors[0].TLS.CAs) != 1 || st.Mirrors[0].TLS.CAs[0].Subjects[0] != "CN=CA of the file" {
		t.Errorf("the mirror's TLS = %+v", st.Mirrors[0].TLS)
	}
	if len(st.TLS.CAs) != 2 || !st.TLS.InsecureSkipVerify || st.TLS.InsecureSkipVerifyFrom != fileSrc.String()+" (prefix r.io)" {
		t.Errorf("TLS = %+v: want the union of both CAs and the file's insecureSkipVerify", st.TLS)
	}
	if !st.AllowUnboundSystemSecrets {
		t.Error("the file's allowUnboundSystemSecrets is lost")
	}

	// Mirrors and origin each come from the longest prefix that sets them;
	// on a tie the file's: the file's mirrors, the ConfigMap's origin (the
	// file does not set one).
	st = set.For(mustPlace(t, "r.io/charts/special/app"))
	if len(st.Mirrors) != 1 || st.Mirrors[0].Repository.String() != "local.mirror/special/app" || st.Mirrors[0].From != fileSrc.String()+" (prefix r.io/charts/special)" ||
		st.Origin != OriginNever || st.OriginFrom != cmSrc.String()+" (prefix r.io/charts/special)" {
		t.Errorf("special: %+v", st)
	}
	// Blocked is a union.
	for repo, want := range map[string]bool{"evil.io/x": true, "blocked-by-file.io/x": true, "r.io/charts/app": false} {
		if got := set.For(mustPlace(t, repo)).Blocked; got != want {
			t.Errorf("blocked(%s) = %v, want %v", repo, got, want)
		}
	}
	// Nothing matches: the defaults.
	st = set.For(mustPlace(t, "elsewhere.io/app"))
	if st.Blocked || st.Origin != OriginFallback || len(st.Mirrors) != 0 || len(st.TLS.CAs) != 0 || len(st.Matches) != 0 {
		t.Errorf("no match: %+v", st)
	}
	// A ConfigMap alone never relaxes TLS or allows unbound Secrets.
	if st := (Set{Layers: []*Loaded{cm}}).For(mustPlace(t, "r.io/charts/app")); st.TLS.InsecureSkipVerify || st.TLS.PlainHTTP || st.AllowUnboundSystemSecrets {
		t.Errorf("ConfigMap alone: %+v", st)
	}
}

// TestEachFieldFromItsLongestPrefix: within one document, a longer prefix
// that sets only some fields leaves the others as the shorter prefix sets
// them.
func TestEachFieldFromItsLongestPrefix(t *testing.T) {
	ca, _ := selfSigned(t, "team CA")
	cosignKey, err := testsign.NewCosignKey()
	if err != nil {
		t.Fatal(err)
	}
	key := string(cosignKey.PublicPEM)
	doc := mustLoad(t, fileSrc, `registries:
- prefix: r.io/base
  verify:
    cosign:
      keys:
      - |
`+indent(key, "        ")+`
  mirrors: [{location: m.io/base}]
  origin: never
- prefix: r.io/base/team-x
  tls:
    ca: |
`+indent(string(ca), "      ")+`
- prefix: r.io/blocked
  blocked: true
- prefix: r.io/blocked/open
  blocked: false
- prefix: r.io/blocked/open/tls-only
  tls:
    ca: |
`+indent(string(ca), "      ")+`
`)
	set := Set{Layers: []*Loaded{doc}}
	st := set.For(mustPlace(t, "r.io/base/team-x/app"))
	if !st.Verify.Required || st.Verify.RequiredBy[0] != fileSrc.String()+" (prefix r.io/base)" {
		t.Errorf("verify = %+v: a TLS-only longer prefix dropped the shorter prefix's verify", st.Verify)
	}
	if st.Origin != OriginNever || len(st.Mirrors) != 1 || len(st.TLS.CAs) != 1 || st.TLS.CAs[0].From != fileSrc.String()+" (prefix r.io/base/team-x) (tls.ca)" {
		t.Errorf("settings = %+v", st)
	}
	for repo, want := range map[string]bool{"r.io/blocked/app": true, "r.io/blocked/open/app": false, "r.io/blocked/open/tls-only/app": false} {
		if got := set.For(mustPlace(t, repo)).Blocked; got != want {
			t.Errorf("blocked(%s) = %v, want %v", repo, got, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		head,
		head + "registries:\n- prefix: r.io/charts\n  mirrors: [{location: m.io:5000/base, resolveTags: true, secretRef: {name: m}}]\n  origin: never\n",
		head + "registries:\n- prefix: r.io\n  blocked: true\n",
		head + "registries:\n- prefix: r.io\n  tls: {insecureSkipVerify: true, ca: x}\n  plainHTTP: true\n",
		"{\"apiVersion\":\"ocisrc.dev/v1alpha1\",\"kind\":\"RegistryPolicy\",\"registries\":[{\"prefix\":\"a\"}]}",
		head + "registries: [{prefix: r.io, blocked: 1}]\n",
		"a: &a [*a, *a]\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, configMap bool) {
		src := fileSrc
		if configMap {
			src = cmSrc
		}
		doc, err := Decode(data, src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), src.String()+": ") {
				t.Fatalf("error does not name the source: %v", err)
			}
			return
		}
		for i, r := range doc.Registries {
			if again, err := ParsePrefix(r.Prefix); err != nil || again.String() != r.Prefix || again != r.prefix {
				t.Fatalf("registries[%d].prefix %q accepted, but parses to %q, %v", i, r.Prefix, again, err)
			}
			if configMap && (r.PlainHTTP || r.TLS != nil && (r.TLS.InsecureSkipVerify || r.TLS.CAFile != "" || r.TLS.CertFile != "" || r.TLS.KeyFile != "")) {
				t.Fatalf("a ConfigMap set a local-only field: %+v", r)
			}
			for _, m := range r.Mirrors {
				if _, err := ParsePrefix(m.Location); err != nil {
					t.Fatalf("mirror %q accepted: %v", m.Location, err)
				}
			}
		}
		if configMap && doc.AllowUnboundSystemSecrets {
			t.Fatal("a ConfigMap allowed unbound Secrets")
		}
	})
}

// FuzzMatchedIsDialled: the policy matches a reference exactly when the
// host and port a dialler reaches for the reference, as the Component wrote
// it, are those it reaches for the prefix, as the policy wrote it, and the
// repository is under the prefix's path; and the canonical reference
// ocisrc dials reaches that same host and port. So no spelling of a host
// escapes a block, and none is blocked in another's name.
func FuzzMatchedIsDialled(f *testing.F) {
	for _, c := range [][2]string{
		{"127.0.0.1:5000/charts", "oci://127.0.0.1:05000/charts/app:1.0.0"},
		{"registry.example.com", "oci://registry.example.com:443/x/app:1.0.0"},
		{"docker.io", "oci://registry-1.docker.io/x/app:1.0.0"},
		{"index.docker.io/x", "oci://docker.io/x/app:1.0.0"},
		{"R.IO/charts", "oci://r.io/charts-old/app:1"},
		{"r.io:0443", "oci://r.io/a@sha256:" + strings.Repeat("a", 64)},
		{"[::1]:5000", "oci://[0::1]:5000/a/b:1"},
	} {
		f.Add(c[0], c[1])
	}
	yes := true
	f.Fuzz(func(t *testing.T, prefix, reference string) {
		ref, err := chartref.Parse(reference)
		if err != nil {
			return
		}
		pp, err := ParsePrefix(prefix)
		if err != nil {
			return
		}
		l := &Loaded{Doc: &Document{Registries: []Registry{{Prefix: pp.String(), prefix: pp, Blocked: &yes}}}, Source: fileSrc, files: make([]fileMaterial, 1)}
		blocked := Set{Layers: []*Loaded{l}}.For(ref.Place()).Blocked

		rawHost, rawPath, _ := strings.Cut(strings.TrimPrefix(reference, chartref.Scheme), "/")
		rawPath = rawPath[:strings.IndexAny(rawPath+"@", ":@")]
		prefixHost, prefixPath, _ := strings.Cut(strings.TrimSuffix(prefix, "/"), "/")
		dialled, ok1 := dialkey.Of(rawHost)
		matched, ok2 := dialkey.Of(prefixHost)
		canonical, ok3 := dialkey.Of(ref.Registry.Dial())
		if !ok1 || !ok2 || !ok3 {
			t.Fatalf("accepted hosts a URL parser cannot read: %q %q %q", rawHost, prefixHost, ref.Registry.Dial())
		}
		if canonical != dialled {
			t.Fatalf("%q dials %s, but ocisrc dials %s for it", reference, dialled, canonical)
		}
		under := prefixPath == "" || rawPath == prefixPath || strings.HasPrefix(rawPath, prefixPath+"/")
		if want := dialled == matched && under; blocked != want {
			t.Fatalf("prefix %q blocks %q: %v; it dials %s, the prefix %s (path under: %v)", prefix, reference, blocked, dialled, matched, under)
		}
	})
}

// TestDocumentedExamples: every RegistryPolicy in the README and docs/
// decodes (the certificates and keys elided there replaced by real ones).
// The air-gap example is the platform's ConfigMap, so it must pass as one.
func TestDocumentedExamples(t *testing.T) {
	var readme []byte
	pages, _ := filepath.Glob("../../docs/*.md")
	for _, f := range append([]string{"../../README.md"}, pages...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		readme = append(readme, b...)
	}
	ca, _ := selfSigned(t, "readme")
	cosignKey, err := testsign.NewCosignKey()
	if err != nil {
		t.Fatal(err)
	}
	pgpKey, err := testsign.NewPGPKey("readme", "readme@example.com")
	if err != nil {
		t.Fatal(err)
	}
	real := map[string][]byte{
		"-----BEGIN CERTIFICATE-----":          ca,
		"-----BEGIN PUBLIC KEY-----":           cosignKey.PublicPEM,
		"-----BEGIN PGP PUBLIC KEY BLOCK-----": pgpKey.PublicArmored(),
	}
	n := 0
	for _, block := range strings.Split(string(readme), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(block, "```")
		if !strings.Contains(body, "kind: RegistryPolicy") {
			continue
		}
		n++
		var lines []string
		skipping := ""
		for _, l := range strings.Split(body, "\n") {
			trimmed := strings.TrimSpace(l)
			if skipping != "" {
				if trimmed == "…" || strings.HasPrefix(trimmed, "-----BEGIN") {
					continue
				}
				skipping = ""
			}
			if pemData, ok := real[trimmed]; ok {
				pad := l[:len(l)-len(strings.TrimLeft(l, " "))]
				lines = append(lines, indent(string(pemData), pad))
				skipping = pad
				continue
			}
			lines = append(lines, l)
		}
		doc := strings.Join(lines, "\n")
		src := fileSrc
		if strings.Contains(doc, "origin: never") {
			src = cmSrc
		}
		if _, err := Decode([]byte(doc), src); err != nil {
			t.Errorf("documented example %d: %v\n%s", n, err, doc)
		}
	}
	if n < 5 {
		t.Errorf("found %d RegistryPolicy examples in the README and docs/, want 5", n)
	}
}

func TestVerifySettings(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"no provider":                  {"registries:\n- prefix: r.io\n  verify: {}\n", "registries[0].verify: names no provider"},
		"cosign empty":                 {"registries:\n- prefix: r.io\n  verify: {cosign: {}}\n", "registries[0].verify.cosign: needs keys, a secretRef or keyless"},
		"bad key":                      {"registries:\n- prefix: r.io\n  verify: {cosign: {keys: [nope]}}\n", "registries[0].verify.cosign.keys[0]: the key holds no PEM public key"},
		"bad keyring":                  {"registries:\n- prefix: r.io\n  verify: {helm: {keyring: nope}}\n", "registries[0].verify.helm.keyring: the keyring is not an OpenPGP keyring"},
		"unknown field":                {"registries:\n- prefix: r.io\n  verify: {sigstore: {}}\n", "registries[0].verify.sigstore: unknown field: expected one of cosign, helm, notation"},
		"notation empty":               {"registries:\n- prefix: r.io\n  verify: {notation: {}}\n", "registries[0].verify.notation: needs a trustStore or a secretRef"},
		"notation no identities":       {"registries:\n- prefix: r.io\n  verify: {notation: {secretRef: {name: certs}}}\n", "registries[0].verify.notation.identities: is required"},
		"notation bad identity":        {"registries:\n- prefix: r.io\n  verify: {notation: {secretRef: {name: certs}, identities: [\"CN=x\"]}}\n", "registries[0].verify.notation.identities[0]: \"CN=x\" is not a Notation trusted identity"},
		"notation bad cert":            {"registries:\n- prefix: r.io\n  verify: {notation: {trustStore: [nope], identities: [\"*\"]}}\n", "registries[0].verify.notation.trustStore[0]: the certificate holds no PEM certificate"},
		"keyless no identities":        {"registries:\n- prefix: r.io\n  verify: {cosign: {keyless: {}}}\n", "registries[0].verify.cosign.keyless.identities: is required"},
		"keyless half identity":        {"registries:\n- prefix: r.io\n  verify: {cosign: {keyless: {identities: [{issuer: x}]}}}\n", "registries[0].verify.cosign.keyless.identities[0]: needs exactly one of subject and subjectRegExp"},
		"keyless bad regexp":           {"registries:\n- prefix: r.io\n  verify: {cosign: {keyless: {identities: [{issuer: x, subjectRegExp: \"(\"}]}}}\n", "registries[0].verify.cosign.keyless.identities[0]: has a regular expression that is not valid by itself"},
		"keyless two roots":            {"registries:\n- prefix: r.io\n  verify: {cosign: {keyless: {identities: [{issuer: x, subject: me}], trustedRoot: \"{}\", configMapRef: {name: r}}}}\n", "registries[0].verify.cosign.keyless: give at most one of trustedRoot, trustedRootFile and configMapRef"},
		"keyless bad root":             {"registries:\n- prefix: r.io\n  verify: {cosign: {keyless: {identities: [{issuer: x, subject: me}], trustedRoot: \"{}\"}}}\n", "registries[0].verify.cosign.keyless.trustedRoot: the trusted root"},
		"keyless root file in cluster": {"registries:\n- prefix: r.io\n  verify: {cosign: {keyless: {identities: [{issuer: x, subject: me}], trustedRootFile: /etc/root.json}}}\n", "verify.cosign.keyless.trustedRootFile"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(head+tc.doc), cmSrc); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode = %v, want %q", err, tc.want)
			}
		})
	}
	k1, _ := testsign.NewCosignKey()
	k2, _ := testsign.NewCosignKey()
	file := mustLoad(t, fileSrc, "registries:\n- prefix: r.io/charts/app\n  verify:\n    cosign:\n      keys:\n      - |\n"+indent(string(k1.PublicPEM), "        ")+"\n")
	cm := mustLoad(t, cmSrc, "registries:\n- prefix: r.io\n  verify:\n    cosign:\n      keys:\n      - |\n"+indent(string(k2.PublicPEM), "        ")+"\n      secretRef: {name: keys}\n")
	st := Set{Layers: []*Loaded{file, cm}}.For(mustPlace(t, "r.io/charts/app"))
	if !st.Verify.Required || len(st.Verify.RequiredBy) != 2 || len(st.Verify.CosignKeys) != 2 || len(st.Verify.CosignSecrets) != 1 || st.Verify.CosignSecrets[0].Secret != "keys" {
		t.Errorf("a union of both documents' requirements, got %+v", st.Verify)
	}
	// A file entry with no verify does not remove the cluster's.
	file = mustLoad(t, fileSrc, "registries:\n- prefix: r.io/charts/app\n  origin: fallback\n")
	if st := (Set{Layers: []*Loaded{file, cm}}).For(mustPlace(t, "r.io/charts/app")); !st.Verify.Required {
		t.Error("the local file removed the cluster's verify")
	}
	if st := (Set{Layers: []*Loaded{file}}).For(mustPlace(t, "r.io/charts/app")); st.Verify.Required {
		t.Error("verify required with none configured")
	}
}

// TestProvenanceApartFromSignatures: a signature and provenance are
// separate requirements, each from its own longest prefix; every
// document's provenance requirement is kept.
func TestProvenanceApartFromSignatures(t *testing.T) {
	cosignKey, err := testsign.NewCosignKey()
	if err != nil {
		t.Fatal(err)
	}
	doc := mustLoad(t, fileSrc, `registries:
- prefix: r.io/base
  verify:
    provenance:
      sourceRepository: https://github.com/example/charts
      keyless: {identities: [{issuer: i, subject: s}]}
- prefix: r.io/base/team-x
  verify:
    cosign:
      keys:
      - |
`+indent(string(cosignKey.PublicPEM), "        ")+`
`)
	cm := mustLoad(t, cmSrc, `registries:
- prefix: r.io
  verify:
    provenance:
      sourceRepositoryRegExp: 'https://github\.com/example/.*'
      keyless: {identities: [{issuer: i, subject: s}]}
`)
	st := Set{Layers: []*Loaded{doc, cm}}.For(mustPlace(t, "r.io/base/team-x/app"))
	if !st.Verify.Required || len(st.Verify.CosignKeys) != 1 {
		t.Errorf("signature: %+v", st.Verify)
	}
	if len(st.Verify.Provenance) != 2 || st.Verify.Provenance[0].SourceRepository != "https://github.com/example/charts" ||
		st.Verify.Provenance[0].From != fileSrc.String()+" (prefix r.io/base)" || st.Verify.Provenance[1].PredicateType != "https://slsa.dev/provenance/v1" {
		t.Errorf("provenance: %+v", st.Verify.Provenance)
	}
	only := Set{Layers: []*Loaded{doc}}.For(mustPlace(t, "r.io/base/app"))
	if only.Verify.Required || len(only.Verify.Provenance) != 1 {
		t.Errorf("provenance alone requires a signature: %+v", only.Verify)
	}
	if a, b := st.Verify.Rules, only.Verify.Rules; a == b {
		t.Errorf("different requirements share the rules %q", a)
	}
}
