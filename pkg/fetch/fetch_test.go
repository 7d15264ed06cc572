package fetch

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/credentials"
	"github.com/ocisrc/ocisrc/pkg/oci"
	"github.com/ocisrc/ocisrc/pkg/policy"
)

// secrets is a SecretReader over a map, counting reads.
type secrets struct {
	mu    sync.Mutex
	data  map[string]*corev1.Secret
	reads []string
}

func (s *secrets) GetSecret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = append(s.reads, ns+"/"+name)
	if sec, ok := s.data[ns+"/"+name]; ok {
		return sec, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func secret(ns, name, uid, rv string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), ResourceVersion: rv}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func mustPolicy(t *testing.T, doc string) policy.Set {
	t.Helper()
	l, err := policy.Load([]byte("apiVersion: ocisrc.dev/v1alpha1\nkind: RegistryPolicy\n"+doc), policy.Source{Kind: policy.SourceFile, Name: "policy.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	return policy.Set{Layers: []*policy.Loaded{l}}
}

func source(chart, secretName, secretNS string) map[string]any {
	src := map[string]any{"type": "oci", "chart": chart}
	if secretName != "" {
		src["authentication"] = map[string]any{"method": "registry", "secretRef": map[string]any{"name": secretName, "namespace": secretNS}}
	}
	return src
}

func comp(ns, name string, src map[string]any) component.Component {
	return component.Component{Namespace: ns, Name: name, Resource: "components", Source: src, SourceFound: true}
}

const testPolicy = `registries:
- prefix: blocked.example.com
  blocked: true
- prefix: blocked.example.com/open
  blocked: false
- prefix: airgap.example.com
  origin: never
  mirrors: [{location: mirror.example.com/airgap}]
- prefix: resolving.example.com
  origin: never
  mirrors: [{location: mirror.example.com/resolving, resolveTags: true}]
`

// TestDecide: the one decision every path reads, by case.
func TestDecide(t *testing.T) {
	f := &Fetcher{Validator: component.NewValidator(), SystemNamespace: "sys", Policy: mustPolicy(t, testPolicy)}
	for name, c := range map[string]struct {
		src          map[string]any
		invalid      string
		refusals     []string
		readsSecret  bool
		originNever  bool
		mirrorsCount int
	}{
		"a tag, a Secret of its own namespace": {src: source("oci://r.io/charts/app:1.0.0", "creds", "team-a"), readsSecret: true},
		"anonymous":                            {src: source("oci://r.io/charts/app:1.0.0", "", "")},
		"a Secret of another tenant": {src: source("oci://r.io/charts/app:1.0.0", "creds", "team-b"),
			refusals: []string{"spec.source.authentication.secretRef.namespace"}},
		"blocked": {src: source("oci://blocked.example.com/charts/app:1.0.0", "creds", "team-a"),
			refusals: []string{"spec.source.chart"}},
		"unblocked under a blocked prefix": {src: source("oci://blocked.example.com/open/app:1.0.0", "creds", "team-a"), readsSecret: true},
		"origin never, a tag": {src: source("oci://airgap.example.com/app:1.0.0", "creds", "team-a"),
			refusals: []string{"spec.source.chart"}, originNever: true, mirrorsCount: 1},
		"origin never, a pin: the Secret is never read": {src: source("oci://airgap.example.com/app:1.0.0@sha256:"+strings.Repeat("a", 64), "creds", "team-a"),
			originNever: true, mirrorsCount: 1},
		"origin never, a mirror resolves tags": {src: source("oci://resolving.example.com/app:1.0.0", "", ""), originNever: true, mirrorsCount: 1},
		"two refusals, both reported": {src: source("oci://blocked.example.com/charts/app:1.0.0", "creds", "team-b"),
			refusals: []string{"spec.source.authentication.secretRef.namespace", "spec.source.chart"}},
		"an invalid source": {src: map[string]any{"type": "oci", "chart": "https://r.io/app"}, invalid: "spec.source.chart"},
	} {
		t.Run(name, func(t *testing.T) {
			d := f.Decide(comp("team-a", "app", c.src))
			if c.invalid != "" {
				if d.Invalid == nil || !strings.Contains(d.Invalid.Error(), c.invalid) || clierror.ExitCode(d.Invalid) != clierror.CodeInvalid {
					t.Fatalf("Invalid = %v", d.Invalid)
				}
				if d.Err() == nil || d.ReadsOriginSecret() {
					t.Error("an invalid source is allowed")
				}
				return
			}
			if d.Invalid != nil {
				t.Fatalf("Invalid = %v", d.Invalid)
			}
			var fields []string
			for _, r := range d.Refusals {
				fields = append(fields, r.Field)
				if clierror.ExitCode(r.Err) != clierror.CodeInvalid {
					t.Errorf("refusal %v exits %d", r.Err, clierror.ExitCode(r.Err))
				}
			}
			if strings.Join(fields, ",") != strings.Join(c.refusals, ",") {
				t.Errorf("refusals = %v, want %v", fields, c.refusals)
			}
			if got := d.ReadsOriginSecret(); got != c.readsSecret {
				t.Errorf("ReadsOriginSecret = %v, want %v", got, c.readsSecret)
			}
			if (d.Settings.Origin == policy.OriginNever) != c.originNever || len(d.Settings.Mirrors) != c.mirrorsCount {
				t.Errorf("settings = %+v", d.Settings)
			}
			if d.Component.Source != nil {
				t.Error("the decision keeps the raw source")
			}
		})
	}
}

// TestCheckReportsEveryProblem: validate's view of the decision lists every
// refusal, each under its field.
func TestCheckReportsEveryProblem(t *testing.T) {
	f := &Fetcher{Validator: component.NewValidator(), SystemNamespace: "sys", Policy: mustPolicy(t, testPolicy)}
	got := f.Check(comp("team-a", "app", source("oci://airgap.example.com/app:1.0.0", "creds", "team-b")))
	if len(got) != 2 || got[0].Field != "spec.source.authentication.secretRef.namespace" || got[1].Field != "spec.source.chart" ||
		!strings.Contains(got[1].Message, "needs a digest pin") {
		t.Errorf("Check = %+v", got)
	}
}

// TestPrefetchReadsWhatTheDecisionNeeds: the read-ahead reads the
// Component's own Secret only when its decision will.
func TestPrefetchReadsWhatTheDecisionNeeds(t *testing.T) {
	for name, c := range map[string]struct {
		src  map[string]any
		want int
	}{
		"a tag with a Secret":     {source("oci://r.io/charts/app:1.0.0", "creds", "team-a"), 1},
		"anonymous":               {source("oci://r.io/charts/app:1.0.0", "", ""), 0},
		"blocked":                 {source("oci://blocked.example.com/charts/app:1.0.0", "creds", "team-a"), 0},
		"origin never with a pin": {source("oci://airgap.example.com/app:1.0.0@sha256:"+strings.Repeat("a", 64), "creds", "team-a"), 0},
		"another tenant's Secret": {source("oci://r.io/charts/app:1.0.0", "creds", "team-b"), 0},
		"the system namespace's":  {source("oci://r.io/charts/app:1.0.0", "creds", "sys"), 1},
		"an invalid source":       {map[string]any{"type": "oci"}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			s := &secrets{data: map[string]*corev1.Secret{}}
			reader := credentials.NewCachedReader(s)
			f := &Fetcher{Validator: component.NewValidator(), Secrets: reader, SystemNamespace: "sys", Policy: mustPolicy(t, testPolicy)}
			f.Prefetch(context.Background(), f.Decide(comp("team-a", "app", c.src)))
			f.Prefetch(context.Background(), f.Decide(comp("team-a", "app2", c.src)))
			waitReads(t, s, c.want)
			for _, r := range s.reads {
				if strings.HasPrefix(r, "sys/") {
					t.Errorf("the system namespace was read ahead: %v", s.reads)
				}
			}
		})
	}
}

func waitReads(t *testing.T, s *secrets, want int) {
	t.Helper()
	// The read-ahead is asynchronous: wait for the reads it makes (a
	// second looked for, then none more may come).
	for range 200 {
		s.mu.Lock()
		n := len(s.reads)
		s.mu.Unlock()
		if n >= want {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reads) != want {
		t.Errorf("%d reads, want %d: %v", len(s.reads), want, s.reads)
	}
}

// TestDryRunHasNoTransportAndNoWriter: a dry run's Fetcher has no puller
// and no store, and still resolves and checks everything a pull would.
func TestDryRunHasNoTransportAndNoWriter(t *testing.T) {
	s := &secrets{data: map[string]*corev1.Secret{"team-a/creds": secret("team-a", "creds", "u1", "1", map[string]string{"username": "u", "password": "p"})}}
	f := &Fetcher{Validator: component.NewValidator(), Secrets: s, SystemNamespace: "sys", Policy: mustPolicy(t, testPolicy), DryRun: true}
	res, err := f.Fetch(context.Background(), f.Decide(comp("team-a", "app", source("oci://r.io/charts/app:1.0.0", "creds", "team-a"))))
	if err != nil || res.Credentials != "team-a/creds" || res.Path != "" {
		t.Fatalf("Fetch = %+v, %v", res, err)
	}
	_, err = f.Fetch(context.Background(), f.Decide(comp("team-a", "bad", source("oci://blocked.example.com/charts/app:1.0.0", "creds", "team-a"))))
	if err == nil || !strings.Contains(err.Error(), "blocked prefix") {
		t.Fatalf("a blocked reference in a dry run: %v", err)
	}
	f.Flush() // no store: nothing to write, and no panic
}

// TestIdentity: who a request is: the Secret as read (UID and
// resourceVersion), and the client certificate the connection presents.
func TestIdentity(t *testing.T) {
	f := &Fetcher{Puller: certOnly("SHA256:ab").puller()}
	a := oci.Auth{Secret: "team-a/creds", SecretUID: "u1", SecretVersion: "7"}
	got := f.identity(a)
	want := cache.Identity{Secret: "team-a/creds", UID: "u1", ResourceVersion: "7", Certificate: "SHA256:ab"}
	if got != want {
		t.Errorf("identity = %+v, want %+v", got, want)
	}
	if (&Fetcher{Puller: certOnly("").puller()}).identity(oci.Auth{}) != (cache.Identity{}) {
		t.Error("an anonymous request without a certificate is not anonymous")
	}
	if (&Fetcher{Puller: certOnly("SHA256:cd").puller()}).identity(oci.Auth{}).Anonymous() {
		t.Error("a certificate's request is anonymous")
	}
}

// certOnly is a ChartPuller that answers only ClientCertificate (any
// other call panics: these tests make no request).
type certOnly string

type certPuller struct {
	ChartPuller
	fp string
}

func (c certPuller) ClientCertificate(oci.Auth) string { return c.fp }

func (c certOnly) puller() ChartPuller { return certPuller{fp: string(c)} }

func TestParseProvenanceFlag(t *testing.T) {
	for in, want := range map[string]*ProvenanceFlag{
		"https://github.com/o/r":                       {Repository: "https://github.com/o/r"},
		"https://github.com/o/r@refs/heads/main":       {Repository: "https://github.com/o/r", Ref: "refs/heads/main"},
		"https://user@github.com/o/r@refs/tags/v1.0.0": {Repository: "https://user@github.com/o/r", Ref: "refs/tags/v1.0.0"},
		"github.com/o/r":                               nil,
		"https://github.com/o/r@":                      nil,
		"://x":                                         nil,
	} {
		got, err := ParseProvenanceFlag(in)
		if (want == nil) != (err != nil) || (want != nil && *got != *want) {
			t.Errorf("%q: got %+v, %v; want %+v", in, got, err, want)
		}
	}
}

// TestRequireProvenanceAlone: with no policy rule, --require-provenance
// trusts any builder, signed by a GitHub Actions workflow of the source
// repository itself (anchored: not a repository that starts with it).
func TestRequireProvenanceAlone(t *testing.T) {
	f := &Fetcher{DryRun: true, RequireProvenance: &ProvenanceFlag{Repository: "https://github.com/o/r", Ref: "refs/heads/main"}}
	req, err := f.buildRequirement(context.Background(), policy.VerifySettings{})
	if err != nil || req == nil || req.signs() || len(req.provenance) != 1 {
		t.Fatalf("requirement %+v, %v", req, err)
	}
	r := req.provenance[0]
	if !r.want.Builder.IsZero() || r.want.Repository.Exact != "https://github.com/o/r" || r.want.Ref.Exact != "refs/heads/main" || len(r.signers.Keys) != 0 || len(r.signers.Keyless) != 1 {
		t.Fatalf("rule %+v", r)
	}
	ids := r.signers.Keyless[0].IDs
	if len(ids) != 1 || ids[0].Issuer != GitHubIssuer {
		t.Fatalf("identities %+v", ids)
	}
	re := regexp.MustCompile("^(?:" + ids[0].SubjectRegExp + ")$")
	for subject, ok := range map[string]bool{
		"https://github.com/o/r/.github/workflows/release.yml@refs/heads/main":   true,
		"https://github.com/o/r-evil/.github/workflows/release.yml@refs/heads/x": false,
		"https://github.com/oXr/.github/workflows/release.yml@refs/heads/main":   false,
	} {
		if re.MatchString(subject) != ok {
			t.Errorf("%s: match %v", subject, !ok)
		}
	}
}
