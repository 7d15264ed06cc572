package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
)

// ComponentScheme is the URL scheme of the Helm downloader plugin.
const ComponentScheme = "component"

// isGetterCall reports whether Helm runs the binary as a downloader:
// <command> certFile keyFile caFile URL.
func isGetterCall(args []string) bool {
	return len(args) == 4 && strings.HasPrefix(args[3], ComponentScheme+"://")
}

// ParseComponentURL reads component://<namespace>/<name>[/<chart>-<version>.tgz].
// The optional last segment is accepted and ignored, so that helm pull names
// the file it saves sensibly.
func ParseComponentURL(raw string) (namespace, name string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != ComponentScheme {
		return "", "", fmt.Errorf("%q is not a component:// URL: expected component://NAMESPACE/NAME", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
		return "", "", fmt.Errorf("%q: expected component://NAMESPACE/NAME, without credentials, port, query or fragment", raw)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case u.Host == "":
		return "", "", fmt.Errorf("%q names no namespace: expected component://NAMESPACE/NAME", raw)
	case parts[0] == "":
		return "", "", fmt.Errorf("%q names no Component: expected component://NAMESPACE/NAME", raw)
	case len(parts) > 2 || (len(parts) == 2 && !strings.HasSuffix(parts[1], ".tgz")):
		return "", "", fmt.Errorf("%q: expected component://NAMESPACE/NAME, optionally followed by /CHART-VERSION.tgz", raw)
	}
	return u.Host, parts[0], nil
}

// NewGetterCommand returns the hidden command Helm's downloader plugin runs:
// it resolves the Component exactly as fetch does (same credentials, TLS
// rules and cache) and writes the chart archive to stdout.
func NewGetterCommand(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, getenv func(string) string) *cobra.Command {
	return &cobra.Command{
		Use:    "getter CERT_FILE KEY_FILE CA_FILE URL",
		Short:  "Helm downloader for component:// URLs (run by Helm)",
		Hidden: true,
		Args: func(_ *cobra.Command, args []string) error {
			if !isGetterCall(args) {
				return clierror.Invalid(errors.New("expected CERT_FILE KEY_FILE CA_FILE component://NAMESPACE/NAME, as Helm passes them"))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			c.SilenceUsage = true
			namespace, name, err := ParseComponentURL(args[3])
			if err != nil {
				return clierror.Invalid(err)
			}
			if err := downloaderNamespace(kube, getenv, args[3], namespace); err != nil {
				return err
			}
			*kube.Namespace = namespace
			o := NewFetchOptions(kube, streams, getenv)
			o.Names = []string{name}
			// Helm's --ca-file, --cert-file and --key-file reach downloaders as arguments.
			o.Registry.CAFile, o.Registry.CertFile, o.Registry.KeyFile = args[2], args[0], args[1]
			if err := o.Validate(); err != nil {
				return inGetterWords(err)
			}
			return inGetterWords(o.get(c.Context()))
		},
	}
}

// EnvDownloaderNamespaces lists the namespaces, besides the one Helm runs
// in, whose Components the downloader may pull (comma-separated, or "*").
const EnvDownloaderNamespaces = "OCISRC_DOWNLOADER_NAMESPACES"

// downloaderNamespace refuses a component:// URL of another namespace than
// the one Helm runs in (HELM_NAMESPACE, helm's -n) unless the user allowed
// it in EnvDownloaderNamespaces. A chart's dependencies name component://
// URLs, and whoever writes a chart chooses them: without this rule, helm
// dependency update of one tenant's chart, run by someone who can read
// several namespaces, would pull another tenant's Component with that
// tenant's credentials.
func downloaderNamespace(kube *genericclioptions.ConfigFlags, getenv func(string) string, url, namespace string) error {
	helmNS := getenv("HELM_NAMESPACE")
	if helmNS == "" {
		if ns, _, err := kube.ToRawKubeConfigLoader().Namespace(); err == nil {
			helmNS = ns
		}
	}
	if namespace == helmNS {
		return nil
	}
	for _, allowed := range strings.Split(getenv(EnvDownloaderNamespaces), ",") {
		if a := strings.TrimSpace(allowed); a == "*" || a == namespace {
			return nil
		}
	}
	return clierror.InvalidWithHint(
		fmt.Errorf("%s names namespace %q, but helm runs in namespace %q: the downloader pulls only the Components of the namespace helm runs in, so that a chart's dependencies cannot pull another namespace's Component", url, namespace, helmNS),
		fmt.Sprintf("run helm with -n %s, or allow that namespace explicitly: %s=%s", namespace, EnvDownloaderNamespaces, namespace))
}

// getterWords turn what fetch's messages tell users to type into what a
// user of the downloader can type: helm's own flags, or the URL. Flags the
// downloader cannot take are turned into advice that works.
var getterWords = strings.NewReplacer(getterPairs...)

// getterPairs are getterWords' old and new phrases, in turn.
var getterPairs = []string{
	"--registry-ca-file", "helm's --ca-file",
	"--registry-cert-file", "helm's --cert-file",
	"--registry-key-file", "helm's --key-file",
	"; --registry-insecure-skip-tls-verify turns verification off (not recommended)", "",
	"within --timeout", "in time",
	"raise --timeout, or check", "check",
	"raise --max-chart-size if the chart is really this large", "the downloader refuses charts over 100Mi; pull a larger one with helm ocisrc fetch --max-chart-size",
	"check the name, or pass -n/--namespace", "check NAMESPACE and NAME in component://NAMESPACE/NAME",
	"check -n/--namespace and --context", "check NAMESPACE in component://NAMESPACE/NAME, and helm's --kube-context",
	"check --kubeconfig, KUBECONFIG and --context", "check helm's --kubeconfig, KUBECONFIG and --kube-context",
	"--context, --kubeconfig or --server", "helm's --kube-context and --kubeconfig",
	"that --context,", "that helm's --kube-context,",
	"pass --resource with the namespaced Component resource", "the downloader reads the resource \"components\"; use helm ocisrc fetch --resource for another",
	"pass --resource with the resource that holds your Components", "use helm ocisrc fetch --resource for a resource with another name",
	"  or, if every Component that may name this Secret is trusted, pass --allow-unbound-secrets", "  (the downloader takes no flag to use an unbound Secret)",
	", or pass --allow-plain-http-credentials if this network is trusted", "",
}

// getterPhrases are the phrases getterWords rewrites.
var getterPhrases = func() []string {
	var old []string
	for i := 0; i < len(getterPairs); i += 2 {
		old = append(old, getterPairs[i])
	}
	return old
}()

// inGetterWords rewrites err's message and hint in the downloader's words,
// keeping its exit code.
func inGetterWords(err error) error {
	if err == nil {
		return nil
	}
	return &rewordedError{err: err, msg: getterWords.Replace(err.Error()), hint: getterWords.Replace(clierror.Hint(err))}
}

type rewordedError struct {
	err       error
	msg, hint string
}

func (e *rewordedError) Error() string { return e.msg }
func (e *rewordedError) Unwrap() error { return e.err }

// Hint is the rewritten hint (clierror.Hint finds it first).
func (e *rewordedError) Hint() string { return e.hint }

// get pulls one Component's chart (through the cache) and streams it to Out.
func (o *FetchOptions) get(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	s, f, err := o.prepare(ctx)
	if err != nil {
		return err
	}
	c, err := s.component(o.Names[0])
	if err != nil {
		return err
	}
	decided, err := o.applyPolicy(ctx, s, f, []component.Component{c})
	if err != nil {
		return err
	}
	res, err := f.Fetch(ctx, decided[0])
	f.Flush()
	if err != nil {
		return err
	}
	// Helm takes the downloader's whole output as the chart: it is copied
	// out of the cache and checked against the chart layer's digest before
	// a byte of it is written.
	var buf bytes.Buffer
	if err := f.Store.CopyArchive(res.Entry(), &buf); err != nil {
		return fmt.Errorf("reading the cached chart %q: %w", res.Path, err)
	}
	_, err = buf.WriteTo(o.Out)
	return err
}
