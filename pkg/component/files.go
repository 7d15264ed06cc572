package component

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/ocisrc/ocisrc/pkg/clierror"
)

// Kind is the kind of object FromFiles takes.
const Kind = "Component"

// Namespaces says which namespaces a file's Components may be in. A file's
// metadata.namespace is a claim, not a fact of the cluster: a Component of
// a file belongs to the effective namespace (-n, else the kubeconfig
// context's), as kubectl apply -n enforces, unless the claims are accepted
// (-A).
type Namespaces struct {
	// Effective is the namespace a Component without metadata.namespace is
	// in, and the only one a Component may name unless AcceptClaims.
	Effective string
	// AcceptClaims takes each Component's metadata.namespace as it is.
	AcceptClaims bool
}

// FromFiles reads every object of kind Component in the files, as kubectl's
// -f/--filename and -R/--recursive do (cli-runtime's resource builder in
// local mode: no cluster is contacted): files, directories, URLs and "-" for
// standard input; multi-document YAML, JSON, and lists. Objects of other
// kinds are skipped. An object without metadata.namespace is in the
// effective namespace; one naming another namespace is refused unless ns
// accepts claims. Names and namespaces are checked as Kubernetes checks
// them. Files with no Component at all, and every refusal, are an error
// (exit 2) naming the file.
func FromFiles(opts resource.FilenameOptions, ns Namespaces) ([]Component, error) {
	infos, err := resource.NewLocalBuilder().
		Unstructured().
		ContinueOnError().
		FilenameParam(false, &opts).
		Flatten().
		Do().Infos()
	if err != nil {
		msg := describeFileError(err)
		hint := "check the paths; -R reads directories recursively"
		if parseError(msg) {
			hint = "fix the file at the line shown: it is not valid YAML or JSON (kubectl apply --dry-run=client -f shows the same)"
		}
		return nil, clierror.WithReason(clierror.InvalidWithHint(fmt.Errorf("reading -f %s: %s", strings.Join(opts.Filenames, ", "), msg), hint), "InvalidFile")
	}
	var out []Component
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok || u.GetKind() != Kind {
			continue
		}
		claimed := u.GetNamespace()
		if claimed == "" {
			claimed = ns.Effective
		}
		src, found, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "source")
		gv := u.GroupVersionKind()
		res := "components"
		if gv.Group != "" {
			res += "." + gv.Group
		}
		out = append(out, Component{
			Namespace:   claimed,
			Name:        u.GetName(),
			Resource:    res,
			Source:      src,
			SourceFound: found,
			File:        info.Source,
		})
	}
	if len(out) == 0 {
		return nil, clierror.WithReason(clierror.InvalidWithHint(fmt.Errorf("-f %s: no object of kind %s", strings.Join(opts.Filenames, ", "), Kind),
			"point -f at the Component manifests (-R for directories)"), "NoComponent")
	}
	for _, c := range out {
		if c.Name == "" {
			return nil, clierror.Invalid(fmt.Errorf("%s: a %s has no metadata.name", c.File, Kind))
		}
		if err := checkObject(c); err != nil {
			return nil, clierror.InvalidWithHint(err, "fix the file: Kubernetes would refuse this object")
		}
		if c.Namespace != ns.Effective && !ns.AcceptClaims {
			return nil, clierror.InvalidWithHint(
				fmt.Errorf("%s: %s %q names namespace %q, but the effective namespace is %q (-n, else the kubeconfig context's): a file's Components belong to the namespace the command runs in", c.File, Kind, c.Name, c.Namespace, ns.Effective),
				"pass -n with that namespace to act in it, or -A to take each file's namespace (as kubectl apply -n refuses a file of another namespace)")
		}
	}
	return out, nil
}

// describeFileError keeps the builder's messages short and names the file.
// parseError reports whether a file error of the resource builder is the
// content's (YAML or JSON that does not parse), not the path's.
func parseError(msg string) bool {
	for _, s := range []string{"error parsing", "error converting YAML to JSON", "yaml: ", "invalid character", "unexpected end of JSON"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func describeFileError(err error) string {
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) && len(agg.Errors()) > 0 {
		var msgs []string
		for _, e := range agg.Errors() {
			msgs = append(msgs, e.Error())
		}
		return strings.Join(msgs, "; ")
	}
	return err.Error()
}
