package cmd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/klog/v2"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/pkg/bundle"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/credentials"
	"github.com/ocisrc/ocisrc/pkg/fetch"
	"github.com/ocisrc/ocisrc/pkg/oci"
	"github.com/ocisrc/ocisrc/pkg/place"
	"github.com/ocisrc/ocisrc/pkg/policy"
	"github.com/ocisrc/ocisrc/pkg/termsafe"
	"github.com/ocisrc/ocisrc/pkg/units"
	"github.com/ocisrc/ocisrc/pkg/version"
)

// NewBundleCommand returns "bundle" with create, list and push.
func NewBundleCommand(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, getenv func(string) string, invocation string) *cobra.Command {
	c := &cobra.Command{
		Use:   "bundle",
		Short: "Carry charts across an air gap: OCI image layout bundles of Components' charts and their signatures",
		Long: `A bundle is a tar of a standard OCI image layout (oci-layout, index.json,
blobs/sha256/…) holding each chart's manifest, config, chart and .prov layers
byte for byte, and its cosign signatures. "create" writes one from the
Components a fetch would pull (through the cache), "list" shows what is in
one, and "push" copies every chart under a new prefix of another registry,
keeping repository paths, digests, tags and signatures: a registry policy
with that registry as a mirror (and origin: never) then serves them.`,
	}
	c.AddCommand(newBundleCreateCommand(kube, streams, getenv, invocation), newBundleListCommand(streams, invocation), newBundlePushCommand(kube, streams, getenv, invocation))
	return c
}

func newBundleCreateCommand(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, getenv func(string) string, invocation string) *cobra.Command {
	o := NewFetchOptions(kube, streams, getenv)
	output := ""
	c := &cobra.Command{
		Use:   "create FILE.tar (NAME... | -l SELECTOR | --all | -f FILENAME [-R])",
		Short: "Write the charts of Components, and their signatures, into an OCI image layout tar",
		Long: `Write the charts of Components, and their signatures, into FILE.tar (an OCI
image layout, written whole or not at all). It selects Components as fetch
does and pulls their charts through the cache, with the same credentials,
registry policy and signature requirements; the signatures come from the
place each chart is served from.

--offline bundles from the cache only, without a registry request, and so
without signatures (they are read from the registry): a warning says so.
--dry-run prints what would be bundled and writes nothing. The output is
the file: there is no -o.`,
		Example: fmt.Sprintf(`  %[1]s bundle create charts.tar --all -A
  %[1]s bundle create charts.tar -f components/ -R -n team-a
  %[1]s bundle create charts.tar app web -n team-a --dry-run`, invocation),
		RunE: func(c *cobra.Command, args []string) error {
			usage := fmt.Sprintf("See '%s --help' for usage.", c.CommandPath())
			file, names := output, args
			if output != "" {
				warner(o.ErrOut)(fmt.Sprintf("--output is deprecated: give the bundle file as the first argument (%s FILE.tar NAME...)", c.CommandPath()))
			}
			if file == "" {
				if len(args) == 0 {
					return clierror.InvalidWithHint(errors.New("the bundle FILE.tar is required, as the first argument"), usage)
				}
				file, names = args[0], args[1:]
				if !strings.HasSuffix(file, ".tar") {
					return clierror.InvalidWithHint(fmt.Errorf("the first argument is the bundle file to write and must end in .tar, got %+q", file),
						fmt.Sprintf("usage: %s FILE.tar (NAME... | -l SELECTOR | --all | -f FILENAME)", c.CommandPath()))
				}
			}
			o.Names = names
			if err := o.Validate(); err != nil {
				return clierror.WithHint(err, usage)
			}
			c.SilenceUsage = true
			return o.createBundle(c.Context(), file)
		},
	}
	fs := c.Flags()
	o.bindPullFlags(fs, "Bundle")
	fs.BoolVar(&o.DryRun, "dry-run", o.DryRun, "Resolve and validate everything and print what would be bundled; contact no registry and write nothing.")
	fs.BoolVar(&o.Offline, "offline", o.Offline, "Bundle from the cache only, with no registry request (and so without signatures).")
	fs.StringVar(&output, "output", output, "The bundle file to write.")
	// Deprecated: everywhere else -o/--output is the output format. It is
	// hidden, and a warning on stderr says what to write instead (cobra's
	// own deprecation notice would go to stdout).
	_ = fs.MarkHidden("output")
	c.ValidArgsFunction = componentNames(o.KubeFlags, &o.Resource)
	return c
}

// createBundle pulls the Components' charts through the cache, as fetch
// does, and writes them with their signatures into the bundle.
func (o *FetchOptions) createBundle(ctx context.Context, output string) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var pulled []finished
	var failed []failedResult
	run, err := o.run(ctx, !o.DryRun, func(fin finished) {
		if fin.err != nil {
			failed = append(failed, failedResult{key: fin.res.Component, err: fin.err})
			return
		}
		pulled = append(pulled, fin)
	})
	if err != nil {
		return err
	}
	if run.none {
		return clierror.Invalid(errors.New("no Component selected: nothing to bundle"))
	}
	if len(failed) == 1 && run.total == 1 {
		return failed[0].err
	}
	if len(failed) > 0 {
		return newBulkError(failed, run.total, "", klog.V(1).Enabled())
	}
	sort.Slice(pulled, func(i, j int) bool { return pulled[i].seq < pulled[j].seq })
	p := termsafe.NewPrinter(o.Out)
	if o.DryRun {
		for _, fin := range pulled {
			p.Printf("Would bundle %s: %s\n", fin.res.Component, fin.res.Chart)
		}
		p.Printf("Would write %s\n", output)
		return p.Err()
	}
	if o.Offline {
		run.f.Warn("--offline: the charts are bundled without their signatures, which are read from the registry; a mirror whose policy requires signatures will refuse them")
	}
	started := time.Now()
	w, err := bundle.Create(ctx, output)
	if err != nil {
		return err
	}
	defer w.Abort()
	charts, sigs := 0, 0
	seen := map[string]bool{}
	for _, fin := range pulled {
		// One entry per chart, however many Components name it.
		key := fin.d.Ref.Repo() + "@" + fin.res.Digest
		if seen[key] {
			continue
		}
		seen[key] = true
		n, err := run.f.Artifacts(ctx, fin.d, fin.res, w)
		if err != nil {
			return fmt.Errorf("component %q: %w", fin.res.Component, err)
		}
		charts, sigs = charts+1, sigs+n
	}
	size, err := w.Commit(ctx)
	if err != nil {
		return err
	}
	p.Printf("Bundled %d %s and %d %s into %s (%s, %s)\n", charts, plural(charts, "chart", "charts"), sigs, plural(sigs, "signature", "signatures"),
		output, units.Bytes(size), time.Since(started).Round(time.Millisecond))
	return p.Err()
}

// bundleListOutput is the -o json|yaml document of "bundle list".
type bundleListOutput struct {
	Charts []bundle.Entry `json:"charts"`
}

func newBundleListCommand(streams genericiooptions.IOStreams, invocation string) *cobra.Command {
	output := OutputText
	c := &cobra.Command{
		Use:     "list FILE.tar",
		Aliases: []string{"ls"},
		Short:   "List the charts in a bundle (every blob is checked against its digest)",
		Example: fmt.Sprintf("  %[1]s bundle list charts.tar\n  %[1]s bundle list charts.tar -o json", invocation),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return clierror.Invalid(fmt.Errorf("exactly one bundle FILE is required, got %d", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			c.SilenceUsage = true
			b, err := bundle.Open(c.Context(), args[0])
			if err != nil {
				return err
			}
			defer b.Close()
			entries := b.Entries()
			switch output {
			case OutputJSON, OutputYAML:
				doc := bundleListOutput{Charts: entries}
				if doc.Charts == nil {
					doc.Charts = []bundle.Entry{}
				}
				return printStructured(streams.Out, output, doc)
			}
			// The fields are escaped one by one, then laid out in columns.
			w := printers.GetNewTabWriter(streams.Out)
			p := termsafe.NewPrinter(w)
			p.Printf("REFERENCE\tCHART\tVERSION\tDIGEST\tSIZE\tSIGNATURES\n")
			for _, e := range entries {
				p.Printf("%s:%s\t%s\t%s\t%s\t%s\t%d\n", e.Repository, e.Tag, e.Chart, e.Version, shortDigest(e.Digest), units.Bytes(e.Size), e.Signatures)
			}
			if err := p.Err(); err != nil {
				return err
			}
			return w.Flush()
		},
	}
	addOutputFlag(c.Flags(), &output)
	completeOutputFlag(c)
	return c
}

// BundlePushOptions holds every input of "bundle push".
type BundlePushOptions struct {
	KubeFlags       *genericclioptions.ConfigFlags
	File            string
	To              string
	Registry        oci.TLSOptions
	Policy          PolicyOptions
	SystemNamespace string
	RegistryConfig  string
	AllowPlainHTTP  bool
	Timeout         time.Duration
	Output          string

	// target is --to, parsed.
	target place.Place

	genericiooptions.IOStreams
}

// bundlePushOutput is the -o json|yaml document of "bundle push".
type bundlePushOutput struct {
	Pushed []bundle.Pushed `json:"pushed"`
}

func newBundlePushCommand(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, getenv func(string) string, invocation string) *cobra.Command {
	o := &BundlePushOptions{
		KubeFlags: kube, Policy: newPolicyOptions(getenv), SystemNamespace: defaultSystemNamespace(getenv),
		RegistryConfig: credentials.RegistryConfigPath(getenv), Timeout: 30 * time.Minute, Output: OutputText, IOStreams: streams,
	}
	c := &cobra.Command{
		Use:   "push FILE.tar --to HOST[:PORT]/PATH",
		Short: "Push every chart of a bundle under a prefix of another registry, digests, tags and signatures intact",
		Long: `Push every chart of a bundle under a prefix of another registry, keeping its
repository path: registry.example.com/charts/app pushed --to
mirror.internal:5000/base lands at mirror.internal:5000/base/charts/app,
each manifest byte for byte (so its digest is kept), with its tag and its
signatures. The whole bundle is checked against its digests first: a
truncated or tampered bundle pushes nothing.

Credentials for the target: when the target is a mirror of the registry
policy, that mirror's secretRef (the system namespace, read with your
identity); else your Helm registry login for the host, as helm push uses it
(--registry-config). TLS for the target comes from the registry policy and
the --registry-* flags.`,
		Example: fmt.Sprintf("  %[1]s bundle push charts.tar --to mirror.internal:5000/base", invocation),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return clierror.Invalid(fmt.Errorf("exactly one bundle FILE is required, got %d", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			o.File = args[0]
			if o.To == "" {
				return clierror.InvalidWithHint(errors.New("--to is required: HOST[:PORT]/PATH of the target registry"), fmt.Sprintf("See '%s --help' for usage.", c.CommandPath()))
			}
			to, err := policy.ParsePrefix(o.To)
			if err != nil {
				return clierror.Invalid(fmt.Errorf("--to %w", err))
			}
			o.target = to
			c.SilenceUsage = true
			return o.Run(c.Context())
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.To, "to", o.To, "The target: HOST[:PORT]/PATH; each chart keeps its repository path under it.")
	addRegistryFlags(fs, &o.Registry)
	o.Policy.addFlags(fs)
	fs.StringVar(&o.SystemNamespace, "system-namespace", o.SystemNamespace, "Namespace of the registry policy's ConfigMap and mirror Secrets (env "+EnvSystemNamespace+").")
	fs.StringVar(&o.RegistryConfig, "registry-config", o.RegistryConfig, "Helm's registry config file: the login used for a target that is not a configured mirror (env HELM_REGISTRY_CONFIG).")
	fs.BoolVar(&o.AllowPlainHTTP, "allow-plain-http-credentials", o.AllowPlainHTTP, "Allow sending credentials over plain HTTP to a registry that is not on this machine. Insecure.")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "Give up after this long.")
	addOutputFlag(fs, &o.Output)
	return c
}

// Run pushes the bundle.
func (o *BundlePushOptions) Run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	b, err := bundle.Open(ctx, o.File)
	if err != nil {
		return err
	}
	defer b.Close()
	warn := warner(o.ErrOut)
	set, s, err := o.Policy.loadAll(ctx, o.KubeFlags, o.SystemNamespace, warn)
	if err != nil {
		return err
	}
	global := o.Registry
	global.InsecureSkipTLSVerify, global.PlainHTTP = false, false
	puller, err := oci.NewPuller(global, version.UserAgent())
	if err != nil {
		return err
	}
	puller.AllowPlainHTTPCredentials = o.AllowPlainHTTP
	targetHost := o.target.Host()
	if o.Registry.InsecureSkipTLSVerify {
		warn(fmt.Sprintf("--registry-insecure-skip-tls-verify is set: the certificate of %s is not verified", targetHost))
	}
	if o.Registry.PlainHTTP {
		warn(fmt.Sprintf("--plain-http is set: the connection to %s is not encrypted", targetHost))
	}
	authFor := func(repository place.Place) (oci.Auth, error) {
		var a oci.Auth
		if name, ok := set.MirrorSecret(repository); ok {
			if s == nil {
				var err error
				if s, err = openSession(ctx, o.KubeFlags, "components"); err != nil {
					return a, err
				}
			}
			res, err := credentials.ResolveBound(ctx, s.secrets, o.SystemNamespace, name, repository.Host())
			if err != nil {
				return a, err
			}
			return fetch.SecretAuth(res), nil
		}
		cred, err := (credentials.RegistryConfig{Path: o.RegistryConfig}).Credential(ctx, repository.Host())
		if err != nil {
			return a, err
		}
		if cred != auth.EmptyCredential {
			a.Credential = &cred
		}
		return a, nil
	}
	repoFor := func(repository string) (oras.Target, error) {
		at, err := place.ParsePlace(repository)
		if err != nil || at.Path() == "" {
			return nil, clierror.Invalid(fmt.Errorf("the bundle names a repository that cannot be pushed to: %+q", repository))
		}
		ref := chartref.Reference{Registry: at.Host(), Repository: at.Path()}
		a, err := authFor(at)
		if err != nil {
			return nil, err
		}
		t := set.For(at).TLS
		a.Extra.PolicyCAs = t.CAPEMs()
		if c := t.ClientCertificate; c != nil {
			a.Extra.PolicyCertPEM, a.Extra.PolicyKeyPEM = c.CertPEM, c.KeyPEM
		}
		a.Extra.InsecureSkipVerify = t.InsecureSkipVerify || o.Registry.InsecureSkipTLSVerify
		a.Extra.PlainHTTP = t.PlainHTTP || o.Registry.PlainHTTP
		if err := oci.CheckPlainHTTP(at.Host(), a.Extra.PlainHTTP, a.Credential != nil, o.AllowPlainHTTP); err != nil {
			return nil, err
		}
		return puller.Repository(ctx, ref, a)
	}
	pushed, err := b.Push(ctx, o.target.String(), repoFor)
	if err != nil {
		if clierror.Hint(err) != "" || clierror.ExitCode(err) != clierror.CodeRuntime {
			return err // ours: already one sentence and a hint (a Secret, a binding, the policy)
		}
		return oci.DescribePushError(fmt.Sprintf("pushing the bundle %q to %s", filepath.Base(o.File), o.target), targetHost,
			fmt.Sprintf("your Helm registry login (%s)", o.RegistryConfig), err)
	}
	sort.Slice(pushed, func(i, j int) bool { return pushed[i].Target < pushed[j].Target })
	switch o.Output {
	case OutputJSON, OutputYAML:
		doc := bundlePushOutput{Pushed: pushed}
		if doc.Pushed == nil {
			doc.Pushed = []bundle.Pushed{}
		}
		return printStructured(o.Out, o.Output, doc)
	}
	pr := termsafe.NewPrinter(o.Out)
	for _, p := range pushed {
		pr.Printf("Pushed %s -> %s (%d %s)\n", p.Reference, p.Target, p.Signatures, plural(p.Signatures, "signature", "signatures"))
	}
	return pr.Err()
}
