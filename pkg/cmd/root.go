// Package cmd holds the command trees of the three faces of the ocisrc binary:
// the kubectl plugin (kubectl component-pull), the Helm plugin (helm ocisrc)
// and the standalone ocisrc command. The commands are thin: they bind flags
// to options and call the library packages.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/termsafe"
)

// Face is how the binary was started.
type Face int

// The faces of the binary.
const (
	// FaceStandalone is "ocisrc fetch …".
	FaceStandalone Face = iota
	// FaceKubectl is "kubectl component-pull …": argv[0] is kubectl-component_pull.
	FaceKubectl
	// FaceHelm is "helm ocisrc fetch …": Helm sets HELM_PLUGIN_NAME.
	FaceHelm
	// FaceKubectlOcisrc is "kubectl ocisrc validate …", every command of the
	// standalone binary through kubectl: argv[0] is kubectl-ocisrc (krew's
	// second plugin of the same archives).
	FaceKubectlOcisrc
)

// KubectlPluginBinary is the file name kubectl (and krew) look for.
const KubectlPluginBinary = "kubectl-component_pull"

// KubectlOcisrcBinary is the second plugin's file name: kubectl ocisrc.
const KubectlOcisrcBinary = "kubectl-ocisrc"

// DetectFace picks the face from argv[0] and the environment.
func DetectFace(argv0 string, getenv func(string) string) Face {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	switch {
	case base == KubectlPluginBinary || base == KubectlCompletionBinary:
		return FaceKubectl
	case base == KubectlOcisrcBinary || base == KubectlOcisrcCompletionBinary:
		return FaceKubectlOcisrc
	case getenv("HELM_PLUGIN_NAME") != "":
		return FaceHelm
	default:
		return FaceStandalone
	}
}

// NewRootCommand returns the command tree for face.
func NewRootCommand(face Face, streams genericiooptions.IOStreams, getenv func(string) string) *cobra.Command {
	var root *cobra.Command
	switch face {
	case FaceKubectl:
		kube := genericclioptions.NewConfigFlags(true)
		limits := newClientLimits(face, getenv)
		limits.apply(kube)
		o := NewFetchOptions(kube, streams, getenv)
		root = NewFetchCommand(o, "component-pull (NAME... | -l SELECTOR | --all | -f FILENAME [-R]) [-A]", "kubectl component-pull", "")
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl component-pull"}
		// The positional arguments are Component names, always: no
		// "completion" subcommand (kubectl asks kubectl_complete-component_pull,
		// which answers through cobra's hidden __complete).
		root.CompletionOptions.DisableDefaultCmd = true
		kube.AddFlags(root.PersistentFlags())
		limits.addFlags(root.PersistentFlags())
		completeNamespaceFlag(root, kube)
	case FaceHelm:
		kube := kubeFlagsFromHelmEnv(getenv)
		limits := newClientLimits(face, getenv)
		limits.apply(kube)
		root = newParentRoot("helm ocisrc", "Pull the OCI charts of Components into Helm's cache (a Helm plugin)")
		root.AddCommand(
			NewFetchCommand(NewFetchOptions(kube, streams, getenv), "fetch (NAME... | -l SELECTOR | --all | -f FILENAME [-R]) [-A]", "helm ocisrc fetch", helmKubeNote),
			NewLoginCommand(NewLoginOptions(kube, streams, getenv), "helm ocisrc login"),
			NewLogoutCommand(NewLoginOptions(kube, streams, getenv), "helm ocisrc logout"),
			NewCacheCommand(streams, "helm ocisrc"),
			NewPolicyCommand(kube, streams, getenv, "helm ocisrc"),
			NewValidateCommand(kube, streams, getenv, "helm ocisrc"),
			NewBundleCommand(kube, streams, getenv, "helm ocisrc"),
			NewVersionCommand(streams),
			NewGetterCommand(kube, streams, getenv),
		)
		limits.addFlags(root.PersistentFlags())
	default:
		name := "ocisrc"
		if face == FaceKubectlOcisrc {
			name = "kubectl ocisrc"
		}
		kube := genericclioptions.NewConfigFlags(true)
		limits := newClientLimits(face, getenv)
		limits.apply(kube)
		root = newParentRoot(name, "Pull the OCI charts of Components into Helm's cache")
		// The standalone binary offers "completion bash|zsh|fish|powershell";
		// kubectl completes its plugins itself (kubectl_complete-ocisrc).
		root.CompletionOptions.DisableDefaultCmd = face == FaceKubectlOcisrc
		kube.AddFlags(root.PersistentFlags())
		limits.addFlags(root.PersistentFlags())
		completeNamespaceFlag(root, kube)
		root.AddCommand(
			NewFetchCommand(NewFetchOptions(kube, streams, getenv), "fetch (NAME... | -l SELECTOR | --all | -f FILENAME [-R]) [-A]", name+" fetch", ""),
			NewLoginCommand(NewLoginOptions(kube, streams, getenv), name+" login"),
			NewLogoutCommand(NewLoginOptions(kube, streams, getenv), name+" logout"),
			NewCacheCommand(streams, name),
			NewPolicyCommand(kube, streams, getenv, name),
			NewValidateCommand(kube, streams, getenv, name),
			NewBundleCommand(kube, streams, getenv, name),
			NewVersionCommand(streams),
		)
	}
	root.Version = currentVersion().String()
	root.SetVersionTemplate("{{.Version}}\n")
	addVerbosityFlag(root.PersistentFlags())
	root.PersistentPreRun = func(*cobra.Command, []string) { quietKlogBelowV1() }
	root.SilenceErrors = true // only main prints errors
	root.SilenceUsage = true  // input errors get a hint to --help instead of the whole usage
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return clierror.Invalid(err) })
	return root
}

func newParentRoot(displayName, short string) *cobra.Command {
	return &cobra.Command{
		Use:         "ocisrc",
		Short:       short,
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: displayName},
		// Helm completes its plugins itself (plugin.complete); the standalone face turns this on.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
}

// kubeFlagsFromHelmEnv builds the kube settings Helm hands its plugins: Helm
// strips --namespace, --kube-context, … from the command line and passes them
// in the environment instead.
func kubeFlagsFromHelmEnv(getenv func(string) string) *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(true)
	set := func(p *string, env string) {
		if v := getenv(env); v != "" {
			*p = v
		}
	}
	set(f.Namespace, "HELM_NAMESPACE")
	set(f.Context, "HELM_KUBECONTEXT")
	set(f.KubeConfig, "KUBECONFIG")
	set(f.Impersonate, "HELM_KUBEASUSER")
	set(f.BearerToken, "HELM_KUBETOKEN")
	set(f.APIServer, "HELM_KUBEAPISERVER")
	set(f.CAFile, "HELM_KUBECAFILE")
	set(f.TLSServerName, "HELM_KUBETLS_SERVER_NAME")
	if g := getenv("HELM_KUBEASGROUPS"); g != "" {
		groups := strings.Split(g, ",")
		f.ImpersonateGroup = &groups
	}
	if v := getenv("HELM_KUBEINSECURE_SKIP_TLS_VERIFY"); v == "true" {
		*f.Insecure = true
	}
	return f
}

// Main runs the command line args for the face argv0 and getenv select,
// prints a failure as "Error: …" plus "Hint: …" on streams.ErrOut, and returns
// the exit code. main adds only signal handling.
func Main(ctx context.Context, argv0 string, args []string, streams genericiooptions.IOStreams, getenv func(string) string) int {
	face := DetectFace(argv0, getenv)
	switch {
	case strings.TrimSuffix(filepath.Base(argv0), ".exe") == KubectlCompletionBinary || strings.TrimSuffix(filepath.Base(argv0), ".exe") == KubectlOcisrcCompletionBinary:
		// kubectl asks kubectl_complete-component_pull for the plugin's completions.
		args = append([]string{cobra.ShellCompRequestCmd}, args...)
	case face == FaceHelm && isGetterCall(args):
		// Helm runs the downloader plugin as: <command> certFile keyFile caFile URL.
		args = append([]string{"getter"}, args...)
	}
	root := NewRootCommand(face, streams, getenv)
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	err := Execute(ctx, root)
	if err == nil {
		return clierror.CodeOK
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		// Interrupted: the caller reports the signal once.
		return clierror.CodeRuntime
	}
	printError(streams.ErrOut, err, faceWords(face, defaultSystemNamespace(getenv)))
	return clierror.ExitCode(err)
}

// faceWords rewrites a hint so that it names the commands and flags of the
// face that prints it: the packages below write hints in the standalone
// binary's words ("ocisrc policy explain", --context). Helm's face says
// "helm ocisrc …" and --kube-context; the kubectl face, which has no policy
// command (krew installs no ocisrc), shows the cluster's policy with kubectl.
func faceWords(face Face, systemNS string) func(string) string {
	switch face {
	case FaceHelm:
		return func(s string) string {
			s = ocisrcCommand.ReplaceAllString(s, "${1}helm ocisrc $2")
			return helmFlags.Replace(s)
		}
	case FaceKubectlOcisrc:
		return func(s string) string {
			return ocisrcCommand.ReplaceAllString(s, "${1}kubectl ocisrc $2")
		}
	case FaceKubectl:
		show := "kubectl get configmap " + PolicyConfigMap + " -n " + systemNS + " -o yaml"
		return func(s string) string {
			s = strings.ReplaceAll(s, "; `ocisrc policy validate FILE` checks it without a cluster", "")
			s = explainCommand.ReplaceAllString(s, ": the registry policy, in the local file and in `"+show+"`")
			return strings.ReplaceAll(s, "ocisrc fetch", "kubectl component-pull")
		}
	}
	return func(s string) string { return s }
}

var (
	ocisrcCommand  = regexp.MustCompile(`(^|[^\w/-])(?:helm )?ocisrc (fetch|login|logout|policy|cache|validate|bundle)\b`)
	explainCommand = regexp.MustCompile(`(?: with)?: ocisrc policy explain \S+`)
	helmFlags      = strings.NewReplacer("helm's --kube-context", "helm's --kube-context", "--context", "--kube-context", "--server", "--kube-apiserver")
)

// PrintError prints err as main does: "Error: " and its message, then its
// hints. Everything goes through the escaping printer: an error's own line
// structure (a bulk failure's list, the places tried) is kept, and no text
// inside a line can start another.
func PrintError(w io.Writer, err error) {
	printError(w, err, func(s string) string { return s })
}

// printError is PrintError with the hints in a face's words.
func printError(w io.Writer, err error, words func(string) string) {
	p := termsafe.NewPrinter(w)
	var bulk *BulkError
	if errors.As(err, &bulk) {
		bulk.print(p, words)
		return
	}
	lines := terminalLines(err)
	p.Printf("Error: %s\n", lines[0])
	for _, l := range lines[1:] {
		p.Printf("%s\n", l)
	}
	if h := clierror.HintLines(err); len(h) > 0 {
		p.Printf("Hint: %s\n", words(h[0]))
		for _, l := range h[1:] {
			p.Printf("%s\n", words(l))
		}
	}
}

// terminalLines is one error's message as lines for a terminal: one line,
// unless the error has several lines of its own (TerminalLines).
func terminalLines(err error) []string {
	var multi interface{ TerminalLines() []string }
	if errors.As(err, &multi) {
		lines := multi.TerminalLines()
		if prefix := strings.TrimSuffix(err.Error(), multi.(error).Error()); prefix != "" && len(lines) > 0 {
			lines[0] = prefix + lines[0]
		}
		return lines
	}
	return []string{err.Error()}
}

// Execute runs root and classifies the error: a failure before any command
// ran (unknown flag or command, bad arguments) is invalid input (exit 2) and
// gets a hint to --help.
func Execute(ctx context.Context, root *cobra.Command) error {
	ran := false
	markRun(root, &ran)
	c, err := root.ExecuteContextC(ctx)
	if err == nil {
		return nil
	}
	if !ran {
		err = clierror.Invalid(err)
	}
	if !ran && clierror.Hint(err) == "" {
		err = clierror.WithHint(err, fmt.Sprintf("See '%s --help' for usage.", c.CommandPath()))
	}
	return err
}

func markRun(c *cobra.Command, ran *bool) {
	if run := c.RunE; run != nil {
		c.RunE = func(c *cobra.Command, args []string) error {
			*ran = true
			return run(c, args)
		}
	}
	for _, sub := range c.Commands() {
		markRun(sub, ran)
	}
}
