package component

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/ocisrc/ocisrc/pkg/clierror"
)

// Each lists the Components q selects (a label selector, or all, in one
// namespace or all of them) in pages of f.ChunkSize, following the API
// server's continue token as kubectl does, and calls fn with each as it is
// read. The list is decoded as a stream, one Component at a time, keeping
// only its name, namespace and spec.source: a page of Components with
// large unknown fields is never held whole, and fn blocking holds back the
// rest of the page. An error of fn stops the listing and is returned.
func (f *Finder) Each(ctx context.Context, q Query, fn func(Component) error) error {
	resourceArg := f.Resource
	if resourceArg == "" {
		resourceArg = DefaultResource
	}
	where := q.Namespace
	if q.AllNamespaces {
		where = ""
	}
	mapping, err := f.mapping(resourceArg)
	if err != nil {
		return describeReadError(resourceArg, where, err)
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return clierror.InvalidWithHint(
			fmt.Errorf("resource %q is cluster-scoped: a Component must be namespaced", mapping.Resource.GroupResource().String()),
			"pass --resource with the namespaced Component resource")
	}
	client, err := f.client()
	if err != nil {
		return err
	}
	res := mapping.Resource.GroupResource().String()
	continueToken := ""
	for {
		req := client.Get().AbsPath(listPath(mapping.Resource, where)...)
		if f.ChunkSize > 0 {
			req = req.Param("limit", strconv.FormatInt(f.ChunkSize, 10))
		}
		if continueToken != "" {
			req = req.Param("continue", continueToken)
		}
		if q.Selector != "" {
			req = req.Param("labelSelector", q.Selector)
		}
		body, err := req.SetHeader("Accept", "application/json").Stream(ctx)
		if err != nil {
			if apierrors.IsNotFound(err) && where != "" {
				return clierror.WithReason(clierror.WithHint(fmt.Errorf("namespace %q not found", where), "check -n/--namespace and --context"), "NamespaceNotFound")
			}
			return describeReadError(resourceArg, where, err)
		}
		next, fnErr, err := decodeList(body, res, fn)
		_ = body.Close()
		if fnErr != nil {
			return fnErr
		}
		if err != nil {
			return describeReadError(resourceArg, where, fmt.Errorf("reading the list: %w", err))
		}
		if next == "" {
			return nil
		}
		continueToken = next
	}
}

// mapping finds the resource as kubectl would (short names and qualified
// names included).
func (f *Finder) mapping(resourceArg string) (*meta.RESTMapping, error) {
	mapper, err := f.Getter.ToRESTMapper()
	if err != nil {
		return nil, err
	}
	gvr, gr := schema.ParseResourceArg(resourceArg)
	var gvk schema.GroupVersionKind
	if gvr != nil {
		gvk, err = mapper.KindFor(*gvr)
	}
	if gvr == nil || err != nil {
		gvk, err = mapper.KindFor(gr.WithVersion(""))
	}
	if err != nil {
		return nil, err
	}
	return mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}

// client is an unversioned REST client with the user's identity and limits.
func (f *Finder) client() (*rest.RESTClient, error) {
	cfg, err := f.Getter.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.GroupVersion = &schema.GroupVersion{}
	cfg.APIPath = "/"
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return rest.UnversionedRESTClientFor(cfg)
}

func listPath(gvr schema.GroupVersionResource, namespace string) []string {
	p := []string{"/apis", gvr.Group, gvr.Version}
	if gvr.Group == "" {
		p = []string{"/api", gvr.Version}
	}
	if namespace != "" {
		p = append(p, "namespaces", namespace)
	}
	return append(p, gvr.Resource)
}

// listedObject is what a listed Component keeps: its name, namespace and
// spec.source as written; every other field is skipped as it is read.
type listedObject struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Source json.RawMessage `json:"source"`
	} `json:"spec"`
}

// decodeList reads a list response as a stream: fn gets each item as it is
// decoded; the continue token is returned.
func decodeList(r io.Reader, resource string, fn func(Component) error) (next string, fnErr, err error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return "", nil, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", nil, err
		}
		key, _ := tok.(string)
		switch key {
		case "items":
			if err := expectDelim(dec, '['); err != nil {
				return "", nil, err
			}
			for dec.More() {
				var o listedObject
				if err := dec.Decode(&o); err != nil {
					return "", nil, err
				}
				c := Component{Namespace: o.Metadata.Namespace, Name: o.Metadata.Name, Resource: resource}
				if src := bytes.TrimSpace(o.Spec.Source); len(src) > 0 && !bytes.Equal(src, []byte("null")) {
					c.Source, c.SourceFound = o.Spec.Source, true
				}
				if err := checkObject(c); err != nil {
					return "", nil, fmt.Errorf("the server returned an object that Kubernetes would refuse: %w", err)
				}
				if err := fn(c); err != nil {
					return "", err, nil
				}
			}
			if err := expectDelim(dec, ']'); err != nil {
				return "", nil, err
			}
		case "metadata":
			var m struct {
				Continue string `json:"continue"`
			}
			if err := dec.Decode(&m); err != nil {
				return "", nil, err
			}
			next = m.Continue
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return "", nil, err
			}
		}
	}
	return next, nil, nil
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		return errors.New("the list is not a JSON object with items")
	}
	return nil
}
