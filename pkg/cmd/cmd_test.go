package cmd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/fetch"
	"github.com/ocisrc/ocisrc/pkg/termsafe"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func runMain(t *testing.T, argv0 string, getenv func(string) string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	code := Main(context.Background(), argv0, args, streams, getenv)
	return out.String(), errOut.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/cmd -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./pkg/cmd -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestHelpGolden(t *testing.T) {
	// The kube flags' --cache-dir default is under HOME.
	t.Setenv("HOME", "/home/user")
	for name, tc := range map[string]struct {
		argv0 string
		env   map[string]string
		args  []string
	}{
		"kubectl-help":          {argv0: "/usr/local/bin/kubectl-component_pull", args: []string{"--help"}},
		"helm-help":             {argv0: "/plugins/ocisrc/bin/ocisrc", env: map[string]string{"HELM_PLUGIN_NAME": "ocisrc"}, args: []string{"--help"}},
		"helm-fetch-help":       {argv0: "/plugins/ocisrc/bin/ocisrc", env: map[string]string{"HELM_PLUGIN_NAME": "ocisrc"}, args: []string{"fetch", "--help"}},
		"standalone-help":       {argv0: "ocisrc", args: []string{"--help"}},
		"standalone-fetch-help": {argv0: "ocisrc", args: []string{"fetch", "--help"}},
	} {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := runMain(t, tc.argv0, env(tc.env), tc.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			golden(t, name, stdout)
		})
	}
}

func TestDetectFace(t *testing.T) {
	for name, tc := range map[string]struct {
		argv0 string
		env   map[string]string
		want  Face
	}{
		"kubectl plugin":         {argv0: "/home/u/.krew/bin/kubectl-component_pull", want: FaceKubectl},
		"kubectl plugin windows": {argv0: `C:\krew\bin\kubectl-component_pull.exe`, want: FaceKubectl},
		"kubectl wins over helm": {argv0: "kubectl-component_pull", env: map[string]string{"HELM_PLUGIN_NAME": "ocisrc"}, want: FaceKubectl},
		"helm plugin":            {argv0: "/plugins/ocisrc/bin/ocisrc", env: map[string]string{"HELM_PLUGIN_NAME": "ocisrc"}, want: FaceHelm},
		"standalone":             {argv0: "ocisrc", want: FaceStandalone},
		"renamed binary":         {argv0: "kubectl-component_pull-old", want: FaceStandalone},
	} {
		t.Run(name, func(t *testing.T) {
			argv0 := tc.argv0
			if strings.Contains(argv0, `\`) && filepath.Separator == '/' {
				argv0 = argv0[strings.LastIndex(argv0, `\`)+1:]
			}
			if got := DetectFace(argv0, env(tc.env)); got != tc.want {
				t.Errorf("DetectFace(%q) = %v, want %v", tc.argv0, got, tc.want)
			}
		})
	}
}

func TestKubeFlagsFromHelmEnv(t *testing.T) {
	f := kubeFlagsFromHelmEnv(env(map[string]string{
		"HELM_NAMESPACE":                    "team-a",
		"HELM_KUBECONTEXT":                  "prod",
		"KUBECONFIG":                        "/k/config",
		"HELM_KUBEASUSER":                   "alice",
		"HELM_KUBEASGROUPS":                 "devs,ops",
		"HELM_KUBETOKEN":                    "tok",
		"HELM_KUBEAPISERVER":                "https://api:6443",
		"HELM_KUBECAFILE":                   "/k/ca.crt",
		"HELM_KUBETLS_SERVER_NAME":          "api.internal",
		"HELM_KUBEINSECURE_SKIP_TLS_VERIFY": "true",
	}))
	for name, tc := range map[string]struct{ got, want string }{
		"namespace":  {*f.Namespace, "team-a"},
		"context":    {*f.Context, "prod"},
		"kubeconfig": {*f.KubeConfig, "/k/config"},
		"as":         {*f.Impersonate, "alice"},
		"as-group":   {strings.Join(*f.ImpersonateGroup, ","), "devs,ops"},
		"token":      {*f.BearerToken, "tok"},
		"server":     {*f.APIServer, "https://api:6443"},
		"ca":         {*f.CAFile, "/k/ca.crt"},
		"tls name":   {*f.TLSServerName, "api.internal"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", name, tc.got, tc.want)
		}
	}
	if !*f.Insecure {
		t.Error("HELM_KUBEINSECURE_SKIP_TLS_VERIFY=true was not honoured")
	}
	empty := kubeFlagsFromHelmEnv(env(nil))
	if *empty.Namespace != "" || *empty.Insecure || empty.ImpersonateGroup == nil {
		t.Errorf("defaults changed without env: ns %q insecure %v", *empty.Namespace, *empty.Insecure)
	}
}

func TestInputErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want []string
	}{
		"unknown flag":           {[]string{"app", "--nope"}, []string{"Error: unknown flag: --nope", "Hint: See 'kubectl component-pull --help' for usage."}},
		"no name":                {nil, []string{"Error: at least one Component NAME is required"}},
		"bad output":             {[]string{"app", "-o", "table"}, []string{`must be one of text, wide, name, json, yaml, got "table"`}},
		"untar without dest":     {[]string{"app", "--untar"}, []string{"Error: --untar needs --destination"}},
		"bad timeout":            {[]string{"app", "--timeout", "0s"}, []string{"Error: --timeout must be positive, got 0s"}},
		"cert without key":       {[]string{"app", "--registry-cert-file", "c.pem"}, []string{"--registry-cert-file and --registry-key-file must be given together"}},
		"type/name":              {[]string{"deploy/app"}, []string{`invalid Component name "deploy/app"`}},
		"empty system namespace": {[]string{"app", "--system-namespace", ""}, []string{"--system-namespace must not be empty"}},
		"bad timeout syntax":     {[]string{"app", "--timeout", "soon"}, []string{`invalid argument "soon" for "--timeout"`}},
		"--qps 0":                {[]string{"app", "--qps", "0"}, []string{`invalid argument "0" for "--qps" flag: must be a positive number of requests per second, or negative for no client-side limit`}},
		"--burst-limit 0":        {[]string{"app", "--burst-limit", "0"}, []string{`invalid argument "0" for "--burst-limit" flag: must be at least 1, got 0`}},
		"--burst-limit -3":       {[]string{"app", "--burst-limit=-3"}, []string{`invalid argument "-3" for "--burst-limit" flag: must be at least 1, got -3`}},
	} {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := runMain(t, KubectlPluginBinary, env(map[string]string{"KUBECONFIG": "/nonexistent"}), tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout should be empty: %q", stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestHelmUnknownCommand(t *testing.T) {
	_, stderr, code := runMain(t, "ocisrc", env(map[string]string{"HELM_PLUGIN_NAME": "ocisrc"}), "pul")
	if code != 2 || !strings.Contains(stderr, `unknown command "pul" for "helm ocisrc"`) || !strings.Contains(stderr, "Hint: See 'helm ocisrc --help' for usage.") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
}

func TestTextOutput(t *testing.T) {
	var b bytes.Buffer
	p := termsafe.NewPrinter(&b)
	digest := "sha256:9968" + strings.Repeat("0", 56) + "1a1e"
	r := fetch.Result{Component: "team-a/app", Chart: "oci://r/charts/app:1.2.3", Version: "1.2.3", Digest: digest, Path: "/c/app-1.2.3.tgz", Credentials: "deployment-system/creds"}
	printLine(p, r, false, false)
	r.Credentials, r.Cached, r.Destination = "", true, "/out/app-1.2.3.tgz"
	printLine(p, r, false, false)
	printLine(p, r, false, true)
	r.Chart = "oci://r/charts/app:1.2.3@" + digest
	printLine(p, r, true, false)
	r.Path = "/c/x\nHint: run this"
	printLine(p, r, false, true)
	want := "team-a/app  pulled  app 1.2.3  sha256:9968…1a1e  (deployment-system/creds)\n" +
		"team-a/app  cached  app 1.2.3  sha256:9968…1a1e  (anonymous)  -> /out/app-1.2.3.tgz\n" +
		"team-a/app  cached  app 1.2.3  sha256:9968…1a1e  (anonymous)  -> /out/app-1.2.3.tgz  cache  oci://r/charts/app:1.2.3  /c/app-1.2.3.tgz\n" +
		"team-a/app  would pull  oci://r/charts/app:1.2.3@" + digest + "  (anonymous)\n" +
		"team-a/app  cached  app 1.2.3  sha256:9968…1a1e  (anonymous)  -> /out/app-1.2.3.tgz  cache  oci://r/charts/app:1.2.3@" + digest + "  /c/x\\nHint: run this\n"
	if b.String() != want || p.Err() != nil {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestFailuresGroupedByCause: one cause in many namespaces is one block,
// its namespace written <namespace>; the exit code is 2 only when every
// failure is invalid input.
func TestFailuresGroupedByCause(t *testing.T) {
	var failed []failedResult
	for i := range 12 {
		ns := fmt.Sprintf("team-%d", i)
		failed = append(failed, failedResult{key: ns + "/app", err: &fetch.ComponentError{Component: ns + "/app", Err: clierror.WithHint(
			fmt.Errorf("reading secret %q: forbidden: your identity cannot get secrets in namespace %q", ns+"/creds", ns),
			fmt.Sprintf("ask for get on secrets in namespace %q (kubectl auth can-i get secret/creds -n %s)", ns, ns))}})
	}
	failed = append(failed, failedResult{key: "team-x/web", err: &fetch.ComponentError{Component: "team-x/web", Err: clierror.InvalidWithHint(errors.New("refused by the registry policy: oci://r/x:1 is under a blocked prefix"), "ask the platform team")}})
	e := newBulkError(failed, 20, "20 Components: 7 pulled (0 from the cache), 13 failed; 0 B downloaded in 0.1 s", false)
	var b bytes.Buffer
	p := termsafe.NewPrinter(&b)
	e.print(p, func(s string) string { return s })
	want := `Error: 13 of 20 Components failed (2 causes):
  reading secret "<namespace>/creds": forbidden: your identity cannot get secrets in namespace "<namespace>"
  12 Components: team-0/app, team-1/app, team-10/app, team-11/app, team-2/app, team-3/app, team-4/app, team-5/app, team-6/app, team-7/app and 2 more (-v lists them all)
  Hint: ask for get on secrets in namespace "<namespace>" (kubectl auth can-i get secret/creds -n <namespace>)
  refused by the registry policy: oci://r/x:1 is under a blocked prefix
  1 Component: team-x/web
  Hint: ask the platform team
20 Components: 7 pulled (0 from the cache), 13 failed; 0 B downloaded in 0.1 s
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if clierror.ExitCode(e) != clierror.CodeRuntime {
		t.Errorf("exit %d, want 1", clierror.ExitCode(e))
	}
	if clierror.ExitCode(newBulkError(failed[12:], 2, "", false)) != clierror.CodeInvalid {
		t.Error("only invalid input: want exit 2")
	}
}

// TestCausesKeepTheirNamesNotTheirFailures: a cause keeps how many
// Components it hit and the first ten names in order, whatever order the
// failures come in; with -v every name.
func TestCausesKeepTheirNamesNotTheirFailures(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		g := newCauseGroups(verbose)
		for _, i := range rand.Perm(1000) {
			key := fmt.Sprintf("team-a/app-%04d", i)
			g.add(key, &fetch.ComponentError{Component: key, Err: errors.New("the registry r answered 503")})
		}
		if len(g.causes) != 1 || g.causes[0].Count != 1000 || g.failed != 1000 {
			t.Fatalf("verbose %v: causes %d, count %d, failed %d", verbose, len(g.causes), g.causes[0].Count, g.failed)
		}
		names := g.causes[0].Components
		if want := map[bool]int{false: causeLimit, true: 1000}[verbose]; len(names) != want || !sort.StringsAreSorted(names) || names[0] != "team-a/app-0000" {
			t.Errorf("verbose %v: kept %d names (want %d, sorted, from app-0000): %v", verbose, len(names), want, names[:min(len(names), 12)])
		}
		if hit := g.bulkError(1000, "").hit(g.causes[0]); !verbose && !strings.HasSuffix(hit, "team-a/app-0009 and 990 more (-v lists them all)") {
			t.Errorf("hit: %s", hit)
		}
	}
}

// TestGetterWordsAreCurrent: every phrase the downloader rewrites is still
// in a message somewhere, so a reworded message cannot silently lose its
// translation.
func TestGetterWordsAreCurrent(t *testing.T) {
	var sources strings.Builder
	for _, dir := range []string{"..", "../../pkg"} {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") && !strings.HasSuffix(path, "getter.go") {
				b, _ := os.ReadFile(path)
				sources.Write(b)
			}
			return nil
		})
	}
	src := strings.ReplaceAll(sources.String(), `\"`, `"`)
	for _, old := range getterPhrases {
		if !strings.Contains(src, old) {
			t.Errorf("no message says %q any more: update getterWords", old)
		}
	}
	for _, msg := range []string{
		"pass --registry-ca-file with the registry's CA; --registry-insecure-skip-tls-verify turns verification off (not recommended)",
		"check the name, or pass -n/--namespace",
		"raise --timeout, or check that the registry is reachable",
	} {
		got := getterWords.Replace(msg)
		for _, bad := range []string{"--registry-", "-n/--namespace", "--timeout", "--insecure"} {
			if strings.Contains(got, bad) {
				t.Errorf("%q became %q, which still names %s", msg, got, bad)
			}
		}
	}
}

// TestDocumentStreamedAsMarshalled: the JSON document written result by
// result, in input order whatever order they finish in, is the one
// json.MarshalIndent writes.
func TestDocumentStreamedAsMarshalled(t *testing.T) {
	for _, doc := range []fetchDocument{
		{Results: []fetch.Result{}},
		{Results: []fetch.Result{{Component: "a/b", Chart: "oci://r/c:1"}, {Component: "a/c", Error: "x\ny", Reason: "Failed", ExitCode: 1}}},
		{Results: []fetch.Result{}, Errors: []runError{{Reason: "Invalid", Message: "m", Hint: "h"}}},
		{Results: []fetch.Result{{Component: "a/b"}}, Errors: []runError{{Reason: "Invalid", Message: "m"}}},
	} {
		var got, want bytes.Buffer
		j := &jsonStream{w: bufio.NewWriter(&got), pending: map[int]fetch.Result{}}
		// Results arrive out of order; the last one is left for close.
		for i := len(doc.Results) - 2; i >= 0; i-- {
			j.add(i, doc.Results[i])
		}
		if n := len(doc.Results); n > 0 {
			j.pending[n-1] = doc.Results[n-1]
		}
		if err := j.close(doc.Errors); err != nil {
			t.Fatal(err)
		}
		if err := printStructured(&want, OutputJSON, doc); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("streamed:\n%s\nmarshalled:\n%s", got.String(), want.String())
		}
	}
}
