package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// ComponentGVR is the reference CRD's resource (testdata/crds).
var ComponentGVR = schema.GroupVersionResource{Group: "deploy.example.io", Version: "v1alpha1", Resource: "components"}

// Cluster is a real kube-apiserver + etcd with the reference Component CRD.
type Cluster struct {
	// Config is the admin's REST config.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for the admin.
	Kubeconfig string
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface

	env *envtest.Environment
	dir string
}

// StartCluster starts the control plane; dir receives kubeconfig files.
// The binaries come from KUBEBUILDER_ASSETS when set, else from the pinned
// tools (tools/build.sh); nothing is ever downloaded.
func StartCluster(dir string) (*Cluster, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	// envtest logs through controller-runtime's logger; without one it warns with a stack trace.
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(root, "testdata", "crds")},
		ErrorIfCRDPathMissing:    true,
		DownloadBinaryAssets:     false,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	if assets := os.Getenv("KUBEBUILDER_ASSETS"); assets != "" {
		env.BinaryAssetsDirectory = assets
	} else {
		apiserver, err := ToolPath("kube-apiserver", "kube-apiserver")
		if err != nil {
			return nil, err
		}
		etcd, err := ToolPath("etcd", "etcd")
		if err != nil {
			return nil, err
		}
		env.ControlPlane.GetAPIServer().Path = apiserver
		env.ControlPlane.Etcd = &envtest.Etcd{Path: etcd}
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("testenv: starting kube-apiserver and etcd: %w", err)
	}
	c := &Cluster{Config: cfg, env: env, dir: dir}
	// The tests' and the bench's own clients do not pace themselves (the
	// bench seeds thousands of objects).
	fast := rest.CopyConfig(cfg)
	fast.QPS, fast.Burst = -1, 0
	if c.Client, err = kubernetes.NewForConfig(fast); err != nil {
		_ = env.Stop()
		return nil, err
	}
	if c.Dynamic, err = dynamic.NewForConfig(fast); err != nil {
		_ = env.Stop()
		return nil, err
	}
	if c.Kubeconfig, err = c.writeKubeconfig("admin", cfg, ""); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return c, nil
}

// Stop stops the control plane.
func (c *Cluster) Stop() error { return c.env.Stop() }

// Host is the API server's URL.
func (c *Cluster) Host() string { return c.Config.Host }

// writeKubeconfig writes a kubeconfig for cfg with one context "test", whose
// namespace is ns ("" for the default).
func (c *Cluster) writeKubeconfig(name string, cfg *rest.Config, ns string) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: name, Namespace: ns}
	kc.CurrentContext = "test"
	path := filepath.Join(c.dir, "kubeconfig-"+name)
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return "", err
	}
	return path, nil
}

// KubeconfigVia writes an admin kubeconfig whose server is https://addr (a
// proxy in front of the API server, whose certificate names 127.0.0.1).
func (c *Cluster) KubeconfigVia(name, addr string) (string, error) {
	cfg := rest.CopyConfig(c.Config)
	cfg.Host = "https://" + addr
	return c.writeKubeconfig(name, cfg, "")
}

// AddUser provisions a user authenticated by a client certificate and
// returns a kubeconfig for it. What the user may do is up to RBAC: see Grant.
func (c *Cluster) AddUser(name string, groups ...string) (string, error) {
	u, err := c.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return "", err
	}
	return c.writeKubeconfig(name, u.Config(), "")
}

// Grant gives user the verbs on resources of apiGroup in namespace.
func (c *Cluster) Grant(ctx context.Context, namespace, user, apiGroup string, resources, verbs []string) error {
	name := "ocisrc-test-" + user + "-" + fmt.Sprint(len(resources)) + "-" + resources[0]
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{apiGroup}, Resources: resources, Verbs: verbs}},
	}
	if _, err := c.Client.RbacV1().Roles(namespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return err
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}},
	}
	_, err := c.Client.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{})
	return err
}

// GrantCluster gives user the verbs on resources of apiGroup in every
// namespace (a ClusterRole and its binding).
func (c *Cluster) GrantCluster(ctx context.Context, user, apiGroup string, resources, verbs []string) error {
	name := "ocisrc-test-" + user + "-" + fmt.Sprint(len(resources)) + "-" + resources[0]
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{apiGroup}, Resources: resources, Verbs: verbs}},
	}
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}},
	}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// EnsureNamespace creates namespace if it does not exist.
func (c *Cluster) EnsureNamespace(ctx context.Context, name string) error {
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// PutSecret creates or replaces an Opaque Secret with data.
func (c *Cluster) PutSecret(ctx context.Context, namespace, name string, data map[string]string) error {
	return c.PutTypedSecret(ctx, namespace, name, string(corev1.SecretTypeOpaque), data)
}

// PutTypedSecret creates or replaces a Secret of type typ with data.
func (c *Cluster) PutTypedSecret(ctx context.Context, namespace, name, typ string, data map[string]string) error {
	if err := c.EnsureNamespace(ctx, namespace); err != nil {
		return err
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Type: corev1.SecretType(typ), StringData: data}
	_ = c.Client.CoreV1().Secrets(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	_, err := c.Client.CoreV1().Secrets(namespace).Create(ctx, s, metav1.CreateOptions{})
	return err
}

// UpdateSecret changes the data of an existing Secret in place: the same
// Secret (its UID), at a new resourceVersion.
func (c *Cluster) UpdateSecret(ctx context.Context, namespace, name string, data map[string]string) error {
	s, err := c.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	s.Data, s.StringData = nil, data
	_, err = c.Client.CoreV1().Secrets(namespace).Update(ctx, s, metav1.UpdateOptions{})
	return err
}

// PutServiceAccountToken creates a service account and a Secret of type
// kubernetes.io/service-account-token for it, holding data (the API server
// requires the account's annotation on such a Secret).
func (c *Cluster) PutServiceAccountToken(ctx context.Context, namespace, name string, data map[string]string) error {
	if err := c.EnsureNamespace(ctx, namespace); err != nil {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := c.Client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Annotations: map[string]string{corev1.ServiceAccountNameKey: name}},
		Type:       corev1.SecretTypeServiceAccountToken, StringData: data,
	}
	_ = c.Client.CoreV1().Secrets(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	_, err := c.Client.CoreV1().Secrets(namespace).Create(ctx, s, metav1.CreateOptions{})
	return err
}

// PutConfigMap creates or replaces a ConfigMap with data.
func (c *Cluster) PutConfigMap(ctx context.Context, namespace, name string, data map[string]string) error {
	if err := c.EnsureNamespace(ctx, namespace); err != nil {
		return err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Data: data}
	_ = c.Client.CoreV1().ConfigMaps(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	_, err := c.Client.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{})
	return err
}

// DeleteConfigMap deletes a ConfigMap; a missing one is fine.
func (c *Cluster) DeleteConfigMap(ctx context.Context, namespace, name string) error {
	err := c.Client.CoreV1().ConfigMaps(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// DeleteSecret deletes a Secret; a missing one is fine.
func (c *Cluster) DeleteSecret(ctx context.Context, namespace, name string) error {
	err := c.Client.CoreV1().Secrets(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// PutComponent creates or replaces a Component whose spec.source is source.
func (c *Cluster) PutComponent(ctx context.Context, namespace, name string, source any) error {
	if err := c.EnsureNamespace(ctx, namespace); err != nil {
		return err
	}
	spec := map[string]any{}
	if source != nil {
		spec["source"] = source
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": ComponentGVR.GroupVersion().String(),
		"kind":       "Component",
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"spec":       spec,
	}}
	res := c.Dynamic.Resource(ComponentGVR).Namespace(namespace)
	_ = res.Delete(ctx, name, metav1.DeleteOptions{})
	_, err := res.Create(ctx, u, metav1.CreateOptions{})
	return err
}

// OCISource is a spec.source of type oci, with a secretRef when secretName is set.
func OCISource(chart, secretName, secretNamespace string) map[string]any {
	src := map[string]any{"type": "oci", "chart": chart}
	if secretName != "" {
		src["authentication"] = map[string]any{
			"method":    "registry",
			"secretRef": map[string]any{"name": secretName, "namespace": secretNamespace},
		}
	}
	return src
}

// Label sets labels on a Component.
func (c *Cluster) Label(ctx context.Context, namespace, name string, labels map[string]string) error {
	res := c.Dynamic.Resource(ComponentGVR).Namespace(namespace)
	u, err := res.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	u.SetLabels(labels)
	_, err = res.Update(ctx, u, metav1.UpdateOptions{})
	return err
}

// ComponentObject is a Component to create in bulk.
type ComponentObject struct {
	Namespace, Name string
	Source          map[string]any
	Labels          map[string]string
}

// CreateComponents creates many Components (and their namespaces) with a
// client that does not pace itself, workers at a time.
func (c *Cluster) CreateComponents(ctx context.Context, objs []ComponentObject, workers int) error {
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = -1, 0
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, o := range objs {
		if !seen[o.Namespace] {
			seen[o.Namespace] = true
			if err := c.EnsureNamespace(ctx, o.Namespace); err != nil {
				return err
			}
		}
	}
	work := make(chan ComponentObject)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				u := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": ComponentGVR.GroupVersion().String(),
					"kind":       "Component",
					"metadata":   map[string]any{"name": o.Name, "namespace": o.Namespace},
					"spec":       map[string]any{"source": o.Source},
				}}
				u.SetLabels(o.Labels)
				if _, err := dyn.Resource(ComponentGVR).Namespace(o.Namespace).Create(ctx, u, metav1.CreateOptions{}); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}
