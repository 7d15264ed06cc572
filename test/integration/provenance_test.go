package integration

// Provenance as a policy input: SLSA provenance attested with the real
// cosign CLI (keyed, in the Sigstore bundle format and in the legacy .att
// form) and keylessly with the private Sigstore instance, checked against
// verify.provenance and --require-provenance, with `cosign
// verify-attestation` as the oracle where it applies.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/internal/testenv"
	"github.com/ocisrc/ocisrc/internal/testsign"
)

const (
	ghBuilder   = "https://github.com/actions/runner/github-hosted"
	chartsRepo  = "https://github.com/example/charts"
	slsaV1      = "https://slsa.dev/provenance/v1"
	slsaV02     = "https://slsa.dev/provenance/v0.2"
	statementV1 = "https://in-toto.io/Statement/v1"
)

// slsaPredicate is a SLSA v1 predicate as GitHub's attest-build-provenance
// writes it, for builder, repository and ref.
func slsaPredicate(builder, repo, ref string) map[string]any {
	return map[string]any{
		"buildDefinition": map[string]any{
			"buildType": "https://actions.github.io/buildtypes/workflow/v1",
			"externalParameters": map[string]any{"workflow": map[string]any{
				"repository": repo, "ref": ref, "path": ".github/workflows/release.yml",
			}},
			"resolvedDependencies": []any{map[string]any{"uri": "git+" + repo + "@" + ref, "digest": map[string]string{"gitCommit": "7e2b6f1c0d"}}},
		},
		"runDetails": map[string]any{"builder": map[string]any{"id": builder}},
	}
}

// slsaV02Predicate is a SLSA v0.2 predicate.
func slsaV02Predicate(builder, repo, ref string) map[string]any {
	return map[string]any{
		"builder":   map[string]any{"id": builder},
		"buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
		"invocation": map[string]any{"configSource": map[string]any{
			"uri": "git+" + repo + "@" + ref, "entryPoint": ".github/workflows/release.yml",
		}},
	}
}

// inToto is an in-toto statement of the predicate for the chart p.
func inToto(t *testing.T, typ, predicateType string, p *testenv.Pushed, predicate any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"_type":         typ,
		"subject":       []any{map[string]any{"name": strings.TrimPrefix(strings.Split(p.Ref, ":")[0]+":"+strings.Split(p.Ref, ":")[1], "oci://"), "digest": map[string]string{"sha256": strings.TrimPrefix(p.Digest, "sha256:")}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// provenanceDoc is what the provenance tests read of fetch -o json.
type provenanceDoc struct {
	Results []struct {
		Component, Digest, Error, Reason string
		Cached                           bool
		Verified                         []struct{ Provider, Key, Issuer, Subject, Builder, Source string }
	} `json:"results"`
}

func decodeProvenance(t *testing.T, r result) provenanceDoc {
	t.Helper()
	var d provenanceDoc
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("stdout: %v\n%s", err, r)
	}
	return d
}

// cosignVerifiesAttestation runs the real `cosign verify-attestation` on
// ref (host/repo@digest) with args (the key or the keyless identity), for
// SLSA v1, with a Rego policy that checks the builder and the repository.
func cosignVerifiesAttestation(t *testing.T, h *testenv.Home, dir, ref string, args ...string) (bool, string) {
	t.Helper()
	bin, err := testenv.ToolPath("cosign", "cosign")
	if err != nil {
		t.Fatal(err)
	}
	// --policy is a list split at commas: the file's path has none.
	rego := filepath.Join(dir, "policy.rego")
	if err := os.WriteFile(rego, []byte(fmt.Sprintf(`package signature

default allow = false

allow {
	input.predicateType == %q
	input.predicate.runDetails.builder.id == %q
	input.predicate.buildDefinition.externalParameters.workflow.repository == %q
}
`, slsaV1, ghBuilder, chartsRepo)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(bin, append(append([]string{"verify-attestation", "--type", "slsaprovenance1", "--policy", rego}, args...), ref)...)
	c.Env = append(h.Environ(map[string]string{}), "SSL_CERT_FILE="+stack.Open.CAFile)
	out, err := c.CombinedOutput()
	return err == nil, string(out)
}

func TestProvenance(t *testing.T) {
	ctx := context.Background()
	h := newHome(t)
	dir := t.TempDir()
	// A cosign key pair, imported into cosign's format.
	k, err := testsign.NewCosignKeyOf("p256")
	if err != nil {
		t.Fatal(err)
	}
	priv := filepath.Join(dir, "builder.pem")
	if err := os.WriteFile(priv, k.PrivatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(dir, "builder")
	signerCLI(t, h, "cosign", "import-key-pair", "--key", priv, "--output-key-prefix", prefix, "--yes")
	pub, err := os.ReadFile(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	predicate := func(name string, pred any) string {
		path := filepath.Join(dir, name+".json")
		b, _ := json.Marshal(pred)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := predicate("good", slsaPredicate(ghBuilder, chartsRepo, "refs/heads/main"))
	attest := func(p *testenv.Pushed, repo, typ, pred string, legacy bool) {
		signerCLI(t, h, "cosign", "attest", "--key", prefix+".key", "--tlog-upload=false", "--use-signing-config=false",
			"--new-bundle-format="+fmt.Sprint(!legacy), "--type", typ, "--predicate", pred, "--yes", stack.Open.Host+"/"+repo+"@"+p.Digest)
	}
	ss, err := testsign.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	root, err := ss.TrustedRoot(testsign.RootOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rootFile := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(rootFile, root, 0o644); err != nil {
		t.Fatal(err)
	}
	keylessBundle := func(p *testenv.Pushed, repo, subject string, statement []byte) {
		b, err := ss.Sign(subject, ciIssuer, "", nil, p.Digest, testsign.KeylessOptions{Statement: statement})
		if err != nil {
			t.Fatal(err)
		}
		if err := stack.Open.PushAttestationReferrer(ctx, repo, p.Manifest, b, slsaV1, auth.Credential{}); err != nil {
			t.Fatal(err)
		}
	}
	keylessLegacy := func(p *testenv.Pushed, repo string, statement []byte) {
		env, ann, err := ss.AttestLegacy(ciSubject, ciIssuer, statement, testsign.LegacyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := stack.Open.PushLegacy(ctx, repo, p.Digest, ".att", auth.Credential{}, testenv.LegacyLayer{MediaType: "application/vnd.dsse.envelope.v1+json", Data: env, Annotations: ann}); err != nil {
			t.Fatal(err)
		}
	}
	chart := func(name string) (*testenv.Pushed, string) {
		repo := "provenance/" + name
		return pushFor(t, repo, "1.0.0"), repo
	}

	type tc struct {
		name   string
		chart  *testenv.Pushed
		keyed  bool
		accept bool
		want   string
		// oracle: whether cosign verify-attestation (with the Rego
		// policy) is asked; it must agree.
		oracle bool
	}
	var cases []tc
	add := func(c tc) { cases = append(cases, c) }

	p, repo := chart("keyed-bundle")
	attest(p, repo, "slsaprovenance1", good, false)
	add(tc{name: "keyed, Sigstore bundle", chart: p, keyed: true, accept: true, oracle: true})

	p, repo = chart("keyed-legacy")
	attest(p, repo, "slsaprovenance1", good, true)
	add(tc{name: "keyed, legacy .att (statement v0.1)", chart: p, keyed: true, accept: true, oracle: true})

	// Another key: a second pair, imported as the first.
	k2, err := testsign.NewCosignKeyOf("p256")
	if err != nil {
		t.Fatal(err)
	}
	priv2 := filepath.Join(dir, "stranger.pem")
	if err := os.WriteFile(priv2, k2.PrivatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	prefix2 := filepath.Join(dir, "stranger")
	signerCLI(t, h, "cosign", "import-key-pair", "--key", priv2, "--output-key-prefix", prefix2, "--yes")
	for _, legacy := range []bool{false, true} {
		name := map[bool]string{false: "stranger-bundle", true: "stranger-legacy"}[legacy]
		p, repo := chart(name)
		signerCLI(t, h, "cosign", "attest", "--key", prefix2+".key", "--tlog-upload=false", "--use-signing-config=false",
			"--new-bundle-format="+fmt.Sprint(!legacy), "--type", "slsaprovenance1", "--predicate", good, "--yes", stack.Open.Host+"/"+repo+"@"+p.Digest)
		add(tc{name: "another key, " + name, chart: p, keyed: true, want: "signed by an untrusted key", oracle: true})
	}

	p, repo = chart("other-repo")
	attest(p, repo, "slsaprovenance1", predicate("other-repo", slsaPredicate(ghBuilder, "https://github.com/example/fork", "refs/heads/main")), false)
	add(tc{name: "another repository", chart: p, keyed: true, want: `built from another source: "https://github.com/example/fork@refs/heads/main", expected ` + chartsRepo, oracle: true})

	p, repo = chart("other-builder")
	attest(p, repo, "slsaprovenance1", predicate("other-builder", slsaPredicate("https://ci.example.com/self-hosted", chartsRepo, "refs/heads/main")), false)
	add(tc{name: "another builder", chart: p, keyed: true, want: `built by another builder: "https://ci.example.com/self-hosted"`, oracle: true})

	p, repo = chart("contradicted")
	contradicted := slsaPredicate(ghBuilder, chartsRepo, "refs/heads/main")
	contradicted["buildDefinition"].(map[string]any)["resolvedDependencies"] = []any{map[string]any{"uri": "git+https://github.com/evil/charts@refs/heads/main"}}
	attest(p, repo, "slsaprovenance1", predicate("contradicted", contradicted), false)
	add(tc{name: "a resolved dependency contradicts the workflow", chart: p, keyed: true, want: `built from another source: the workflow names "` + chartsRepo + `" but a resolved dependency is "git+https://github.com/evil/charts@refs/heads/main"`})

	p, repo = chart("other-type")
	attest(p, repo, "vuln", predicate("scan", map[string]any{"scanner": map[string]any{"uri": "pkg:github/aquasecurity/trivy"}}), false)
	add(tc{name: "another predicate type", chart: p, keyed: true, want: `another predicate type: "https://cosign.sigstore.dev/attestation/vuln/v1", expected ` + slsaV1, oracle: true})

	source, sourceRepo := chart("source")
	attest(source, sourceRepo, "slsaprovenance1", good, false)
	p, repo = chart("copied")
	// The attestation of another chart, copied as a referrer of this one.
	src, _ := stack.Open.ReferrerLayer(ctx, sourceRepo, source.Manifest)
	if err := stack.Open.PushAttestationReferrer(ctx, repo, p.Manifest, src, slsaV1, auth.Credential{}); err != nil {
		t.Fatal(err)
	}
	add(tc{name: "an attestation of another digest", chart: p, keyed: true, want: "an attestation of another digest", oracle: true})

	p, repo = chart("unsigned")
	stmt := inToto(t, statementV1, slsaV1, p, slsaPredicate(ghBuilder, chartsRepo, "refs/heads/main"))
	unsignedEnv, _ := json.Marshal(map[string]any{"payloadType": "application/vnd.in-toto+json", "payload": base64.StdEncoding.EncodeToString(stmt), "signatures": []any{}})
	if err := stack.Open.PushLegacy(ctx, repo, p.Digest, ".att", auth.Credential{}, testenv.LegacyLayer{MediaType: "application/vnd.dsse.envelope.v1+json", Data: unsignedEnv, Annotations: map[string]string{"dev.cosignproject.cosign/signature": ""}}); err != nil {
		t.Fatal(err)
	}
	add(tc{name: "an unsigned statement", chart: p, keyed: true, want: "an unsigned statement", oracle: true})

	p, _ = chart("none")
	add(tc{name: "no attestation", chart: p, keyed: true, want: "no attestation found", oracle: true})

	p, repo = chart("keyless-bundle")
	keylessBundle(p, repo, ciSubject, inToto(t, statementV1, slsaV1, p, slsaPredicate(ghBuilder, chartsRepo, "refs/heads/main")))
	add(tc{name: "keyless, Sigstore bundle", chart: p, accept: true, oracle: true})

	p, repo = chart("keyless-legacy")
	keylessLegacy(p, repo, inToto(t, "https://in-toto.io/Statement/v0.1", slsaV1, p, slsaPredicate(ghBuilder, chartsRepo, "refs/heads/main")))
	add(tc{name: "keyless, legacy .att", chart: p, accept: true, oracle: true})

	p, repo = chart("keyless-stranger")
	keylessBundle(p, repo, "https://git.example.com/someone/else/.github/workflows/x.yaml@refs/heads/main", inToto(t, statementV1, slsaV1, p, slsaPredicate(ghBuilder, chartsRepo, "refs/heads/main")))
	add(tc{name: "keyless, another identity", chart: p, want: "signed by an identity that is not trusted", oracle: true})

	keyedPolicy := fmt.Sprintf(`registries:
- prefix: %s/provenance
  verify:
    provenance:
      builderID: %s
      sourceRepository: %s
      keys:
      - |
%s
`, stack.Open.Host, ghBuilder, chartsRepo, indentBlock(pub, "        "))
	keylessPolicy := fmt.Sprintf(`registries:
- prefix: %s/provenance
  verify:
    provenance:
      builderIDRegExp: 'https://github\.com/actions/runner/.*'
      sourceRepository: %s
      sourceRef: refs/heads/main
      keyless:
        identities:
        - {issuer: %q, subjectRegExp: %q}
%s`, stack.Open.Host, chartsRepo, ciIssuer, `https://git\.example\.com/platform/charts/.*`, strings.Replace(inlineRoot(root), "        trustedRoot", "        trustedRoot", 1))
	keyedFile, keylessFile := writePolicy(t, keyedPolicy), writePolicy(t, keylessPolicy)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pol := keylessFile
			if c.keyed {
				pol = keyedFile
			}
			r := fetchVerified(t, c.chart, "--registry-policy", pol)
			ref := strings.TrimPrefix(strings.Split(c.chart.Ref, ":1.0.0")[0], "oci://") + "@" + c.chart.Digest
			if c.accept {
				wantCode(t, r, 0)
				got := decodeProvenance(t, r).Results[0]
				if len(got.Verified) != 1 || got.Verified[0].Provider != "provenance" || got.Verified[0].Builder != ghBuilder || got.Verified[0].Source != chartsRepo+"@refs/heads/main" {
					t.Errorf("verified: %+v", got.Verified)
				}
				if c.keyed && got.Verified[0].Key != k.Fingerprint() {
					t.Errorf("verified key %q, want %q", got.Verified[0].Key, k.Fingerprint())
				}
				if !c.keyed && (got.Verified[0].Issuer != ciIssuer || got.Verified[0].Subject != ciSubject) {
					t.Errorf("verified identity %+v", got.Verified[0])
				}
			} else {
				wantCode(t, r, 2)
				wantStderr(t, r, "has no provenance attestation that meets the requirement", c.want)
				if got := decodeProvenance(t, r).Results[0]; got.Reason != "ProvenanceNotMet" {
					t.Errorf("reason %q", got.Reason)
				}
			}
			if !c.oracle {
				return
			}
			var ok bool
			var out string
			if c.keyed {
				ok, out = cosignVerifiesAttestation(t, h, dir, ref, "--key", prefix+".pub", "--insecure-ignore-tlog")
			} else {
				ok, out = cosignVerifiesAttestation(t, h, dir, ref, "--trusted-root", rootFile, "--certificate-identity-regexp", `https://git\.example\.com/platform/charts/.*`,
					"--certificate-oidc-issuer", ciIssuer, "--insecure-ignore-sct", "--offline")
			}
			if ok != c.accept {
				t.Errorf("cosign verify-attestation says %v, ocisrc %v:\n%s", ok, c.accept, out)
			}
		})
	}

	byName := map[string]*testenv.Pushed{}
	for _, c := range cases {
		byName[c.name] = c.chart
	}
	keyedBundle, keylessChart := byName["keyed, Sigstore bundle"], byName["keyless, Sigstore bundle"]

	t.Run("SLSA v0.2 when the policy names it", func(t *testing.T) {
		p, repo := chart("v02")
		attest(p, repo, "slsaprovenance02", predicate("v02", slsaV02Predicate(ghBuilder, chartsRepo, "refs/heads/main")), false)
		r := fetchVerified(t, p, "--registry-policy", keyedFile)
		wantCode(t, r, 2)
		wantStderr(t, r, `another predicate type: "`+slsaV02+`", expected `+slsaV1)
		named := writePolicy(t, strings.Replace(keyedPolicy, "    provenance:\n", "    provenance:\n      predicateType: "+slsaV02+"\n", 1))
		r = fetchVerified(t, p, "--registry-policy", named)
		wantCode(t, r, 0)
		if v := decodeProvenance(t, r).Results[0].Verified; len(v) != 1 || v[0].Source != chartsRepo+"@refs/heads/main" || v[0].Builder != ghBuilder {
			t.Errorf("verified %+v", v)
		}
	})

	t.Run("a refusal at one of several places is a refusal", func(t *testing.T) {
		// The mirror cannot be reached; the origin serves the chart
		// without provenance: refused (exit 2), not "every place failed".
		none := byName["no attestation"]
		pinned := *none
		pinned.Ref = none.Ref + "@" + none.Digest
		withMirror := writePolicy(t, strings.Replace(keyedPolicy, "  verify:\n", "  mirrors:\n  - location: 127.0.0.1:1/provenance\n  verify:\n", 1))
		r := fetchVerified(t, &pinned, "--registry-policy", withMirror)
		wantCode(t, r, 2)
		wantStderr(t, r, "has no provenance attestation that meets the requirement", "no attestation found")
	})

	t.Run("--require-provenance narrows the policy's source", func(t *testing.T) {
		r := fetchVerified(t, keyedBundle, "--registry-policy", keyedFile, "--require-provenance", chartsRepo+"@refs/heads/main")
		wantCode(t, r, 0)
		r = fetchVerified(t, keyedBundle, "--registry-policy", keyedFile, "--require-provenance", "https://github.com/example/fork")
		wantCode(t, r, 2)
		wantStderr(t, r, "(required by --require-provenance (signers and builder of the registry policy file", `built from another source: "`+chartsRepo+`@refs/heads/main", expected https://github.com/example/fork`)
		r = fetchVerified(t, keyedBundle, "--registry-policy", keyedFile, "--require-provenance", "github.com/example/charts")
		wantCode(t, r, 2)
		wantStderr(t, r, `--require-provenance "github.com/example/charts": expected SOURCE_REPOSITORY[@REF]`)
	})

	t.Run("--require-provenance alone trusts GitHub through the public Sigstore instance", func(t *testing.T) {
		home := newHome(t)
		putComponent(t, nsA, "signed", testenv.OCISource(keyedBundle.Ref, "", ""))
		proxy := testenv.NewRecordingProxy()
		defer proxy.Close()
		c := exec.Command(binary, "--kubeconfig", stack.Cluster.Kubeconfig, "fetch", "signed", "-n", nsA, "--registry-ca-file", stack.Open.CAFile,
			"--require-provenance", chartsRepo, "--cluster-registry-policy=false")
		c.Env = append(home.Environ(map[string]string{}), "HTTPS_PROXY="+proxy.URL, "NO_PROXY=")
		out, _ := c.CombinedOutput()
		if code := c.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "the public Sigstore instance's trusted root cannot be read") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if got := proxy.Requests(); len(got) == 0 || got[0].Host != "tuf-repo-cdn.sigstore.dev:443" {
			t.Errorf("proxy saw %+v", got)
		}
	})

	t.Run("a signature and provenance are separate requirements", func(t *testing.T) {
		both := writePolicy(t, strings.Replace(keyedPolicy, "  verify:\n", "  verify:\n    cosign:\n      keys:\n      - |\n"+indentBlock(pub, "        ")+"\n", 1))
		// Attested, not signed: the signature is missing.
		r := fetchVerified(t, keyedBundle, "--registry-policy", both)
		wantCode(t, r, 2)
		wantStderr(t, r, "has no valid signature")
		if got := decodeProvenance(t, r).Results[0]; got.Reason != "Unsigned" {
			t.Errorf("reason %q", got.Reason)
		}
		// Signed too: both are verified, each said.
		signerCLI(t, h, "cosign", "sign", "--key", prefix+".key", "--tlog-upload=false", "--use-signing-config=false", "--yes", stack.Open.Host+"/provenance/keyed-bundle@"+keyedBundle.Digest)
		r = fetchVerified(t, keyedBundle, "--registry-policy", both)
		wantCode(t, r, 0)
		v := decodeProvenance(t, r).Results[0].Verified
		if len(v) != 2 || v[0].Provider != "cosign" || v[1].Provider != "provenance" {
			t.Errorf("verified %+v", v)
		}
		// Signed, not attested: provenance is missing.
		p, repo := chart("signed-only")
		signerCLI(t, h, "cosign", "sign", "--key", prefix+".key", "--tlog-upload=false", "--use-signing-config=false", "--yes", stack.Open.Host+"/"+repo+"@"+p.Digest)
		r = fetchVerified(t, p, "--registry-policy", both)
		wantCode(t, r, 2)
		wantStderr(t, r, "has no provenance attestation that meets the requirement", "no attestation found")
	})

	t.Run("the cache keeps the attestation and checks it again", func(t *testing.T) {
		newHome(t)
		putComponent(t, nsA, "signed", testenv.OCISource(keylessChart.Ref, "", ""))
		args := []string{"signed", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "-o", "json", "--cluster-registry-policy=false", "--registry-policy", keylessFile}
		wantCode(t, kubectl(t, args...), 0)
		pinned := keylessChart.Ref + "@" + keylessChart.Digest
		putComponent(t, nsA, "signed", testenv.OCISource(pinned, "", ""))
		stack.Open.ResetLog()
		r := kubectl(t, args...)
		wantCode(t, r, 0)
		if got := decodeProvenance(t, r).Results[0]; !got.Cached || len(got.Verified) != 1 || got.Verified[0].Provider != "provenance" {
			t.Errorf("cache hit: %+v", got)
		}
		if n := requests(stack.Open); n != 0 {
			t.Errorf("a cache hit with provenance made %d registry requests", n)
		}
		r = kubectl(t, append(args, "--offline")...)
		wantCode(t, r, 0)
		// What the cache keeps is checked against what is required now.
		fork := writePolicy(t, strings.Replace(keylessPolicy, "sourceRepository: "+chartsRepo, "sourceRepository: https://github.com/example/fork", 1))
		r = kubectl(t, "signed", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "-o", "json", "--cluster-registry-policy=false", "--registry-policy", fork, "--offline")
		wantCode(t, r, 2)
		wantStderr(t, r, "has no stored provenance attestation that meets what is required now")
		r = kubectl(t, "signed", "-n", nsA, "--registry-ca-file", stack.Open.CAFile, "-o", "json", "--cluster-registry-policy=false", "--registry-policy", fork)
		wantCode(t, r, 2)
		wantStderr(t, r, `built from another source: "`+chartsRepo+`@refs/heads/main", expected https://github.com/example/fork`)
	})

	t.Run("validate and policy explain show the requirement", func(t *testing.T) {
		want := "provenance " + slsaV1 + ", builder " + ghBuilder + ", source " + chartsRepo
		r := runFace(t, "ocisrc", nil, "policy", "explain", keyedBundle.Ref, "--registry-policy", keyedFile, "--cluster-registry-policy=false")
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "Provenance:  required (registry policy file") || !strings.Contains(r.stdout, strings.TrimPrefix(want, "provenance ")) || !strings.Contains(r.stdout, "signed by cosign key "+k.Fingerprint()) ||
			!strings.Contains(r.stdout, "Verify:      no signature required") {
			t.Errorf("explain:\n%s", r.stdout)
		}
		r = runFace(t, "ocisrc", nil, "policy", "explain", keyedBundle.Ref, "--registry-policy", keyedFile, "--cluster-registry-policy=false", "-o", "json")
		var doc struct {
			Verify struct {
				Required   bool
				Provenance []struct{ PredicateType, BuilderID, SourceRepository, From string }
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Verify.Required || len(doc.Verify.Provenance) != 1 || doc.Verify.Provenance[0].SourceRepository != chartsRepo || doc.Verify.Provenance[0].PredicateType != slsaV1 {
			t.Errorf("explain -o json: %v\n%s", err, r.stdout)
		}
		file := filepath.Join(t.TempDir(), "app.yaml")
		if err := os.WriteFile(file, []byte(fmt.Sprintf("apiVersion: example.io/v1alpha1\nkind: Component\nmetadata: {name: app, namespace: team-a}\nspec:\n  source: {type: oci, chart: %q}\n", keyedBundle.Ref)), 0o644); err != nil {
			t.Fatal(err)
		}
		r = runFace(t, "ocisrc", nil, "validate", "-f", file, "--registry-policy", keyedFile, "--kubeconfig", filepath.Join(t.TempDir(), "none"))
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, file+": team-a/app: requires "+want) {
			t.Errorf("validate:\n%s", r)
		}
		// A mirror of the prefix is not held to its provenance by itself.
		mirrored := writePolicy(t, strings.Replace(keyedPolicy, "  verify:\n", "  mirrors:\n  - location: mirror.example.com/provenance\n  verify:\n", 1))
		r = runFace(t, "ocisrc", nil, "policy", "validate", mirrored)
		wantCode(t, r, 0)
		wantStderr(t, r, "mirrors[0].location mirror.example.com/provenance: a Component that names the mirror directly is not held to the provenance registries[0]")
	})

	t.Run("bundles carry attestations", func(t *testing.T) {
		b, err := testenv.NewRegistry(testenv.RegistryOptions{Dir: t.TempDir(), CA: stack.Open.CA})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		const ns = "provenance-bundle"
		putComponent(t, ns, "keyed", testenv.OCISource(keyedBundle.Ref+"@"+keyedBundle.Digest, "", ""))
		legacyChart := byName["keyed, legacy .att (statement v0.1)"]
		putComponent(t, ns, "legacy", testenv.OCISource(legacyChart.Ref+"@"+legacyChart.Digest, "", ""))
		// A referrer that names its predicate type, as GitHub's
		// push-to-registry writes it (cosign's carry no such annotation).
		putComponent(t, ns, "keyless", testenv.OCISource(keylessChart.Ref+"@"+keylessChart.Digest, "", ""))
		// One rule trusts both signers: the builder's key and the CI identity.
		both := keyedPolicy + "      keyless:\n        identities:\n        - {issuer: " + fmt.Sprintf("%q", ciIssuer) + ", subjectRegExp: " + fmt.Sprintf("%q", `https://git\.example\.com/platform/charts/.*`) + "}\n" + inlineRoot(root)
		keyedPolicy := both
		newHome(t)
		file := filepath.Join(t.TempDir(), "charts.tar")
		ca := []string{"--registry-ca-file", stack.Open.CAFile, "--cluster-registry-policy=false"}
		r := runFace(t, "ocisrc", nil, append([]string{"bundle", "create", file, "--all", "-n", ns, "--kubeconfig", stack.Cluster.Kubeconfig, "--registry-policy", writePolicy(t, both)}, ca...)...)
		wantCode(t, r, 0)
		r = runFace(t, "ocisrc", nil, append([]string{"bundle", "push", file, "--to", b.Host + "/base"}, ca...)...)
		wantCode(t, r, 0)
		// The origin is gone for this run: the mirror serves the charts
		// and their attestations, which are verified there.
		mirrored := writePolicy(t, strings.Replace(keyedPolicy, "  verify:\n", fmt.Sprintf("  origin: never\n  mirrors:\n  - location: %s/base/provenance\n  verify:\n", b.Host), 1))
		newHome(t)
		stack.Open.ResetLog()
		r = kubectl(t, "--all", "-n", ns, "--registry-ca-file", stack.Open.CAFile, "--registry-policy", mirrored, "--cluster-registry-policy=false", "-o", "json")
		wantCode(t, r, 0)
		for _, res := range decodeProvenance(t, r).Results {
			if len(res.Verified) != 1 || res.Verified[0].Provider != "provenance" || res.Verified[0].Source != chartsRepo+"@refs/heads/main" {
				t.Errorf("%s: %+v", res.Component, res)
			}
		}
		if n := requests(stack.Open); n != 0 {
			t.Errorf("the origin was asked %d times", n)
		}
	})
}
