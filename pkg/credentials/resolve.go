package credentials

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
type ClientsetSecretReader struct {
	Client kubernetes.Interface
}

// GetSecret implements SecretReader.
func (r ClientsetSecretReader) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return r.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

// Resolved is a credential and the Secret it came from.
type Resolved struct {
	Decoded
	// Secret is namespace/name of the Secret used.
	Secret string
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
// system namespace, and decodes it. NotFound moves on to the next namespace;
// any other error stops, naming the namespace and the permission missing.
func Resolve(ctx context.Context, r SecretReader, componentNS, systemNS string, ref component.SecretRef) (*Resolved, error) {
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
		d, err := Decode(secret)
		if err != nil {
			return nil, err
		}
		return &Resolved{Decoded: d, Secret: ns + "/" + ref.Name}, nil
	}
	where := fmt.Sprintf("namespace %q", tried[0])
	if len(tried) == 2 {
		where = fmt.Sprintf("namespaces %q or %q", tried[0], tried[1])
	}
	return nil, clierror.WithHint(
		fmt.Errorf("secret %q not found in %s", ref.Name, where),
		"create the Secret, or fix spec.source.authentication.secretRef.name")
}
