package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/fetch"
	"github.com/ocisrc/ocisrc/pkg/policy"
	"github.com/ocisrc/ocisrc/pkg/termsafe"
)

// ValidateOptions holds every input of validate.
type ValidateOptions struct {
	KubeFlags       *genericclioptions.ConfigFlags
	Files           resource.FilenameOptions
	SystemNamespace string
	Policy          PolicyOptions
	Output          string

	genericiooptions.IOStreams
}

const validateLong = `Check Components in files without a cluster or a registry, as CI does on a
GitOps repository before merge: the source schema and the oci:// reference,
the secretRef namespace rule (the Component's namespace or the system
namespace), and the local registry policy (blocked prefixes; a prefix that
never contacts its origin needs a digest pin).

The namespace of a Component is its metadata.namespace, else -n, else the
kubeconfig's (read from the file only): validate checks every namespace a
repository holds, while fetch -f accepts another namespace than -n's only
with -A. Names and namespaces are checked as Kubernetes checks them. Exit
codes: 0 every Component is valid; 2 at least one is not (one line per
problem, FILE:LINE: NAMESPACE/NAME: FIELD: MESSAGE, the line counted in the
file). In text output, each valid Component the registry policy holds to
a signature or to provenance gets a line saying what it requires.`

// NewValidateCommand returns validate.
func NewValidateCommand(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, getenv func(string) string, invocation string) *cobra.Command {
	o := &ValidateOptions{KubeFlags: kube, SystemNamespace: defaultSystemNamespace(getenv), Policy: newPolicyOptions(getenv), Output: OutputText, IOStreams: streams}
	o.Policy.Cluster = false
	c := &cobra.Command{
		Use:   "validate -f FILENAME [-R]",
		Short: "Check Components in files offline: source, reference, secretRef namespace, registry policy",
		Long:  validateLong,
		Example: fmt.Sprintf(`  %[1]s validate -f components/ -R
  %[1]s validate -f app.yaml --registry-policy platform/registry-policy.yaml -o json`, invocation),
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return clierror.InvalidWithHint(fmt.Errorf("validate reads files given with -f, not as arguments: got %+q", args[0]),
					fmt.Sprintf("did you mean: %s -f %s", c.CommandPath(), strings.Join(args, " -f ")))
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error {
			if len(o.Files.Filenames) == 0 {
				return clierror.InvalidWithHint(errors.New("-f/--filename is required"), fmt.Sprintf("See '%s --help' for usage.", c.CommandPath()))
			}
			c.SilenceUsage = true
			return o.Run()
		},
	}
	fs := c.Flags()
	addFileFlags(fs, &o.Files, "check")
	fs.StringVar(&o.SystemNamespace, "system-namespace", o.SystemNamespace, "Namespace of shared registry credentials (env "+EnvSystemNamespace+").")
	fs.StringVar(&o.Policy.File, "registry-policy", o.Policy.File, "The registry policy file to check the references against (env "+EnvRegistryPolicy+"; default $XDG_CONFIG_HOME/ocisrc/registry-policy.yaml when it exists).")
	addOutputFlag(fs, &o.Output)
	completeOutputFlag(c)
	return c
}

// Run checks every Component in the files.
func (o *ValidateOptions) Run() error {
	namespace, _, err := o.KubeFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil || namespace == "" {
		namespace = "default"
	}
	comps, err := component.FromFiles(o.Files, component.Namespaces{Effective: namespace, AcceptClaims: true})
	if err != nil {
		return err
	}
	file, err := o.Policy.loadFile()
	if err != nil {
		return err
	}
	f := &fetch.Fetcher{Validator: component.NewValidator(), SystemNamespace: o.SystemNamespace, Policy: policy.Set{Layers: []*policy.Loaded{file}}}
	problems := []fetch.Problem{}
	var requires []string
	for _, c := range comps {
		found := f.Check(c)
		problems = append(problems, found...)
		if len(found) == 0 {
			if r := requirements(f.Decide(c).Settings.Verify); r != "" {
				requires = append(requires, fmt.Sprintf("%s: %s: requires %s", c.File, c.Key(), r))
			}
		}
	}
	if err := o.print(problems); err != nil {
		return err
	}
	if o.Output == OutputText {
		// What each valid Component will be held to, from the policy.
		p := termsafe.NewPrinter(o.Out)
		for _, r := range requires {
			p.Printf("%s\n", r)
		}
		if err := p.Err(); err != nil {
			return err
		}
	}
	if len(problems) > 0 {
		return clierror.Invalid(fmt.Errorf("%d %s in %d %s", len(problems), plural(len(problems), "problem", "problems"), len(comps), plural(len(comps), "Component", "Components")))
	}
	if o.Output == OutputText {
		p := termsafe.NewPrinter(o.ErrOut)
		p.Printf("%d %s\n", len(comps), plural(len(comps), "Component is valid.", "Components are valid."))
		return p.Err()
	}
	return nil
}

func (o *ValidateOptions) print(problems []fetch.Problem) error {
	switch o.Output {
	case OutputJSON, OutputYAML:
		// A list of {"file", "line", "component", "field", "message"}, [] when all are valid.
		return printStructured(o.Out, o.Output, problems)
	}
	pr := termsafe.NewPrinter(o.Out)
	for _, p := range problems {
		at := p.File
		if p.Line > 0 {
			at = fmt.Sprintf("%s:%d", p.File, p.Line)
		}
		pr.Printf("%s: %s: %s: %s\n", at, p.Component, p.Field, p.Message)
	}
	return pr.Err()
}

// requirements says in one line what a policy's verify requires of a
// chart: a signature (from which documents), and each provenance
// requirement.
func requirements(v policy.VerifySettings) string {
	var out []string
	if v.Required {
		out = append(out, "a signature ("+strings.Join(v.RequiredBy, ", ")+")")
	}
	for _, p := range v.Provenance {
		out = append(out, "provenance "+p.Requirement().String()+" ("+p.From+")")
	}
	return strings.Join(out, "; ")
}
