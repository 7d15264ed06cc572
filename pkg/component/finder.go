package component

import (
	"errors"
	"fmt"
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
}

// Get reads the named Components in namespace. The result has one entry per
// name found; names that do not exist come back as a NotFoundError in errs, so
// the others can still be used. err is set when nothing could be read at all
// (unknown resource, cluster unreachable).
func (f *Finder) Get(namespace string, names []string) (found []Component, errs map[string]error, err error) {
	resourceArg := f.Resource
	if resourceArg == "" {
		resourceArg = DefaultResource
	}
	infos, visitErr := resource.NewBuilder(f.Getter).
		Unstructured().
		NamespaceParam(namespace).DefaultNamespace().
		ResourceNames(resourceArg, names...).
		ContinueOnError().
		Flatten().
		Do().
		Infos()

	errs = map[string]error{}
	if visitErr != nil {
		var rest []error
		for _, e := range flatten(visitErr) {
			var status apierrors.APIStatus
			if apierrors.IsNotFound(e) && errors.As(e, &status) && status.Status().Details != nil && status.Status().Details.Name != "" {
				name := status.Status().Details.Name
				// The builder reports a missing namespace instead of the object.
				if status.Status().Details.Kind == "namespaces" {
					return nil, nil, clierror.WithHint(fmt.Errorf("namespace %q not found", name), "check -n/--namespace and --context")
				}
				errs[name] = &NotFoundError{Resource: resourceArg, Namespace: namespace, Name: name}
				continue
			}
			rest = append(rest, e)
		}
		if len(rest) == 1 {
			return nil, nil, describeReadError(resourceArg, namespace, rest[0])
		}
		if len(rest) > 1 {
			return nil, nil, describeReadError(resourceArg, namespace, utilerrors.NewAggregate(rest))
		}
	}

	for _, info := range infos {
		if info.Mapping != nil && info.Mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			return nil, nil, clierror.InvalidWithHint(
				fmt.Errorf("resource %q is cluster-scoped: a Component must be namespaced", info.Mapping.Resource.GroupResource().String()),
				"pass --resource with the namespaced Component resource")
		}
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok {
			return nil, nil, fmt.Errorf("reading %s %q: the server returned %T, not an object", resourceArg, info.Name, info.Object)
		}
		src, ok, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "source")
		res := resourceArg
		if info.Mapping != nil {
			res = info.Mapping.Resource.GroupResource().String()
		}
		found = append(found, Component{
			Namespace:   info.Namespace,
			Name:        info.Name,
			Resource:    res,
			Source:      src,
			SourceFound: ok,
		})
	}
	return found, errs, nil
}

// NotFoundError is a named Component that does not exist.
type NotFoundError struct {
	Resource, Namespace, Name string
}

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

func describeReadError(resourceArg, namespace string, err error) error {
	// The builder reports an unknown resource with this (kubectl's) sentence
	// and no typed error.
	if meta.IsNoMatchError(err) || strings.HasPrefix(err.Error(), "the server doesn't have a resource type") {
		return clierror.InvalidWithHint(
			fmt.Errorf("the server doesn't have a resource type %q", resourceArg),
			"install the Component CRD in the cluster, or pass --resource with the resource that holds your Components")
	}
	if apierrors.IsForbidden(err) {
		return clierror.WithHint(
			fmt.Errorf("reading %s in namespace %q: %w", resourceArg, namespace, err),
			fmt.Sprintf("ask for permission to get %s in namespace %q", resourceArg, namespace))
	}
	return fmt.Errorf("reading %s in namespace %q: %w", resourceArg, namespace, err)
}
