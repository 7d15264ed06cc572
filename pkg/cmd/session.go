package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
	"github.com/ocisrc/ocisrc/pkg/credentials"
	"github.com/ocisrc/ocisrc/pkg/termsafe"
)

// session is what every command that reads Components needs: the namespace,
// a Component finder and a Secret reader, all with the user's identity.
type session struct {
	namespace string
	finder    *component.Finder
	secrets   credentials.SecretReader
	clientset corev1client.CoreV1Interface
}

// openSession reads the kubeconfig and builds the clients. Every request
// they make is tied to ctx: its deadline (--timeout) and its cancellation
// (Ctrl-C) bound the cluster side as they bound the registry side, TLS
// handshakes and discovery included.
func openSession(ctx context.Context, kube *genericclioptions.ConfigFlags, resource string) (*session, error) {
	bindToContext(ctx, kube)
	hint := "check --kubeconfig, KUBECONFIG and --context"
	namespace, _, err := kube.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, clierror.WithHint(fmt.Errorf("reading the kubeconfig: %w", err), hint)
	}
	restConfig, err := kube.ToRESTConfig()
	if err != nil {
		return nil, clierror.WithHint(fmt.Errorf("reading the kubeconfig: %w", err), hint)
	}
	clientset, err := corev1client.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	return &session{
		namespace: namespace,
		finder:    &component.Finder{Getter: kube, Resource: resource, ChunkSize: component.ChunkSize},
		secrets:   secretReader{client: clientset},
		clientset: clientset,
	}, nil
}

// bindToContext makes every request of the clients built from kube use ctx.
// client-go's resource builder and discovery make their requests with
// context.TODO(), so without this neither --timeout nor Ctrl-C could stop an
// API server that accepts connections and never answers.
func bindToContext(ctx context.Context, kube *genericclioptions.ConfigFlags) {
	prev := kube.WrapConfigFn
	kube.WrapConfigFn = func(c *rest.Config) *rest.Config {
		if prev != nil {
			c = prev(c) // --qps and --burst-limit
		}
		c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return contextTransport{ctx: ctx, base: rt} })
		if deadline, ok := ctx.Deadline(); ok {
			c.Timeout = time.Until(deadline)
		}
		return c
	}
}

// contextTransport sends every request with one context.
type contextTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t contextTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	return t.base.RoundTrip(req.WithContext(t.ctx))
}

// component reads one named Component.
func (s *session) component(name string) (component.Component, error) {
	found, missing, err := s.finder.Find(component.Query{Namespace: s.namespace, Names: []string{name}})
	if err != nil {
		return component.Component{}, err
	}
	if e, ok := missing[name]; ok {
		return component.Component{}, clierror.WithHint(e, "check the name, or pass -n/--namespace")
	}
	if len(found) != 1 {
		return component.Component{}, fmt.Errorf("%s %q was not returned by the server", s.finder.Resource, name)
	}
	return found[0], nil
}

// warner prints each distinct warning once, as kubectl does: "Warning: …".
func warner(w io.Writer) func(string) {
	var mu sync.Mutex
	seen := map[string]bool{}
	p := termsafe.NewPrinter(w)
	return func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		if seen[msg] {
			return
		}
		seen[msg] = true
		p.Printf("Warning: %s\n", msg)
	}
}

// secretReader reads Secrets with the user's identity. It streams the
// response instead of using the typed Get: client-go logs response bodies at
// -v=8 and above, and a Secret's body is its values.
type secretReader struct {
	client corev1client.CoreV1Interface
}

func (r secretReader) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	body, err := r.client.RESTClient().Get().
		Namespace(namespace).Resource("secrets").Name(name).
		SetHeader("Accept", "application/json").
		Stream(ctx)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	var s corev1.Secret
	if err := json.NewDecoder(body).Decode(&s); err != nil {
		return nil, fmt.Errorf("decoding secret %q: the server's answer is not a Secret", namespace+"/"+name)
	}
	return &s, nil
}

// configMapReader reads keys of ConfigMaps with the user's identity.
type configMapReader struct{ client corev1client.CoreV1Interface }

func (r configMapReader) GetConfigMapKey(ctx context.Context, namespace, name, key string) ([]byte, error) {
	cm, err := r.client.ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if v, ok := cm.Data[key]; ok {
		return []byte(v), nil
	}
	if v, ok := cm.BinaryData[key]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("it has no key %s", strconv.QuoteToASCII(key))
}

// sigstoreCacheDir is where the public Sigstore instance's TUF metadata is
// cached: $XDG_CACHE_HOME/ocisrc/sigstore-tuf (os.UserCacheDir).
func sigstoreCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "ocisrc", "sigstore-tuf")
}
