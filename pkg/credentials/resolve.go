// Package credentials turns a Component's authentication.secretRef into a
// registry credential: it enforces where the Secret may live and which
// registry it may be sent to, reads it with the user's own identity (through
// a SecretReader) and decodes it with pkg/secretformat. Login and logout write
// Helm's registry config.
//
// Nothing in this package ever puts a Secret's value into an error, a log
// line or any output: errors name keys, never values.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/singleflight"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/place"
	"github.com/ocisrc/ocisrc/pkg/secretformat"
)

// DefaultSystemNamespace is the namespace shared credentials live in.
const DefaultSystemNamespace = "deployment-system"

// SecretReader reads one Secret.
type SecretReader interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// Resolved is a credential and the Secret it came from.
type Resolved struct {
	secretformat.Decoded
	// Secret is namespace/name of the Secret used; UID and ResourceVersion
	// are the Secret's as read (who a record of the cache names).
	Secret               string
	UID, ResourceVersion string
	// Warnings are things the user should fix; they never hold a value.
	Warnings []string
}

// Reasons of the failures this package reports (the "reason" of -o json).
const (
	ReasonNamespaceNotAllowed = "SecretNamespaceNotAllowed"
	ReasonSecretNotFound      = "SecretNotFound"
	ReasonForbidden           = "Forbidden"
	ReasonInvalidSecret       = "InvalidSecret"
	ReasonUnbound             = "SecretUnbound"
	ReasonBoundElsewhere      = "SecretBoundElsewhere"
)

func reason(r string, err error) error { return clierror.WithReason(err, r) }

// CheckNamespace enforces the namespace rule: secretRef.namespace must be the
// Component's namespace or the system namespace. It does no I/O, so a refusal
// happens before any Secret is read or any registry is contacted.
func CheckNamespace(componentNS, systemNS, secretNS string) error {
	if secretNS == componentNS || secretNS == systemNS {
		return nil
	}
	return reason(ReasonNamespaceNotAllowed, clierror.InvalidWithHint(
		fmt.Errorf("spec.source.authentication.secretRef.namespace %q is not allowed: credentials must come from the Component's namespace %q or the system namespace %q",
			secretNS, componentNS, systemNS),
		"move the Secret into one of those namespaces, or set --system-namespace to the namespace that holds shared credentials"))
}

// Namespaces is the order Secrets are looked up in: the Component's namespace
// first, then the system namespace.
func Namespaces(componentNS, systemNS string) []string {
	if componentNS == systemNS || systemNS == "" {
		return []string{componentNS}
	}
	return []string{componentNS, systemNS}
}

// Request says which Secret a Component names and for which registry.
type Request struct {
	// ComponentNamespace and SystemNamespace are where Secrets may live.
	ComponentNamespace, SystemNamespace string
	// SecretName and SecretNamespace are spec.source.authentication.secretRef.
	SecretName, SecretNamespace string
	// Host is the chart's registry host (canonical).
	Host place.Host
	// AllowUnbound lets a Secret from the system namespace that is bound to
	// no registry be used (with a warning): --allow-unbound-secrets, or the
	// local registry policy's allowUnboundSystemSecrets.
	AllowUnbound bool
	// FromFile says the Component came from a file (-f): a claim, not a
	// fact of the cluster. Its Secret must be bound to the chart's host,
	// whatever namespace it is in (only AllowUnbound lets it use an
	// unbound one): a file's namespace unlocks nothing.
	FromFile bool
	// As is the impersonation of the run, as kubectl flags (" --as jane
	// --as-group devs"), carried into the hints that suggest a kubectl
	// command, so that they check the identity the run used.
	As string
}

// Resolve finds the Secret named by the request, decodes the credential for
// the registry host, and checks that the Secret may be sent there. It reads
// only the Secret it needs, in the seed's order: the Component's namespace,
// and the system namespace only when the first answers NotFound — never
// after a Forbidden (which stops, naming the namespace and the permission
// missing) and never when the first exists (whatever it holds).
func Resolve(ctx context.Context, r SecretReader, req Request) (*Resolved, error) {
	componentNS, systemNS, host := req.ComponentNamespace, req.SystemNamespace, req.Host
	if err := CheckNamespace(componentNS, systemNS, req.SecretNamespace); err != nil {
		return nil, err
	}
	tried := Namespaces(componentNS, systemNS)
	for _, ns := range tried {
		secret, err := r.GetSecret(ctx, ns, req.SecretName)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case apierrors.IsForbidden(err):
			return nil, reason(ReasonForbidden, forbidden(req, ns, len(tried) == 2))
		case errors.Is(err, context.DeadlineExceeded):
			return nil, clierror.WithHint(fmt.Errorf("reading secret %q: the Kubernetes API server did not answer within --timeout", ns+"/"+req.SecretName),
				"raise --timeout, or check that the cluster is up")
		case err != nil:
			return nil, fmt.Errorf("reading secret %q: %w", ns+"/"+req.SecretName, err)
		}
		used := ns + "/" + req.SecretName
		d, err := secretformat.Decode(secretformat.Secret{Name: used, Type: string(secret.Type), Data: secret.Data}, host)
		if err != nil {
			return nil, reason(ReasonInvalidSecret, withShadowHint(req, ns, err))
		}
		res := &Resolved{Decoded: d, Secret: used, UID: string(secret.UID), ResourceVersion: secret.ResourceVersion}
		if err := checkBinding(res, host); err != nil {
			return nil, withShadowHint(req, ns, err)
		}
		// A Component from a file is a claim: whatever the namespace it
		// names, its Secret must be bound to the chart's host; in the
		// cluster, a Component of the Secret's own namespace is trusted to
		// choose the host (who can write it can read the Secret).
		exempt := ns == componentNS && !req.FromFile
		if d.Hosts == nil && (ns == systemNS || req.FromFile) && !exempt {
			if !req.AllowUnbound {
				ue := &UnboundError{Secret: used, Host: host, FromFile: req.FromFile, ComponentNamespace: componentNS}
				return nil, reason(ReasonUnbound, clierror.InvalidWithHintLines(ue, ue.HintLines()...))
			}
			where := "in the system namespace "
			if ns != systemNS {
				where = ""
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf(
				"secret %q %sis bound to no registry and --allow-unbound-secrets is set: its credentials go to %s, the host the Component %s/… names",
				used, where, host, componentNS))
		}
		return res, nil
	}
	where := fmt.Sprintf("namespace %q", tried[0])
	if len(tried) == 2 {
		where = fmt.Sprintf("namespaces %q or %q", tried[0], tried[1])
	}
	return nil, reason(ReasonSecretNotFound, clierror.WithHint(
		fmt.Errorf("secret %q not found in %s", req.SecretName, where),
		"create the Secret, or fix spec.source.authentication.secretRef.name"))
}

// ResolveBound reads the Secret name of namespace ns for a registry host
// that the platform configured (a mirror of the registry policy): it must
// be a registry credentials Secret bound to host. Only that namespace is read.
func ResolveBound(ctx context.Context, r SecretReader, ns, name string, host place.Host) (*Resolved, error) {
	used := ns + "/" + name
	secret, err := r.GetSecret(ctx, ns, name)
	switch {
	case apierrors.IsNotFound(err):
		return nil, reason(ReasonSecretNotFound, clierror.WithHint(fmt.Errorf("secret %q not found", used), "create it, or fix the registry policy's secretRef"))
	case apierrors.IsForbidden(err):
		return nil, reason(ReasonForbidden, clierror.WithHint(fmt.Errorf("reading secret %q: forbidden: your identity cannot get secrets in namespace %q", used, ns),
			fmt.Sprintf("ask your cluster admin for \"get\" on secret %s in namespace %q", name, ns)))
	case err != nil:
		return nil, fmt.Errorf("reading secret %q: %w", used, err)
	}
	d, err := secretformat.Decode(secretformat.Secret{Name: used, Type: string(secret.Type), Data: secret.Data}, host)
	if err != nil {
		return nil, reason(ReasonInvalidSecret, err)
	}
	res := &Resolved{Decoded: d, Secret: used, UID: string(secret.UID), ResourceVersion: secret.ResourceVersion}
	if d.Hosts == nil {
		return nil, reason(ReasonUnbound, clierror.InvalidWithHint(fmt.Errorf("secret %q is bound to no registry: refusing to send its credentials to %s", used, host),
			fmt.Sprintf("add a %q key with the mirror's host to the Secret", secretformat.KeyRegistry)))
	}
	if err := checkBinding(res, host); err != nil {
		return nil, err
	}
	return res, nil
}

// forbidden explains a Forbidden reading the Secret in namespace ns: which
// lookup rule needed that permission, and which permissions the whole lookup needs.
func forbidden(req Request, ns string, twoNamespaces bool) error {
	name := ns + "/" + req.SecretName
	can := fmt.Sprintf("kubectl auth can-i get secret/%s -n %s%s", req.SecretName, ns, req.As)
	switch {
	case !twoNamespaces:
		return clierror.WithHint(
			fmt.Errorf("reading secret %q: forbidden: your identity cannot get secrets in namespace %q", name, ns),
			fmt.Sprintf("ask your cluster admin for \"get\" on secrets in namespace %q (%s)", ns, can))
	case ns == req.ComponentNamespace:
		return clierror.WithHint(
			fmt.Errorf("reading secret %q: forbidden: your identity cannot get secrets in namespace %q, which is searched first because it is the Component's namespace; a Forbidden there stops the search, so that a Secret you cannot read there never goes unnoticed", name, ns),
			fmt.Sprintf("a Component with a secretRef needs \"get\" on secrets in its own namespace %q (%s), and in the system namespace %q when the Secret lives there; see https://github.com/ocisrc/ocisrc/blob/main/docs/security.md#rbac", ns, can, req.SystemNamespace))
	default:
		return clierror.WithHint(
			fmt.Errorf("reading secret %q: forbidden: your identity cannot get secrets in the system namespace %q, which is searched because the Component's namespace %q has no secret %q", name, ns, req.ComponentNamespace, req.SecretName),
			fmt.Sprintf("ask your cluster admin for \"get\" on secrets in namespace %q (%s)", ns, can))
	}
}

// UnboundError is a Secret from the system namespace that is bound to no
// registry: a Component could send its credentials to any host it writes
// into its chart reference. It is refused before any request (exit 2).
type UnboundError struct {
	// Secret is namespace/name; Host is the host the Component asked for.
	Secret string
	Host   place.Host
	// FromFile: the Component came from a file; ComponentNamespace is the
	// namespace it is in (or claims).
	FromFile           bool
	ComponentNamespace string
}

func (e *UnboundError) Error() string {
	if e.FromFile {
		return fmt.Sprintf("secret %q is bound to no registry: refusing to send its credentials to %s, a host a Component from a file chose (a Component in a file is a claim, not the cluster's word: its Secret must be bound to the chart's registry, whatever its namespace)", e.Secret, e.Host)
	}
	return fmt.Sprintf("secret %q in the system namespace is bound to no registry: refusing to send its credentials to %s, a host the Component chose", e.Secret, e.Host)
}

// HintLines show how to bind the Secret. They never suggest the
// Component's host: the Secret's owner must name the registry its
// credentials belong to.
func (e *UnboundError) HintLines() []string {
	ns, name, _ := strings.Cut(e.Secret, "/")
	lines := []string{
		fmt.Sprintf("the owner of the Secret should bind it to the registry its credentials belong to, with the key %q (host[:port], comma-separated for several):", secretformat.KeyRegistry),
		"    apiVersion: v1",
		"    kind: Secret",
		fmt.Sprintf("    metadata: {name: %s, namespace: %s}", name, ns),
		"    stringData:",
		"      registry: <the registry host these credentials are for>",
		"  or, if every Component that may name this Secret is trusted, pass --allow-unbound-secrets",
	}
	if e.FromFile {
		lines[len(lines)-1] = fmt.Sprintf("  or apply the Component to the cluster and pull it from there by name, with -n %s", e.ComponentNamespace)
	}
	return lines
}

// withShadowHint adds to a problem with the Secret found in the Component's
// namespace a hint that it is the one that was used: a Secret of the same
// name in the system namespace, if there is one, was not read (the
// Component's namespace is searched first, and a Secret found there ends the
// search).
func withShadowHint(req Request, ns string, err error) error {
	if hint := ShadowHint(req, ns); hint != "" {
		return clierror.WithHint(err, hint)
	}
	return err
}

// ShadowHint says, for a failure of the Secret found in namespace ns, that
// it was the Component's own and that the system namespace was not
// searched; "" when ns is not the Component's namespace or there is no
// separate system namespace. It reads nothing.
func ShadowHint(req Request, ns string) string {
	if ns != req.ComponentNamespace || req.SystemNamespace == "" || req.SystemNamespace == ns {
		return ""
	}
	return fmt.Sprintf("secret %q in the Component's namespace was used: the Component's namespace is searched first, so a Secret of the same name in the system namespace %q, if any, was not read; fix this one, or delete it to use the shared one",
		ns+"/"+req.SecretName, req.SystemNamespace)
}

// checkBinding refuses a Secret bound to other registries than host.
func checkBinding(r *Resolved, host place.Host) error {
	if r.Hosts == nil {
		return nil
	}
	if slices.Contains(r.Hosts, host) {
		return nil
	}
	return reason(ReasonBoundElsewhere, clierror.InvalidWithHint(
		fmt.Errorf("secret %q is bound to %s, not to the chart's registry %s: refusing to send its credentials there", r.Secret, secretformat.HostList(r.Hosts), host),
		"fix spec.source.chart, or add the host to the Secret's registry key if the credentials are meant for it"))
}

// CachedReader reads each Secret once per run, however many Components name
// it, even when they ask at the same time. Errors are cached too.
type CachedReader struct {
	r     SecretReader
	group singleflight.Group
	mu    sync.Mutex
	done  map[string]cachedSecret
}

type cachedSecret struct {
	s   *corev1.Secret
	err error
}

// NewCachedReader wraps r.
func NewCachedReader(r SecretReader) *CachedReader {
	return &CachedReader{r: r, done: map[string]cachedSecret{}}
}

// GetSecret implements SecretReader.
func (c *CachedReader) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	key := namespace + "/" + name
	c.mu.Lock()
	got, ok := c.done[key]
	c.mu.Unlock()
	if ok {
		return got.s, got.err
	}
	v, err, _ := c.group.Do(key, func() (any, error) {
		s, err := c.r.GetSecret(ctx, namespace, name)
		c.mu.Lock()
		c.done[key] = cachedSecret{s: s, err: err}
		c.mu.Unlock()
		return s, err
	})
	s, _ := v.(*corev1.Secret)
	return s, err
}
