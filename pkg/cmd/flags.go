package cmd

import (
	"encoding/json"
	goflag "flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	cliresource "k8s.io/cli-runtime/pkg/resource"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/ocisrc/ocisrc/pkg/oci"
)

// enumValue is a string flag that accepts one of a fixed set of choices and
// lists them in help and in its error.
type enumValue struct {
	value   *string
	choices []string
}

var _ pflag.Value = (*enumValue)(nil)

func newEnumValue(p *string, choices ...string) *enumValue {
	return &enumValue{value: p, choices: choices}
}

func (e *enumValue) String() string { return *e.value }
func (e *enumValue) Type() string   { return strings.Join(e.choices, "|") }
func (e *enumValue) Set(s string) error {
	if !slices.Contains(e.choices, s) {
		return fmt.Errorf("must be one of %s, got %q", strings.Join(e.choices, ", "), s)
	}
	*e.value = s
	return nil
}

// Output formats.
const (
	OutputText = "text"
	OutputJSON = "json"
	OutputYAML = "yaml"
)

var outputFormats = []string{OutputText, OutputJSON, OutputYAML}

func addOutputFlag(fs *pflag.FlagSet, p *string) {
	fs.VarP(newEnumValue(p, outputFormats...), "output", "o", "Output format. One of: (text, json, yaml).")
}

// printStructured writes v to w as JSON (indented) or YAML, for -o json|yaml.
// YAML is the JSON converted, so both carry the same field names.
func printStructured(w io.Writer, output string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if output == OutputYAML {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	// JSON escapes every control character itself (\u001b): exact, and safe.
	_, err = w.Write(append(data, '\n'))
	return err
}

// completeOutputFlag offers the output formats.
func completeOutputFlag(c *cobra.Command) {
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
}

// addRegistryFlags binds the registry connection flags. They carry a
// --registry- prefix because kubectl's ConfigFlags already own the plain
// --certificate-authority, --insecure-skip-tls-verify, … names.
func addRegistryFlags(fs *pflag.FlagSet, o *oci.TLSOptions) {
	fs.StringVar(&o.CAFile, "registry-ca-file", o.CAFile, "Verify the registry's certificate with this PEM CA bundle (in addition to the system roots).")
	fs.StringVar(&o.CertFile, "registry-cert-file", o.CertFile, "Client certificate (PEM) for mutual TLS with the registry.")
	fs.StringVar(&o.KeyFile, "registry-key-file", o.KeyFile, "Client key (PEM) for --registry-cert-file.")
	fs.BoolVar(&o.InsecureSkipTLSVerify, "registry-insecure-skip-tls-verify", o.InsecureSkipTLSVerify, "Skip verification of the registry's certificate. Insecure: prints a warning.")
	fs.BoolVar(&o.PlainHTTP, "plain-http", o.PlainHTTP, "Talk to the registry over plain HTTP instead of HTTPS. Insecure: prints a warning.")
}

// addVerbosityFlag binds klog's -v (client-go's request logging). Every level
// is safe: Secrets are read without client-go's body logging.
func addVerbosityFlag(fs *pflag.FlagSet) {
	gfs := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(gfs)
	v := pflag.PFlagFromGoFlag(gfs.Lookup("v"))
	v.Usage = "Log level for the Kubernetes client (0-10): 6 shows requests, 9 shows them as curl commands."
	fs.AddFlag(v)
}

// quietKlogBelowV1 keeps client-go's own log lines (discovery's "Couldn't
// get current server API group list", …) off stderr unless -v is 1 or more:
// ocisrc reports those failures itself, once, as an Error.
func quietKlogBelowV1() {
	if klog.V(1).Enabled() {
		klog.ClearLogger()
		return
	}
	klog.SetLogger(logr.Discard())
}

// sizeValue is a byte size flag that takes Kubernetes quantities (100Mi, 1G, 5000000).
type sizeValue struct{ bytes *int64 }

func (s sizeValue) String() string {
	return resource.NewQuantity(*s.bytes, resource.BinarySI).String()
}
func (s sizeValue) Type() string { return "size" }
func (s sizeValue) Set(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("must be a size such as 100Mi or 50M, got %q", v)
	}
	n, ok := q.AsInt64()
	if !ok || n <= 0 {
		return fmt.Errorf("must be a positive size such as 100Mi, got %q", v)
	}
	*s.bytes = n
	return nil
}

// addFileFlags binds kubectl's -f/--filename and -R/--recursive.
func addFileFlags(fs *pflag.FlagSet, o *cliresource.FilenameOptions, verb string) {
	fs.StringSliceVarP(&o.Filenames, "filename", "f", o.Filenames, "Read the Components to "+verb+" from these files, directories or URLs (- for standard input), as kubectl does: every object of kind Component, in YAML or JSON, lists included.")
	fs.BoolVarP(&o.Recursive, "recursive", "R", o.Recursive, "Process the directories given with -f recursively.")
}
