package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/credentials"
	"github.com/ocisrc/ocisrc/pkg/fetch"
	"github.com/ocisrc/ocisrc/pkg/policy"
	"github.com/ocisrc/ocisrc/pkg/termsafe"
)

// LoginOptions holds every input of login and logout.
type LoginOptions struct {
	KubeFlags *genericclioptions.ConfigFlags

	Name            string
	Resource        string
	SystemNamespace string
	// RegistryConfig is Helm's registry config file.
	RegistryConfig string
	Timeout        time.Duration
	// AllowUnboundSecrets lets Secrets from the system namespace that are bound to no registry be used.
	AllowUnboundSecrets bool
	// Policy selects the registry policy (blocked prefixes are refused).
	Policy PolicyOptions

	genericiooptions.IOStreams
}

// NewLoginOptions returns LoginOptions with their defaults.
func NewLoginOptions(kube *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, getenv func(string) string) *LoginOptions {
	return &LoginOptions{
		KubeFlags:       kube,
		Resource:        component.DefaultResource,
		SystemNamespace: defaultSystemNamespace(getenv),
		RegistryConfig:  credentials.RegistryConfigPath(getenv),
		Timeout:         time.Minute,
		Policy:          newPolicyOptions(getenv),
		IOStreams:       streams,
	}
}

func (o *LoginOptions) bind(c *cobra.Command) {
	c.ValidArgsFunction = componentNames(o.KubeFlags, &o.Resource)
	fs := c.Flags()
	fs.StringVar(&o.Resource, "resource", o.Resource, "The resource that holds Components: a name (components) or a qualified name (components.v1alpha1.example.io).")
	fs.StringVar(&o.SystemNamespace, "system-namespace", o.SystemNamespace, "Namespace of shared registry credentials, tried after the Component's namespace (env "+EnvSystemNamespace+").")
	fs.StringVar(&o.RegistryConfig, "registry-config", o.RegistryConfig, "Helm's registry config file (env HELM_REGISTRY_CONFIG).")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "Give up after this long.")
	o.Policy.addFlags(fs)
	if c.Name() == "login" {
		fs.BoolVar(&o.AllowUnboundSecrets, "allow-unbound-secrets", o.AllowUnboundSecrets, "Use a Secret from the system namespace that is bound to no registry (prints a warning). Insecure.")
	}
}

func oneName(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return clierror.Invalid(fmt.Errorf("exactly one Component NAME is required, got %d", len(args)))
	}
	return nil
}

// Validate checks the options without any I/O.
func (o *LoginOptions) Validate() error {
	switch {
	case o.Resource == "":
		return clierror.Invalid(errors.New("--resource must not be empty"))
	case o.SystemNamespace == "":
		return clierror.Invalid(errors.New("--system-namespace must not be empty"))
	case o.RegistryConfig == "":
		return clierror.Invalid(errors.New("--registry-config must not be empty"))
	case o.Timeout <= 0:
		return clierror.Invalid(fmt.Errorf("--timeout must be positive, got %s", o.Timeout))
	}
	return nil
}

// resolve reads the Component and resolves its source (and, when withCredentials,
// its credentials) as fetch does.
func (o *LoginOptions) resolve(ctx context.Context, withCredentials bool) (*fetch.Resolution, error) {
	s, err := openSession(ctx, o.KubeFlags, o.Resource)
	if err != nil {
		return nil, err
	}
	c, err := s.component(o.Name)
	if err != nil {
		return nil, err
	}
	warn := warner(o.ErrOut)
	set, err := o.Policy.load(ctx, s, o.SystemNamespace, warn)
	if err != nil {
		return nil, err
	}
	f := &fetch.Fetcher{Validator: component.NewValidator(), Secrets: s.secrets, SystemNamespace: o.SystemNamespace, AllowUnbound: o.AllowUnboundSecrets, Policy: set, Warn: warn, DryRun: true, As: impersonation(o.KubeFlags)}
	d := f.Decide(c)
	if d.Invalid != nil {
		return nil, d.Invalid
	}
	if !withCredentials {
		return &fetch.Resolution{Decision: d}, nil
	}
	if d.Settings.Origin == policy.OriginNever && d.Source.Authentication != nil {
		return nil, clierror.InvalidWithHint(
			fmt.Errorf("refused by the registry policy: %s is never contacted (origin: never, %s): there is no registry to log in to with secret %q", d.Ref.Registry, d.Settings.OriginFrom, d.Source.Authentication.SecretRef.String()),
			"pull the chart through the policy's mirrors instead, with the fetch command (it uses the mirrors' own credentials)")
	}
	r, err := f.Resolve(ctx, c)
	if err != nil {
		return nil, &fetch.ComponentError{Component: c.Key(), Err: err}
	}
	if r.Secret == "" {
		return nil, clierror.Invalid(fmt.Errorf("%s %q has no spec.source.authentication: there are no credentials to log in with", c.Resource, c.Key()))
	}
	if r.Auth.Credential == nil || *r.Auth.Credential == auth.EmptyCredential {
		return nil, clierror.InvalidWithHint(fmt.Errorf("secret %q, which component %q names, holds no registry credential to log in with (only TLS material: ca.crt, tls.crt, tls.key)", r.Secret, c.Key()),
			"helm needs no login for this registry: pass the Secret's TLS files to helm (--ca-file, --cert-file, --key-file)")
	}
	return r, nil
}

// runE is the RunE of login and logout: take the NAME, validate, resolve the
// Component (and its credentials when withCredentials) within --timeout, then do.
func (o *LoginOptions) runE(withCredentials bool, do func(context.Context, *fetch.Resolution) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		o.Name = args[0]
		if err := o.Validate(); err != nil {
			return clierror.WithHint(err, fmt.Sprintf("See '%s --help' for usage.", c.CommandPath()))
		}
		ctx, cancel := context.WithTimeout(c.Context(), o.Timeout)
		defer cancel()
		r, err := o.resolve(ctx, withCredentials)
		if err != nil {
			return err
		}
		return do(ctx, r)
	}
}

const loginLong = `Resolve a Component's registry credentials exactly as fetch does and store
them for the chart's registry host in Helm's registry config, so that plain
helm commands (helm pull, helm install oci://…) work afterwards.

This writes the credentials to disk, which fetch never does: the file is
readable by you only, replaced atomically, and no OS credential helper is
used. "logout" removes the entry.`

// NewLoginCommand returns the login command.
func NewLoginCommand(o *LoginOptions, invocation string) *cobra.Command {
	c := &cobra.Command{
		Use:     "login NAME",
		Short:   "Store a Component's registry credentials in Helm's registry config",
		Long:    loginLong,
		Example: fmt.Sprintf("  %s app -n team-a\n  helm pull oci://registry.example.com/charts/app --version 1.2.3", invocation),
		Args:    oneName,
		RunE: o.runE(true, func(ctx context.Context, r *fetch.Resolution) error {
			cred := *r.Auth.Credential
			if err := (credentials.RegistryConfig{Path: o.RegistryConfig}).Login(ctx, r.Ref.Registry, cred); err != nil {
				return err
			}
			p := termsafe.NewPrinter(o.Out)
			p.Printf("Logged in to %s with secret %s (stored in %s)\n", r.Ref.Registry, r.Secret, o.RegistryConfig)
			if len(r.Auth.Extra.CAPEM) > 0 || len(r.Auth.Extra.CertPEM) > 0 {
				warner(o.ErrOut)(fmt.Sprintf("secret %s also holds TLS material (ca.crt or tls.crt): login stores only the credential; pass --ca-file, --cert-file and --key-file to helm yourself", r.Secret))
			}
			return p.Err()
		}),
	}
	o.bind(c)
	return c
}

// NewLogoutCommand returns the logout command.
func NewLogoutCommand(o *LoginOptions, invocation string) *cobra.Command {
	c := &cobra.Command{
		Use:     "logout NAME",
		Short:   "Remove the credentials login stored for a Component's registry",
		Example: fmt.Sprintf("  %s app -n team-a", invocation),
		Args:    oneName,
		RunE: o.runE(false, func(ctx context.Context, r *fetch.Resolution) error {
			err := (credentials.RegistryConfig{Path: o.RegistryConfig}).Logout(ctx, r.Ref.Registry)
			p := termsafe.NewPrinter(o.Out)
			if errors.Is(err, credentials.ErrNotLoggedIn) {
				// As helm registry logout: nothing to remove is not a failure.
				warner(o.ErrOut)(fmt.Sprintf("not logged in to %s (nothing stored in %s)", r.Ref.Registry, o.RegistryConfig))
				return nil
			}
			if err != nil {
				return err
			}
			p.Printf("Logged out of %s (removed from %s)\n", r.Ref.Registry, o.RegistryConfig)
			return p.Err()
		}),
	}
	o.bind(c)
	return c
}
