package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/credentials"
	"github.com/ocisrc/ocisrc/pkg/fetch"
	"github.com/ocisrc/ocisrc/pkg/oci"
	"github.com/ocisrc/ocisrc/pkg/place"
	"github.com/ocisrc/ocisrc/pkg/trust"
	"github.com/ocisrc/ocisrc/pkg/version"
)

// EnvSystemNamespace overrides the default of --system-namespace.
const EnvSystemNamespace = "OCISRC_SYSTEM_NAMESPACE"

// defaultSystemNamespace is --system-namespace's default: the environment's, else deployment-system.
func defaultSystemNamespace(getenv func(string) string) string {
	if sys := getenv(EnvSystemNamespace); sys != "" {
		return sys
	}
	return credentials.DefaultSystemNamespace
}

// FetchOptions holds every input of the fetch command.
type FetchOptions struct {
	KubeFlags *genericclioptions.ConfigFlags

	Names           []string
	Resource        string
	SystemNamespace string
	Registry        oci.TLSOptions
	// AllowPlainHTTPCredentials lets --plain-http send credentials to a host that is not this machine.
	AllowPlainHTTPCredentials bool
	// AllowUnboundSecrets lets Secrets from the system namespace that are bound to no registry be used.
	AllowUnboundSecrets bool
	Output              string
	Destination         string
	Untar               bool
	DryRun              bool
	Timeout             time.Duration
	// Bulk selection.
	Selector      string
	All           bool
	AllNamespaces bool
	// Files are -f/--filename and -R/--recursive: Components from files.
	Files       resource.FilenameOptions
	Concurrency int
	// ChunkSize is the page size of the LIST of a selection (kubectl's --chunk-size).
	ChunkSize int64
	// Offline answers from the cache only.
	Offline bool
	// MaxChartSize refuses larger charts before they are read into memory.
	MaxChartSize int64
	// Policy selects the registry policy.
	Policy PolicyOptions
	// VerifyKeys (--verify-key, cosign public keys) and Keyrings (--keyring,
	// OpenPGP keyrings) make a valid signature required for every chart.
	VerifyKeys []string
	Keyrings   []string
	// Identities (--verify-identity ISSUER=SUBJECT_REGEXP) trust keyless
	// cosign signatures; NotationCerts (--notation-cert) Notation ones.
	Identities    []string
	NotationCerts []string
	// RequireProvenance (--require-provenance SOURCE_REPOSITORY[@REF])
	// requires SLSA provenance from that source for every chart.
	RequireProvenance string

	genericiooptions.IOStreams
}

// NewFetchOptions returns FetchOptions with their defaults.
func NewFetchOptions(kubeFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, getenv func(string) string) *FetchOptions {
	return &FetchOptions{
		KubeFlags:       kubeFlags,
		Resource:        component.DefaultResource,
		SystemNamespace: defaultSystemNamespace(getenv),
		Output:          OutputText,
		Timeout:         5 * time.Minute,
		Concurrency:     16,
		ChunkSize:       component.ChunkSize,
		MaxChartSize:    oci.DefaultMaxChartSize,
		Policy:          newPolicyOptions(getenv),
		IOStreams:       streams,
	}
}

const fetchLong = `Pull the Helm chart a Component's spec.source points to into Helm's
repository cache, verified by digest.

The Component is read with your kubeconfig identity. When spec.source has an
authentication.secretRef, the registry credentials are read from that Secret
(first in the Component's namespace, then in the system namespace) and handed
to Helm's registry client in memory, for the chart's registry host only: they
are never written to disk, and your Helm registry config and Docker config are
not used.

A chart already in the cache is served without a download when this
Component's place and Secret have read it before; otherwise one request
proves access first. --offline answers from the cache alone and trusts it
(a miss exits 1). With -d, the chart is also placed in DIR; --untar expands
it into DIR/<chart> and refuses to overwrite one.

Exit codes: 0 every chart pulled; 1 a runtime failure (cluster, network,
registry); 2 invalid input or a request refused by policy; 130 and 143
interrupted by SIGINT and SIGTERM (nothing is written).

Documentation: https://github.com/ocisrc/ocisrc/tree/main/docs (commands.md,
output.md for -o and the failure reasons, policy.md for --registry-policy,
verifying.md for --verify-*, --keyring, --notation-cert and
--require-provenance, scale.md for bulk runs, troubleshooting.md).`

const fetchExample = `  # Pull the chart of Component "app" in namespace team-a
  %[1]s app -n team-a

  # Pull several, and print the result as JSON
  %[1]s app api -n team-a -o json

  # Also place the chart in ./charts, expanded
  %[1]s app -n team-a -d ./charts --untar

  # Show what would be pulled, without contacting the registry
  %[1]s app -n team-a --dry-run

  # Pull every Component labelled team=a, in every namespace
  %[1]s -l team=a -A

  # Pull every Component in the namespace, from the cache only
  %[1]s --all -n team-a --offline

  # Pull the Components of manifests in a directory (GitOps), before they are applied
  %[1]s -f components/ -R -n team-a`

// helmKubeNote tells Helm users where the Kubernetes settings come from.
const helmKubeNote = `

Kubernetes settings come from Helm: its --namespace/-n, --kube-context and
--kubeconfig flags and HELM_* environment, as for any helm command.`

// NewFetchCommand returns the fetch command. use is its "Use" line and
// invocation is the command as users type it (kubectl component-pull, helm
// ocisrc fetch); long gets extra text for the face.
func NewFetchCommand(o *FetchOptions, use, invocation, longExtra string) *cobra.Command {
	c := &cobra.Command{
		Use:     use,
		Short:   "Pull a Component's OCI chart into Helm's cache",
		Long:    fetchLong + longExtra,
		Example: fmt.Sprintf(fetchExample, invocation),
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				err = clierror.WithHint(err, fmt.Sprintf("See '%s --help' for usage.", c.CommandPath()))
				// -o json|yaml gets its document whatever fails.
				return newReport(o, false).finish(err, o.Out)
			}
			c.SilenceUsage = true
			return o.Run(c.Context())
		},
	}
	fs := c.Flags()
	o.bindPullFlags(fs, "Pull")
	fs.VarP(newEnumValue(&o.Output, fetchOutputFormats...), "output", "o", "Output format. One of: (text, wide, name, json, yaml). wide adds the source and the cache path; name prints component/NAMESPACE/NAME of each chart pulled.")
	fs.StringVarP(&o.Destination, "destination", "d", o.Destination, "Also place the verified chart in this directory (created if missing).")
	fs.BoolVar(&o.Untar, "untar", o.Untar, "With --destination, expand the chart into DIR/<chart> instead of copying the archive.")
	fs.BoolVar(&o.DryRun, "dry-run", o.DryRun, "Resolve and validate everything and print what would be pulled; contact no registry and write nothing.")
	fs.BoolVar(&o.Offline, "offline", o.Offline, "Answer from the cache only: digests and tags pulled before, no registry request.")
	c.ValidArgsFunction = componentNames(o.KubeFlags, &o.Resource)
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(fetchOutputFormats, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// bindPullFlags binds the flags of every command that pulls Components'
// charts (fetch, bundle create): selection, credentials, registry
// connection, policy and signatures. verb starts the selection flags' help.
func (o *FetchOptions) bindPullFlags(fs *pflag.FlagSet, verb string) {
	fs.StringVar(&o.Resource, "resource", o.Resource, "The resource that holds Components: a name (components) or a qualified name (components.v1alpha1.example.io).")
	fs.StringVar(&o.SystemNamespace, "system-namespace", o.SystemNamespace, "Namespace of shared registry credentials, tried after the Component's namespace (env "+EnvSystemNamespace+").")
	addRegistryFlags(fs, &o.Registry)
	fs.BoolVar(&o.AllowPlainHTTPCredentials, "allow-plain-http-credentials", o.AllowPlainHTTPCredentials, "Allow sending credentials over plain HTTP to a registry (or its token service) that is not on this machine. Insecure.")
	fs.BoolVar(&o.AllowUnboundSecrets, "allow-unbound-secrets", o.AllowUnboundSecrets, "Use Secrets from the system namespace that are bound to no registry (prints a warning): any Component could send their credentials to a host of its choosing. Insecure.")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "Give up on the whole run after this long (for example 30s, 5m); raise it for runs of many Components.")
	fs.StringVarP(&o.Selector, "selector", "l", o.Selector, verb+" every Component matching this label selector (e.g. -l team=a,tier!=test).")
	fs.BoolVar(&o.All, "all", o.All, verb+" every Component in the namespace (with -A, in every namespace).")
	fs.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces, "With --all or --selector, look in every namespace; with -f, take each Component's metadata.namespace from its file (without -A a file naming another namespace than -n's is refused).")
	addFileFlags(fs, &o.Files, strings.ToLower(verb))
	fs.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "The most requests in flight to each registry host, and Components pulled at once.")
	fs.Int64Var(&o.ChunkSize, "chunk-size", o.ChunkSize, "List Components in pages of this size with --all or --selector, as kubectl does; the pulls start with the first page (0: one response).")
	fs.Var(sizeValue{&o.MaxChartSize}, "max-chart-size", "Refuse charts larger than this (a quantity: 100Mi, 1Gi), before they are downloaded.")
	o.Policy.addFlags(fs)
	fs.StringArrayVar(&o.VerifyKeys, "verify-key", o.VerifyKeys, "Require every chart to be signed with cosign by this public key (a PEM file; repeatable).")
	fs.StringArrayVar(&o.Keyrings, "keyring", o.Keyrings, "Require every chart's Helm provenance (.prov) to be signed by a key of this OpenPGP keyring (binary, as pubring.gpg, or ASCII-armored; repeatable).")
	fs.StringArrayVar(&o.Identities, "verify-identity", o.Identities, "Require every chart to be signed with keyless cosign by this identity: ISSUER=SUBJECT_REGEXP, the OIDC issuer exactly and the certificate's subject as an anchored regular expression (repeatable; the trusted root is the registry policy's, else the public Sigstore instance's).")
	fs.StringArrayVar(&o.NotationCerts, "notation-cert", o.NotationCerts, "Require every chart to be signed with Notation by a certificate that chains to this one (a PEM CA or signing certificate file; repeatable).")
	fs.StringVar(&o.RequireProvenance, "require-provenance", o.RequireProvenance, "Require every chart to have SLSA provenance built from this source: SOURCE_REPOSITORY[@REF] (https://github.com/ORG/REPO@refs/heads/main). The builder and signer come from the registry policy's verify.provenance, else any builder signed by a GitHub Actions workflow of that repository through the public Sigstore instance.")
}

// Complete takes the arguments. It reads nothing, so a bad flag is reported
// as such even when the kubeconfig is broken.
func (o *FetchOptions) Complete(args []string) error {
	o.Names = args
	return nil
}

// Validate checks the options without any I/O.
func (o *FetchOptions) Validate() error {
	bulk := o.All || o.Selector != ""
	files := len(o.Files.Filenames) > 0
	switch {
	case files && (len(o.Names) > 0 || bulk):
		return clierror.Invalid(errors.New("-f/--filename cannot be combined with NAME arguments, --selector or --all"))
	case files:
	case o.Files.Recursive:
		return clierror.Invalid(errors.New("-R/--recursive needs -f/--filename"))
	case len(o.Names) == 0 && !bulk:
		return clierror.Invalid(errors.New("at least one Component NAME is required, or --selector, --all or -f"))
	case len(o.Names) > 0 && bulk:
		return clierror.Invalid(errors.New("NAME arguments cannot be combined with --selector or --all"))
	case o.AllNamespaces && !bulk && !files:
		return clierror.Invalid(errors.New("--all-namespaces needs --all, --selector or -f: a Component cannot be fetched by name across all namespaces"))
	case o.Concurrency < 1:
		return clierror.Invalid(fmt.Errorf("--concurrency must be at least 1, got %d", o.Concurrency))
	case o.ChunkSize < 0:
		return clierror.Invalid(fmt.Errorf("--chunk-size must be 0 or more, got %d", o.ChunkSize))
	case o.Offline && o.DryRun:
		return clierror.Invalid(errors.New("--offline and --dry-run cannot be combined"))
	}
	if o.RequireProvenance != "" {
		if _, err := fetch.ParseProvenanceFlag(o.RequireProvenance); err != nil {
			return clierror.Invalid(err)
		}
	}
	for _, n := range o.Names {
		if strings.Contains(n, "/") {
			return clierror.Invalid(fmt.Errorf("invalid Component name %+q: expected a name, not TYPE/NAME (use --resource to read another resource)", n))
		}
		if err := component.CheckName("NAME", n); err != nil {
			return clierror.Invalid(err)
		}
	}
	if err := component.CheckNamespace("--system-namespace", o.SystemNamespace); o.SystemNamespace != "" && err != nil {
		return clierror.Invalid(err)
	}
	if o.Resource == "" {
		return clierror.Invalid(errors.New("--resource must not be empty"))
	}
	if o.SystemNamespace == "" {
		return clierror.Invalid(errors.New("--system-namespace must not be empty"))
	}
	if o.Untar && o.Destination == "" {
		return clierror.Invalid(errors.New("--untar needs --destination"))
	}
	if o.Timeout <= 0 {
		return clierror.Invalid(fmt.Errorf("--timeout must be positive, got %s", o.Timeout))
	}
	if (o.Registry.CertFile == "") != (o.Registry.KeyFile == "") {
		return clierror.Invalid(errors.New("--registry-cert-file and --registry-key-file must be given together"))
	}
	return nil
}

// Run reads the Components and pulls their charts, several at once, and
// shows each as it finishes.
func (o *FetchOptions) Run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	rep := newReport(o, len(o.Names) != 1)
	_, err := o.run(ctx, o.Output == OutputText && !o.DryRun, rep.add)
	if err != nil && rep.bulk && errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The run's own deadline, not a slow answer: say so, with how far it got.
		err = clierror.WithReason(clierror.WithHint(
			fmt.Errorf("the run did not finish within --timeout (%s): %d %s had finished (%w)", o.Timeout, rep.total, plural(rep.total, "Component", "Components"), err),
			"--timeout bounds the whole run: raise it for a run of many Components (docs/scale.md)"), "Timeout")
	}
	return rep.finish(err, o.Out)
}

// applyPolicy reads the registry policy (once the Components are known, so
// that a cluster that cannot be read is reported as such first) and the
// relaxing flags.
func (o *FetchOptions) applyPolicy(ctx context.Context, s *session, f *fetch.Fetcher, comps []component.Component) ([]*fetch.Decision, error) {
	set, err := o.Policy.load(ctx, s, o.SystemNamespace, f.Warn)
	if err != nil {
		return nil, err
	}
	f.Policy = set
	decided := make([]*fetch.Decision, 0, len(comps))
	for _, c := range comps {
		decided = append(decided, f.Decide(c))
	}
	return decided, o.relax(f, decided)
}

// relax applies --registry-insecure-skip-tls-verify and --plain-http to the
// one registry the run's Components name, with a warning that names it. A
// relaxation always names its host: over several registries, it belongs in
// the registry policy file, per prefix.
func (o *FetchOptions) relax(f *fetch.Fetcher, decided []*fetch.Decision) error {
	var flags []string
	if o.Registry.InsecureSkipTLSVerify {
		flags = append(flags, "--registry-insecure-skip-tls-verify")
	}
	if o.Registry.PlainHTTP {
		flags = append(flags, "--plain-http")
	}
	if len(flags) == 0 {
		return nil
	}
	hosts := map[place.Host]bool{}
	for _, d := range decided {
		if d.Invalid == nil {
			hosts[d.Ref.Registry] = true
		}
	}
	var only place.Host
	names := make([]string, 0, len(hosts))
	for h := range hosts {
		names, only = append(names, h.String()), h
	}
	sort.Strings(names)
	if len(names) > 1 {
		return clierror.InvalidWithHint(
			fmt.Errorf("%s applies to one registry, but this run pulls from %d: %s", strings.Join(flags, " and "), len(names), strings.Join(names, ", ")),
			"put plainHTTP: true or tls.insecureSkipVerify: true under the prefix of the registry that needs it, in the local registry policy file (--registry-policy)")
	}
	if len(names) == 1 {
		f.RelaxHost = only
		if o.Registry.InsecureSkipTLSVerify {
			f.Warn(fmt.Sprintf("--registry-insecure-skip-tls-verify is set: the certificate of %s is not verified", f.RelaxHost))
		}
		if o.Registry.PlainHTTP {
			f.Warn(fmt.Sprintf("--plain-http is set: the connection to %s is not encrypted", f.RelaxHost))
		}
	}
	return nil
}

// prepare builds the session and the Fetcher every fetch-like command
// (fetch, bundle create, the Helm downloader) runs with. A dry run's
// Fetcher has no transport and no store: it contacts no registry (nor
// TUF) and writes nothing, by construction.
func (o *FetchOptions) prepare(ctx context.Context) (*session, *fetch.Fetcher, error) {
	// The relaxing flags apply to the run's one registry (see relax), not to
	// every connection.
	global := o.Registry
	global.InsecureSkipTLSVerify, global.PlainHTTP = false, false
	s, err := openSession(ctx, o.KubeFlags, o.Resource)
	if err != nil {
		return nil, nil, err
	}
	warn := warner(o.ErrOut)
	var cosignKeys []trust.Key
	if _, err := readFlagFiles("--verify-key", o.VerifyKeys, func(data []byte, from string) error {
		k, err := trust.ParsePublicKey(data, from)
		if err == nil {
			cosignKeys = append(cosignKeys, k)
		}
		return err
	}); err != nil {
		return nil, nil, err
	}
	keyrings, err := readFlagFiles("--keyring", o.Keyrings, func(data []byte, from string) error {
		var check trust.Keyring
		return check.Add(data, from)
	})
	if err != nil {
		return nil, nil, err
	}
	var identities []trust.Identity
	for _, v := range o.Identities {
		id, err := trust.ParseIdentity(v)
		if err != nil {
			return nil, nil, clierror.Invalid(fmt.Errorf("--verify-identity %w", err))
		}
		identities = append(identities, id)
	}
	notationCerts, err := readFlagFiles("--notation-cert", o.NotationCerts, func(data []byte, from string) error {
		var check trust.NotationTrust
		return check.AddCertificates(data, from)
	})
	if err != nil {
		return nil, nil, err
	}
	var provenance *fetch.ProvenanceFlag
	if o.RequireProvenance != "" {
		if provenance, err = fetch.ParseProvenanceFlag(o.RequireProvenance); err != nil {
			return nil, nil, clierror.Invalid(err)
		}
	}
	f := &fetch.Fetcher{
		Validator:                 component.NewValidator(),
		RequireProvenance:         provenance,
		As:                        impersonation(o.KubeFlags),
		Secrets:                   credentials.NewCachedReader(s.secrets),
		RegistryTLS:               global,
		SystemNamespace:           o.SystemNamespace,
		DryRun:                    o.DryRun,
		Destination:               o.Destination,
		Untar:                     o.Untar,
		PlainHTTP:                 o.Registry.PlainHTTP,
		InsecureSkipVerify:        o.Registry.InsecureSkipTLSVerify,
		AllowPlainHTTPCredentials: o.AllowPlainHTTPCredentials,
		Offline:                   o.Offline,
		AllowUnbound:              o.AllowUnboundSecrets,
		CosignKeys:                cosignKeys,
		Keyrings:                  keyrings,
		Identities:                identities,
		NotationCerts:             notationCerts,
		ConfigMaps:                configMapReader{client: s.clientset},
		Warn:                      warn,
	}
	if o.DryRun {
		return s, f, nil
	}
	puller, err := oci.NewPuller(global, version.UserAgent())
	if err != nil {
		return nil, nil, err
	}
	puller.MaxChartSize = o.MaxChartSize
	puller.SetMaxInFlight(o.Concurrency)
	puller.AllowPlainHTTPCredentials = o.AllowPlainHTTPCredentials
	store, err := openStore(true)
	if err != nil {
		return nil, nil, err
	}
	store.RemoveLeftovers()
	puller.Temp = store
	puller.Hints = store
	f.Puller, f.Store = puller, store
	offline, tufCache := o.Offline, sigstoreCacheDir()
	f.PublicRoot = func(ctx context.Context) (*trust.TrustedRoot, error) {
		return trust.PublicTrustedRoot(ctx, tufCache, offline)
	}
	return s, f, nil
}

// openStore opens the chart store in Helm's repository cache; with create,
// its directory is created first (for a command that writes to it).
func openStore(create bool) (*cache.ChartStore, error) {
	dir := cache.DefaultDir()
	if create {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating the chart cache %q: %w", dir, errors.Unwrap(err))
		}
	}
	return cache.Open(dir)
}

func scopeText(ns string, all bool) string {
	if all {
		return " in any namespace"
	}
	return fmt.Sprintf(" in namespace %q", ns)
}

func uniq(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// plural is one or many, by n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// readFlagFiles reads the files a repeatable flag names, each checked by
// parse (which gets the contents and the flag as the user wrote it, to name
// in its errors); an unreadable or unparsable file is invalid input.
func readFlagFiles(flag string, paths []string, parse func(data []byte, from string) error) ([]fetch.KeyData, error) {
	var out []fetch.KeyData
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, clierror.Invalid(fmt.Errorf("reading %s %q: %w", flag, path, errors.Unwrap(err)))
		}
		from := fmt.Sprintf("%s %q", flag, path)
		if err := parse(data, from); err != nil {
			return nil, clierror.Invalid(err)
		}
		out = append(out, fetch.KeyData{Data: data, From: from})
	}
	return out, nil
}

// impersonation is the run's --as and --as-group (or Helm's
// HELM_KUBEASUSER and HELM_KUBEASGROUPS, which set them), as kubectl flags
// for a hint: " --as jane --as-group devs", or "".
func impersonation(kube *genericclioptions.ConfigFlags) string {
	out := ""
	if kube == nil {
		return out
	}
	if kube.Impersonate != nil && *kube.Impersonate != "" {
		out += " --as " + shellQuote(*kube.Impersonate)
	}
	if kube.ImpersonateGroup != nil {
		for _, g := range *kube.ImpersonateGroup {
			out += " --as-group " + shellQuote(g)
		}
	}
	return out
}

// shellQuote quotes s for a shell when it holds anything but the
// characters of user and group names.
func shellQuote(s string) string {
	plain := func(r rune) bool {
		return strings.ContainsRune("-_.:@", r) || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
	}
	for _, r := range s {
		if !plain(r) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}
