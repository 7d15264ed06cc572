package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/fetch"
	"github.com/ocisrc/ocisrc/pkg/oci"
	"github.com/ocisrc/ocisrc/pkg/policy"
	"github.com/ocisrc/ocisrc/pkg/termsafe"
	"github.com/ocisrc/ocisrc/pkg/trust"
	"github.com/ocisrc/ocisrc/pkg/units"
)

// The registry policy's places.
const (
	// EnvRegistryPolicy names the local policy file when --registry-policy is not given.
	EnvRegistryPolicy = "OCISRC_REGISTRY_POLICY"
	// PolicyConfigMap is the cluster's policy: this ConfigMap in the system namespace, key PolicyKey.
	PolicyConfigMap = "ocisrc-registry-policy"
	PolicyKey       = "policy.yaml"
)

// PolicyOptions select the registry policy of a run.
type PolicyOptions struct {
	// File is --registry-policy ("" for the environment's or the default).
	File string
	// Cluster reads the ConfigMap (--cluster-registry-policy).
	Cluster bool

	getenv func(string) string
}

func newPolicyOptions(getenv func(string) string) PolicyOptions {
	return PolicyOptions{Cluster: true, getenv: getenv}
}

func (p *PolicyOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&p.File, "registry-policy", p.File, "The local registry policy file (env "+EnvRegistryPolicy+"; default $XDG_CONFIG_HOME/ocisrc/registry-policy.yaml when it exists).")
	fs.BoolVar(&p.Cluster, "cluster-registry-policy", p.Cluster, "Read the cluster's registry policy: ConfigMap "+PolicyConfigMap+" (key "+PolicyKey+") in the system namespace.")
}

// localFile is the local policy file to read, and whether it must exist
// (named by the flag or the environment) or may be missing (the default).
func (p *PolicyOptions) localFile() (path string, required bool) {
	if p.File != "" {
		return p.File, true
	}
	if v := p.getenv(EnvRegistryPolicy); v != "" {
		return v, true
	}
	dir := p.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := p.getenv("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		if home == "" {
			return "", false
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "ocisrc", "registry-policy.yaml"), false
}

// loadFile reads the local policy file, if there is one.
func (p *PolicyOptions) loadFile() (*policy.Loaded, error) {
	path, required := p.localFile()
	if path == "" {
		return nil, nil
	}
	data, err := readPolicyFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return nil, nil
	}
	if err != nil {
		hint := "pass --registry-policy with an existing file"
		if p.File == "" {
			hint = EnvRegistryPolicy + " names it: set it to an existing file, or unset it"
		}
		return nil, clierror.InvalidWithHint(fmt.Errorf("reading the registry policy file %q: %w", path, errors.Unwrap(err)), hint)
	}
	abs, _ := filepath.Abs(path)
	l, err := policy.Load(data, policy.Source{Kind: policy.SourceFile, Name: abs})
	if err != nil {
		return nil, clierror.InvalidWithHint(err, "fix the file; `ocisrc policy validate FILE` checks it without a cluster")
	}
	return l, nil
}

func readPolicyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, policy.MaxSize+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	return data, nil
}

// loadCluster reads the cluster's policy with the user's identity. NotFound
// is no policy; Forbidden is a warning (the run goes on without it); a
// policy that cannot be used fails the run.
func (p *PolicyOptions) loadCluster(ctx context.Context, s *session, systemNS string, warn func(string)) (*policy.Loaded, error) {
	if !p.Cluster {
		return nil, nil
	}
	name := systemNS + "/" + PolicyConfigMap
	cm, err := s.clientset.ConfigMaps(systemNS).Get(ctx, PolicyConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case apierrors.IsForbidden(err):
		warn(fmt.Sprintf("cannot read ConfigMap %s (forbidden): the cluster's registry policy is not applied; ask for \"get\" on it, or pass --cluster-registry-policy=false", name))
		return nil, nil
	case err != nil:
		return nil, component.DescribeClusterError(fmt.Sprintf("reading the cluster's registry policy, ConfigMap %s", name), err)
	}
	data, ok := cm.Data[PolicyKey]
	if !ok {
		return nil, clierror.InvalidWithHint(fmt.Errorf("ConfigMap %q has no key %q: expected the registry policy there", name, PolicyKey),
			"ask the platform team to fix it, or pass --cluster-registry-policy=false")
	}
	l, err := policy.Load([]byte(data), policy.Source{Kind: policy.SourceConfigMap, Name: name})
	if err != nil {
		return nil, clierror.InvalidWithHint(err, "ask the platform team to fix the ConfigMap, or pass --cluster-registry-policy=false to run without it")
	}
	return l, nil
}

// load reads the run's policy: the local file first (it wins routing ties),
// then the cluster's.
func (p *PolicyOptions) load(ctx context.Context, s *session, systemNS string, warn func(string)) (policy.Set, error) {
	file, err := p.loadFile()
	if err != nil {
		return policy.Set{}, err
	}
	cluster, err := p.loadCluster(ctx, s, systemNS, warn)
	if err != nil {
		return policy.Set{}, err
	}
	return policy.Set{Layers: []*policy.Loaded{file, cluster}}, nil
}

// loadAll reads the run's policy for a command that needs the cluster only
// for it (policy explain, bundle push): the local file, and the cluster's
// unless --cluster-registry-policy=false. A cluster that cannot be reached
// is said to be the cluster's policy, with the flag that skips it. The
// session is returned for later reads (nil when the cluster is not read).
func (p *PolicyOptions) loadAll(ctx context.Context, kube *genericclioptions.ConfigFlags, systemNS string, warn func(string)) (policy.Set, *session, error) {
	if !p.Cluster {
		file, err := p.loadFile()
		if err != nil {
			return policy.Set{}, nil, err
		}
		return policy.Set{Layers: []*policy.Loaded{file}}, nil, nil
	}
	s, err := openSession(ctx, kube, "components")
	if err != nil {
		return policy.Set{}, nil, clierror.WithHint(fmt.Errorf("reading the cluster's registry policy: %w", err),
			"pass --cluster-registry-policy=false to go on with the local policy file only; or "+clierror.Hint(err))
	}
	set, err := p.load(ctx, s, systemNS, warn)
	return set, s, err
}

// NewPolicyCommand returns "policy" with explain and validate.
func NewPolicyCommand(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, getenv func(string) string, invocation string) *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Explain and validate the registry policy (per-registry TLS, mirrors, blocks)",
		Long: `The registry policy says, per registry prefix, which CAs to trust, which
mirrors to try, whether the origin may be contacted, and which prefixes are
blocked. It comes from a local file (--registry-policy, $` + EnvRegistryPolicy + `,
or $XDG_CONFIG_HOME/ocisrc/registry-policy.yaml) and from the cluster's
ConfigMap ` + PolicyConfigMap + ` (key ` + PolicyKey + `) in the system namespace.`,
	}
	c.AddCommand(newPolicyExplainCommand(kube, streams, getenv, invocation), newPolicyValidateCommand(streams, invocation))
	return c
}

// explainOutput is the -o json|yaml document of "policy explain".
type explainOutput struct {
	Reference string `json:"reference"`
	// Refused is why the policy refuses the reference before any request
	// (a blocked prefix, a tag that can never be resolved); omitted when
	// it is allowed.
	Refused string `json:"refused,omitempty"`
	policy.Settings
	// Sources are the documents read.
	Sources []string `json:"sources"`
	// Flags are the run's registry flags that apply too.
	Flags []string `json:"flags,omitempty"`
}

func newPolicyExplainCommand(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, getenv func(string) string, invocation string) *cobra.Command {
	po := newPolicyOptions(getenv)
	var reg oci.TLSOptions
	output := OutputText
	systemNS := defaultSystemNamespace(getenv)
	timeout := time.Minute
	c := &cobra.Command{
		Use:   "explain REFERENCE",
		Short: "Print the effective registry policy for an oci:// chart reference, and where each setting comes from",
		Example: fmt.Sprintf(`  %[1]s policy explain oci://registry.example.com/charts/app:1.2.3
  %[1]s policy explain oci://registry.example.com/charts/app:1.2.3 -o json --cluster-registry-policy=false`, invocation),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return clierror.Invalid(fmt.Errorf("exactly one oci:// REFERENCE is required, got %d", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			ref, err := chartref.Parse(args[0])
			if err != nil {
				return clierror.Invalid(fmt.Errorf("REFERENCE %w", err))
			}
			if timeout <= 0 {
				return clierror.Invalid(fmt.Errorf("--timeout must be positive, got %s", timeout))
			}
			c.SilenceUsage = true
			ctx, cancel := context.WithTimeout(c.Context(), timeout)
			defer cancel()
			set, _, err := po.loadAll(ctx, kube, systemNS, warner(streams.ErrOut))
			if err != nil {
				return err
			}
			st := set.For(ref.Place())
			out := explainOutput{Reference: ref.String(), Settings: st, Sources: []string{}}
			if err := fetch.PolicyRefusal(ref, st); err != nil {
				out.Refused = err.Error()
			}
			for _, l := range set.Layers {
				if l != nil {
					out.Sources = append(out.Sources, l.Source.String())
				}
			}
			out.Flags = registryFlagsSet(reg)
			return printExplain(streams.Out, output, out)
		},
	}
	po.addFlags(c.Flags())
	addRegistryFlags(c.Flags(), &reg)
	c.Flags().StringVar(&systemNS, "system-namespace", systemNS, "Namespace of the cluster's registry policy ConfigMap (env "+EnvSystemNamespace+").")
	c.Flags().DurationVar(&timeout, "timeout", timeout, "Give up reading the cluster's registry policy after this long.")
	addOutputFlag(c.Flags(), &output)
	completeOutputFlag(c)
	return c
}

// registryFlagsSet names the registry flags given, as explain shows them.
func registryFlagsSet(o oci.TLSOptions) []string {
	var out []string
	if o.CAFile != "" {
		out = append(out, "--registry-ca-file "+o.CAFile+" (a CA for every registry)")
	}
	if o.CertFile != "" {
		out = append(out, "--registry-cert-file "+o.CertFile+" (the client certificate, before the Secret's and the policy file's)")
	}
	if o.InsecureSkipTLSVerify {
		out = append(out, "--registry-insecure-skip-tls-verify (for a run over one registry only)")
	}
	if o.PlainHTTP {
		out = append(out, "--plain-http (for a run over one registry only)")
	}
	return out
}

func printExplain(w io.Writer, output string, out explainOutput) error {
	switch output {
	case OutputJSON, OutputYAML:
		return printStructured(w, output, out)
	}
	p := termsafe.NewPrinter(w)
	st := out.Settings
	p.Printf("Reference:   %s\n", out.Reference)
	p.Printf("Repository:  %s\n", st.Repository)
	if len(out.Sources) == 0 {
		p.Printf("Policy:      none (no local file, no ConfigMap)\n")
	}
	for i, s := range out.Sources {
		label := "Policy:      "
		if i > 0 {
			label = "             "
		}
		p.Printf("%s%s\n", label, s)
	}
	if len(st.Matches) == 0 {
		p.Printf("Matched:     no prefix\n")
	}
	for i, m := range st.Matches {
		label := "Matched:     "
		if i > 0 {
			label = "             "
		}
		p.Printf("%sprefix %s (%s)\n", label, m.Prefix, m.From)
	}
	if st.Blocked {
		p.Printf("Blocked:     yes, by %s: the reference is refused before any request\n", strings.Join(st.BlockedBy, ", "))
	} else {
		p.Printf("Blocked:     no\n")
	}
	for i, m := range st.Mirrors {
		p.Printf("Mirror %d:    %s", i+1, m.Repository)
		if m.ResolveTags {
			p.Printf(" (resolves tags)")
		} else {
			p.Printf(" (digest-pinned references only)")
		}
		if m.SecretRef != "" {
			p.Printf(", credentials: secret %s of the system namespace", m.SecretRef)
		} else {
			p.Printf(", anonymous")
		}
		p.Printf(" (%s)\n", m.From)
		writeTLS(p, "             ", m.TLS)
	}
	origin := "contacted after the mirrors, with the Component's credentials"
	if len(st.Mirrors) == 0 {
		origin = "contacted directly, with the Component's credentials"
	}
	switch {
	case st.Blocked:
		origin = "not contacted: the reference is blocked"
	case st.Origin == policy.OriginNever:
		origin = "never contacted (tag-only references are refused)"
	}
	from := ""
	if st.OriginFrom != "" {
		from = " (" + st.OriginFrom + ")"
	}
	p.Printf("Origin:      %s: %s%s\n", st.Repository, origin, from)
	writeTLS(p, "             ", st.TLS)
	for _, f := range out.Flags {
		p.Printf("Flag:        %s\n", f)
	}
	if v := st.Verify; v.Required {
		p.Printf("Verify:      a valid signature is required (%s)\n", strings.Join(v.RequiredBy, ", "))
		for _, k := range v.CosignKeys {
			p.Printf("             cosign key %s (%s)\n", keyName(k.Data), k.From)
		}
		for _, k := range v.CosignSecrets {
			p.Printf("             cosign keys: every *.pub of secret %s in the system namespace (%s)\n", k.Secret, k.From)
		}
		for _, k := range v.HelmKeyrings {
			p.Printf("             helm keyring of %s (%s)\n", units.Bytes(int64(len(k.Data))), k.From)
		}
		for _, k := range v.HelmSecrets {
			p.Printf("             helm keyring: pubring.gpg or *.asc of secret %s in the system namespace (%s)\n", k.Secret, k.From)
		}
		for _, k := range v.Keyless {
			for _, id := range k.Identities {
				p.Printf("             cosign keyless identity %s, trusted root %s (%s)\n", id.String(), k.Root, k.From)
			}
		}
		for _, n := range v.Notation {
			store := fmt.Sprintf("%d %s", n.Certificates, plural(n.Certificates, "certificate", "certificates"))
			if n.Secret != "" {
				store += " and every *.crt and *.pem of secret " + n.Secret + " in the system namespace"
			}
			p.Printf("             notation identities %s, trust store %s (%s)\n", strings.Join(n.Identities, "; "), store, n.From)
		}
	} else {
		p.Printf("Verify:      no signature required\n")
	}
	if len(st.Verify.Provenance) == 0 {
		p.Printf("Provenance:  not required\n")
	}
	for i, ps := range st.Verify.Provenance {
		label := "Provenance:  "
		if i > 0 {
			label = "             "
		}
		p.Printf("%srequired (%s): %s\n", label, ps.From, ps.Requirement().String())
		for _, k := range ps.Keys {
			p.Printf("             signed by cosign key %s\n", keyName(k.Data))
		}
		if ps.Secret != "" {
			p.Printf("             signed by a key of secret %s in the system namespace (every *.pub)\n", ps.Secret)
		}
		if k := ps.Keyless; k != nil {
			for _, id := range k.Identities {
				p.Printf("             signed by keyless identity %s, trusted root %s\n", id.String(), k.Root)
			}
		}
	}
	if st.AllowUnboundSystemSecrets {
		p.Printf("Secrets:     unbound system Secrets allowed (allowUnboundSystemSecrets in the local file)\n")
	}
	if out.Refused != "" {
		p.Printf("Refused:     %s\n", out.Refused)
	}
	return p.Err()
}

// keyName is a cosign key's fingerprint, for explain.
func keyName(pem []byte) string {
	k, err := trust.ParsePublicKey(pem, "key")
	if err != nil {
		return "(unreadable)"
	}
	return k.Fingerprint
}

func writeTLS(p *termsafe.Printer, pad string, t policy.TLSSettings) {
	p.Printf("%sTLS: system roots", pad)
	for _, ca := range t.CAs {
		p.Printf(" + %s (%s)", strings.Join(ca.Subjects, "; "), ca.From)
	}
	p.Printf("\n")
	if c := t.ClientCertificate; c != nil {
		p.Printf("%sclient certificate %s (%s)\n", pad, c.Subject, c.From)
	}
	if t.InsecureSkipVerify {
		p.Printf("%sinsecureSkipVerify: the certificate is NOT verified (%s)\n", pad, t.InsecureSkipVerifyFrom)
	}
	if t.PlainHTTP {
		p.Printf("%splainHTTP: the connection is NOT encrypted (%s)\n", pad, t.PlainHTTPFrom)
	}
}

// policyValidateOutput is the -o json|yaml document of "policy validate".
type policyValidateOutput struct {
	File string `json:"file"`
	// As is "file" (a local policy file) or "ConfigMap" (--as-configmap).
	As         string   `json:"as"`
	Valid      bool     `json:"valid"`
	Registries int      `json:"registries"`
	Warnings   []string `json:"warnings"`
	// Errors are why the file is not valid: each with its field path.
	Errors []policyProblem `json:"errors"`
}

// policyProblem is one problem of a policy document.
type policyProblem struct {
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

func newPolicyValidateCommand(streams genericiooptions.IOStreams, invocation string) *cobra.Command {
	asConfigMap := false
	output := OutputText
	c := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a registry policy file without a cluster (for CI)",
		Example: fmt.Sprintf(`  %[1]s policy validate registry-policy.yaml
  %[1]s policy validate registry-policy.yaml -o json
  # the platform team's ConfigMap content: refuses what only a local file may set
  %[1]s policy validate --as-configmap policy.yaml`, invocation),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return clierror.Invalid(fmt.Errorf("exactly one FILE is required, got %d", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			c.SilenceUsage = true
			doc := policyValidateOutput{File: args[0], As: policy.SourceFile, Warnings: []string{}, Errors: []policyProblem{}}
			src := policy.Source{Kind: policy.SourceFile, Name: args[0]}
			if asConfigMap {
				src = policy.Source{Kind: policy.SourceConfigMap, Name: args[0], File: true}
				doc.As = policy.SourceConfigMap
			}
			l, err := loadPolicyFile(args[0], src)
			if err == nil {
				doc.Valid, doc.Registries, doc.Warnings = true, len(l.Doc.Registries), append(doc.Warnings, l.Warnings()...)
			} else {
				p := policyProblem{Message: err.Error()}
				var pe *policy.Error
				if errors.As(err, &pe) {
					p.Path = pe.Path
				}
				doc.Errors = append(doc.Errors, p)
			}
			if output == OutputJSON || output == OutputYAML {
				if perr := printStructured(streams.Out, output, doc); perr != nil {
					return perr
				}
				return err
			}
			if err != nil {
				return err
			}
			warn := warner(streams.ErrOut)
			for _, w := range doc.Warnings {
				warn(w)
			}
			as := "as a local policy file"
			if asConfigMap {
				as = "as the content of the cluster's ConfigMap"
			}
			p := termsafe.NewPrinter(streams.Out)
			p.Printf("%s is a valid %s %s, with %d %s\n", args[0], policy.Kind, as, doc.Registries, plural(doc.Registries, "registry", "registries"))
			return p.Err()
		},
	}
	c.Flags().BoolVar(&asConfigMap, "as-configmap", false, "Check the file as the cluster's ConfigMap content: refuse what only a local file may set.")
	addOutputFlag(c.Flags(), &output)
	completeOutputFlag(c)
	return c
}

// loadPolicyFile reads and checks a policy file; every failure is invalid
// input naming the file.
func loadPolicyFile(path string, src policy.Source) (*policy.Loaded, error) {
	data, err := readPolicyFile(path)
	if err != nil {
		return nil, clierror.Invalid(fmt.Errorf("reading %q: %w", path, errors.Unwrap(err)))
	}
	l, err := policy.Load(data, src)
	if err != nil {
		return nil, clierror.Invalid(err)
	}
	return l, nil
}
