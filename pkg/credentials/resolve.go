package credentials

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/component"
)

// DefaultSystemNamespace is the namespace shared credentials live in.
const DefaultSystemNamespace = "deployment-system"

// SecretReader reads one Secret.
type SecretReader interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// ClientsetSecretReader reads Secrets with a clientset (the user's own identity).
//
// It streams the response instead of using the typed Get: client-go logs
// response bodies at -v=8 and above, and a Secret's body is its values.
type ClientsetSecretReader struct {
	Client kubernetes.Interface
}

// GetSecret implements SecretReader.
func (r ClientsetSecretReader) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	body, err := r.Client.CoreV1().RESTClient().Get().
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

// Resolved is a credential and the Secret it came from.
type Resolved struct {
	Decoded
	// Secret is namespace/name of the Secret used.
	Secret string
	// Warnings are things the user should fix; they never hold a value.
	Warnings []string
}

// CheckNamespace enforces the namespace rule: secretRef.namespace must be the
// Component's namespace or the system namespace. It does no I/O, so a refusal
// happens before any Secret is read or any registry is contacted.
func CheckNamespace(componentNS, systemNS string, ref component.SecretRef) error {
	if ref.Namespace == componentNS || ref.Namespace == systemNS {
		return nil
	}
	return clierror.InvalidWithHint(
		fmt.Errorf("spec.source.authentication.secretRef.namespace %q is not allowed: credentials must come from the Component's namespace %q or the system namespace %q",
			ref.Namespace, componentNS, systemNS),
		"move the Secret into one of those namespaces, or set --system-namespace to the namespace that holds shared credentials")
}

// Namespaces is the order Secrets are looked up in: the Component's namespace
// first, then the system namespace.
func Namespaces(componentNS, systemNS string) []string {
	if componentNS == systemNS || systemNS == "" {
		return []string{componentNS}
	}
	return []string{componentNS, systemNS}
}

// Resolve finds the Secret named by ref, Component namespace first, then the
// system namespace, decodes the credential for registry host, and checks that
// the Secret may be sent there. NotFound moves on to the next namespace; any
// other error stops, naming the namespace and the permission missing.
func Resolve(ctx context.Context, r SecretReader, componentNS, systemNS string, ref component.SecretRef, host string) (*Resolved, error) {
	if err := CheckNamespace(componentNS, systemNS, ref); err != nil {
		return nil, err
	}
	tried := Namespaces(componentNS, systemNS)
	for _, ns := range tried {
		secret, err := r.GetSecret(ctx, ns, ref.Name)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case apierrors.IsForbidden(err):
			return nil, clierror.WithHint(
				fmt.Errorf("reading secret %q: forbidden: your identity cannot get secrets in namespace %q", ns+"/"+ref.Name, ns),
				fmt.Sprintf("ask your cluster admin for \"get secrets\" in namespace %q (kubectl auth can-i get secrets -n %s)", ns, ns))
		case err != nil:
			return nil, fmt.Errorf("reading secret %q: %w", ns+"/"+ref.Name, err)
		}
		d, err := Decode(secret, host)
		if err != nil {
			return nil, err
		}
		res := &Resolved{Decoded: d, Secret: ns + "/" + ref.Name}
		if err := checkBinding(res, host); err != nil {
			return nil, err
		}
		if d.Hosts == nil && ns == systemNS && ns != componentNS {
			res.Warnings = append(res.Warnings, fmt.Sprintf(
				"secret %q in the system namespace is not bound to a registry, so any Component may send its credentials to a host of its choosing; bind it with: kubectl patch secret %s -n %s --type merge -p '{\"stringData\":{\"registry\":\"%s\"}}'",
				res.Secret, ref.Name, ns, host))
		}
		return res, nil
	}
	where := fmt.Sprintf("namespace %q", tried[0])
	if len(tried) == 2 {
		where = fmt.Sprintf("namespaces %q or %q", tried[0], tried[1])
	}
	return nil, clierror.WithHint(
		fmt.Errorf("secret %q not found in %s", ref.Name, where),
		"create the Secret, or fix spec.source.authentication.secretRef.name")
}

// checkBinding refuses a Secret bound to other registries than host.
func checkBinding(r *Resolved, host string) error {
	if r.Hosts == nil {
		return nil
	}
	want, err := NormalizeHost(host)
	if err != nil {
		return clierror.Invalid(err)
	}
	if slices.Contains(r.Hosts, want) {
		return nil
	}
	return clierror.InvalidWithHint(
		fmt.Errorf("secret %q is bound to %s, not to the chart's registry %s: refusing to send its credentials there", r.Secret, strings.Join(r.Hosts, ", "), want),
		"fix spec.source.chart, or add the host to the Secret's registry key if the credentials are meant for it")
}
