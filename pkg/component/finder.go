package component

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/ocisrc/ocisrc/pkg/clierror"
)

// DefaultResource is the resource ocisrc reads when --resource is not given.
const DefaultResource = "components"

// Component is one Component read from the cluster, with its spec.source as
// found (not yet decoded).
type Component struct {
	Namespace string
	Name      string
	// Resource is the resource the Component was read as, e.g. components.example.io.
	Resource string
	// Source is spec.source as read, and whether it was present.
	Source      any
	SourceFound bool
	// File is the file (or URL, or STDIN) the Component was read from with
	// -f; empty when it was read from the cluster.
	File string
}

// Key is namespace/name.
func (c Component) Key() string { return c.Namespace + "/" + c.Name }

// Finder reads Components as kubectl would: the resource is found through
// discovery (so any group serving "components" works) and read as unstructured.
type Finder struct {
	Getter genericclioptions.RESTClientGetter
	// Resource is a resource name (components), a short or singular name, or a
	// qualified one (components.v1alpha1.example.io).
	Resource string
	// ChunkSize is the page size of a LIST (0: one response).
	ChunkSize int64
}

// Query selects Components: by name in one namespace, or every Component
// matching a label selector in one namespace or all of them.
type Query struct {
	Namespace     string
	AllNamespaces bool
	// Names, when set, are the Components wanted (in Namespace).
	Names []string
	// Selector is a label selector ("" for all).
	Selector string
}

// Find reads the Components q selects. A single name is one GET; anything
// else is one LIST for the namespace (or the cluster). Names that do not exist
// come back in missing as a *NotFoundError, so the others can still be used;
// err is set when nothing could be read (unknown resource, cluster unreachable).
func (f *Finder) Find(q Query) (found []Component, missing map[string]error, err error) {
	resourceArg := f.Resource
	if resourceArg == "" {
		resourceArg = DefaultResource
	}
	b := resource.NewBuilder(f.Getter).
		Unstructured().
		NamespaceParam(q.Namespace).DefaultNamespace().AllNamespaces(q.AllNamespaces).
		ContinueOnError().
		Flatten()
	if len(q.Names) == 1 {
		b = b.ResourceNames(resourceArg, q.Names...)
	} else {
		b = b.LabelSelectorParam(q.Selector).ResourceTypeOrNameArgs(true, resourceArg)
	}
	infos, visitErr := b.Do().Infos()

	where := q.Namespace
	if q.AllNamespaces {
		where = ""
	}
	missing = map[string]error{}
	if visitErr != nil {
		var rest []error
		for _, e := range flatten(visitErr) {
			var status apierrors.APIStatus
			if apierrors.IsNotFound(e) && errors.As(e, &status) && status.Status().Details != nil && status.Status().Details.Name != "" {
				name := status.Status().Details.Name
				// The builder reports a missing namespace instead of the object.
				if status.Status().Details.Kind == "namespaces" {
					return nil, nil, clierror.WithReason(clierror.WithHint(fmt.Errorf("namespace %q not found", name), "check -n/--namespace and --context"), "NamespaceNotFound")
				}
				missing[name] = &NotFoundError{Resource: resourceArg, Namespace: q.Namespace, Name: name}
				continue
			}
			rest = append(rest, e)
		}
		if len(rest) == 1 {
			return nil, nil, describeReadError(resourceArg, where, rest[0])
		}
		if len(rest) > 1 {
			return nil, nil, describeReadError(resourceArg, where, utilerrors.NewAggregate(rest))
		}
	}

	for _, info := range infos {
		c, err := fromInfo(info, resourceArg)
		if err != nil {
			return nil, nil, err
		}
		found = append(found, c)
	}
	if len(q.Names) > 1 {
		found, missing = pick(found, q, resourceArg)
	}
	return found, missing, nil
}

// pick keeps the named Components of a LIST, in the order asked, and reports
// the names it lacks.
func pick(all []Component, q Query, resourceArg string) ([]Component, map[string]error) {
	byName := map[string]Component{}
	for _, c := range all {
		byName[c.Name] = c
	}
	missing := map[string]error{}
	var out []Component
	seen := map[string]bool{}
	for _, n := range q.Names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if c, ok := byName[n]; ok {
			out = append(out, c)
			continue
		}
		missing[n] = &NotFoundError{Resource: resourceArg, Namespace: q.Namespace, Name: n}
	}
	return out, missing
}

// ChunkSize is how many Components a LIST asks for at a time by default,
// as kubectl lists (--chunk-size): the work on a page starts while the next
// is read.
const ChunkSize = 500

// fromInfo is the Component an API object is, its name checked.
func fromInfo(info *resource.Info, resourceArg string) (Component, error) {
	if info.Mapping != nil && info.Mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return Component{}, clierror.InvalidWithHint(
			fmt.Errorf("resource %q is cluster-scoped: a Component must be namespaced", info.Mapping.Resource.GroupResource().String()),
			"pass --resource with the namespaced Component resource")
	}
	u, ok := info.Object.(*unstructured.Unstructured)
	if !ok {
		return Component{}, fmt.Errorf("reading %s %q: the server returned %T, not an object", resourceArg, info.Name, info.Object)
	}
	src, found, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "source")
	res := resourceArg
	if info.Mapping != nil {
		res = info.Mapping.Resource.GroupResource().String()
	}
	c := Component{Namespace: info.Namespace, Name: info.Name, Resource: res, Source: src, SourceFound: found}
	if err := checkObject(c); err != nil {
		return Component{}, fmt.Errorf("reading %s: the server returned an object that Kubernetes would refuse: %w", resourceArg, err)
	}
	return c, nil
}

// NotFoundError is a named Component that does not exist.
type NotFoundError struct {
	Resource, Namespace, Name string
}

// Reason is the failure's reason for programs.
func (e *NotFoundError) Reason() string { return "ComponentNotFound" }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %q not found in namespace %q", e.Resource, e.Name, e.Namespace)
}

func flatten(err error) []error {
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		var out []error
		for _, e := range agg.Errors() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// DescribeClusterError turns an error of a request to the API server into
// one sentence, as reading Components does: unreachable, not trusted, timed
// out, forbidden; doing says what was being read.
func DescribeClusterError(doing string, err error) error {
	const skip = "pass --cluster-registry-policy=false to go on with the local policy file only"
	if described := describeConnectionError(doing, err); described != nil {
		if !strings.HasPrefix(described.Error(), doing) {
			described = fmt.Errorf("%s: %w", doing, described)
		}
		return clierror.WithHint(described, skip+"; or "+clierror.Hint(described))
	}
	return clierror.WithHint(fmt.Errorf("%s: %w", doing, err), skip)
}

// describeConnectionError describes an API server that did not answer in
// time, cannot be reached or is not trusted; nil for any other error.
func describeConnectionError(doing string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return clierror.WithReason(clierror.WithHint(fmt.Errorf("%s: the Kubernetes API server did not answer within --timeout", doing),
			"raise --timeout, or check that --context, --kubeconfig or --server point at a cluster that is up"), "Timeout")
	}
	if server, reason, ok := unreachable(err); ok {
		return clierror.WithReason(clierror.WithHint(fmt.Errorf("the Kubernetes API server %s cannot be reached: %s", server, reason),
			"check the cluster is up and that --context, --kubeconfig or --server point at it"), "ClusterUnreachable")
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return clierror.WithReason(clierror.WithHint(fmt.Errorf("the Kubernetes API server's certificate cannot be verified: %w", certErr.Err),
			"check certificate-authority in your kubeconfig (or --certificate-authority)"), "ClusterUnreachable")
	}
	return nil
}

func describeReadError(resourceArg, namespace string, err error) error {
	scope := fmt.Sprintf("in namespace %q", namespace)
	if namespace == "" {
		scope = "in any namespace"
	}
	// The builder reports an unknown resource with this (kubectl's) sentence
	// and no typed error.
	if meta.IsNoMatchError(err) || strings.HasPrefix(err.Error(), "the server doesn't have a resource type") {
		return clierror.WithReason(clierror.InvalidWithHint(
			fmt.Errorf("the server doesn't have a resource type %q", resourceArg),
			"install the Component CRD in the cluster, or pass --resource with the resource that holds your Components"), "ResourceNotFound")
	}
	if described := describeConnectionError(fmt.Sprintf("reading %s %s", resourceArg, scope), err); described != nil {
		return described
	}
	if apierrors.IsForbidden(err) {
		return clierror.WithReason(clierror.WithHint(
			fmt.Errorf("reading %s %s: %w", resourceArg, scope, err),
			fmt.Sprintf("ask for permission to get and list %s %s", resourceArg, scope)), "Forbidden")
	}
	return fmt.Errorf("reading %s %s: %w", resourceArg, scope, err)
}

// unreachable recognises a connection that could not be made to the API
// server and returns the server's address and the reason in a few words.
func unreachable(err error) (server, reason string, ok bool) {
	var uerr *url.Error
	var operr *net.OpError
	if !errors.As(err, &uerr) || !errors.As(err, &operr) || operr.Op != "dial" {
		return "", "", false
	}
	server = uerr.URL
	if u, perr := url.Parse(uerr.URL); perr == nil {
		server = u.Scheme + "://" + u.Host
	}
	reason = operr.Err.Error()
	var sysErr *os.SyscallError
	if errors.As(operr.Err, &sysErr) {
		reason = sysErr.Err.Error()
	}
	return server, reason, true
}
