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

// FromFiles reads every object of kind Component in the files, as kubectl's
// -f/--filename and -R/--recursive do (cli-runtime's resource builder in
// local mode: no cluster is contacted): files, directories, URLs and "-" for
// standard input; multi-document YAML, JSON, and lists. Objects of other
// kinds are skipped. An object without metadata.namespace is in namespace.
// Files with no Component at all are an error (exit 2).
func FromFiles(opts resource.FilenameOptions, namespace string) ([]Component, error) {
	infos, err := resource.NewLocalBuilder().
		Unstructured().
		ContinueOnError().
		FilenameParam(false, &opts).
		Flatten().
		Do().Infos()
	if err != nil {
		return nil, clierror.InvalidWithHint(fmt.Errorf("reading -f %s: %s", strings.Join(opts.Filenames, ", "), describeFileError(err)),
			"check the paths; -R reads directories recursively")
	}
	var out []Component
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok || u.GetKind() != Kind {
			continue
		}
		ns := u.GetNamespace()
		if ns == "" {
			ns = namespace
		}
		src, found, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "source")
		gv := u.GroupVersionKind()
		res := "components"
		if gv.Group != "" {
			res += "." + gv.Group
		}
		out = append(out, Component{
			Namespace:   ns,
			Name:        u.GetName(),
			Resource:    res,
			Source:      src,
			SourceFound: found,
			File:        info.Source,
		})
	}
	if len(out) == 0 {
		return nil, clierror.InvalidWithHint(fmt.Errorf("-f %s: no object of kind %s", strings.Join(opts.Filenames, ", "), Kind),
			"point -f at the Component manifests (-R for directories)")
	}
	for _, c := range out {
		if c.Name == "" {
			return nil, clierror.Invalid(fmt.Errorf("%s: a %s has no metadata.name", c.File, Kind))
		}
	}
	return out, nil
}

// describeFileError keeps the builder's messages short and names the file.
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
