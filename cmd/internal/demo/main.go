// Command demo is `make demo`: it brings up a local OCI registry (TLS +
// htpasswd) and a local control plane (kube-apiserver + etcd), seeds a chart,
// a credentials Secret and a Component, pulls the chart through the real
// kubectl with the ocisrc plugin, shows what happened, and tears it all down.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

func main() {
	binary := flag.String("binary", "bin/ocisrc", "the ocisrc binary to install as the kubectl plugin")
	keep := flag.Bool("keep", false, "keep the control plane and registry running until Ctrl-C")
	flag.Parse()
	if err := run(*binary, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, a ...any) { fmt.Printf("\n==> "+format+"\n", a...) }

func run(binary string, keep bool) error {
	bin, err := filepath.Abs(binary)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (run make build first)", binary, err)
	}
	dir, err := os.MkdirTemp("", "ocisrc-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The pinned kubectl (tools/kubernetes), first on PATH: the demo needs no
	// kubectl of the machine's.
	kubectlDir, err := testenv.UseKubectl()
	if err != nil {
		return err
	}
	step("Starting a local registry (TLS, htpasswd) and a local control plane (kube-apiserver + etcd)")
	stack, err := testenv.StartStack(filepath.Join(dir, "stack"))
	if err != nil {
		return err
	}
	defer func() {
		step("Tearing down")
		_ = stack.Stop()
	}()
	fmt.Printf("    registry:   https://%s (user %q; CA in %s)\n", stack.Secure.Host, testenv.RegistryUser, stack.Secure.CAFile)
	fmt.Printf("    API server: %s (kubeconfig %s)\n", stack.Cluster.Host(), stack.Cluster.Kubeconfig)

	step("Pushing chart app 1.2.3 to the registry")
	pushed, err := stack.PushChart(ctx, stack.Secure, "app", "1.2.3")
	if err != nil {
		return err
	}
	fmt.Printf("    %s@%s\n", pushed.Ref, pushed.Digest)

	step("Seeding a Secret in deployment-system and a Component in team-a")
	c := stack.Cluster
	// The registry key binds the shared Secret to its registry: a Component
	// pointing anywhere else cannot have these credentials sent there.
	if err := c.PutSecret(ctx, "deployment-system", "registry-credentials", map[string]string{
		"username": testenv.RegistryUser, "password": testenv.RegistryPassword, "registry": stack.Secure.Host,
	}); err != nil {
		return err
	}
	if err := c.PutComponent(ctx, "team-a", "app", testenv.OCISource(pushed.Ref, "registry-credentials", "deployment-system")); err != nil {
		return err
	}

	home, err := testenv.NewHome(filepath.Join(dir, "home"))
	if err != nil {
		return err
	}
	pluginDir := filepath.Join(dir, "plugins")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"kubectl-component_pull", "kubectl-ocisrc", "ocisrc"} {
		if err := os.Symlink(bin, filepath.Join(pluginDir, name)); err != nil {
			return err
		}
	}
	// The registry's CA comes from the registry policy: the local file at its
	// default place trusts it for this registry only (in addition to the
	// system roots), so no --registry-ca-file is needed.
	policyFile := filepath.Join(home.Env["XDG_CONFIG_HOME"], "ocisrc", "registry-policy.yaml")
	caPEM, err := os.ReadFile(stack.Secure.CAFile)
	if err != nil {
		return err
	}
	policy := "apiVersion: ocisrc.dev/v1alpha1\nkind: RegistryPolicy\nregistries:\n  - prefix: " + stack.Secure.Host + "\n    tls:\n      ca: |\n        " +
		strings.ReplaceAll(strings.TrimSpace(string(caPEM)), "\n", "\n        ") + "\n"
	if err := os.MkdirAll(filepath.Dir(policyFile), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(policyFile, []byte(policy), 0o644); err != nil {
		return err
	}
	step("Writing the registry policy %s", policyFile)
	fmt.Println(indent(strings.SplitN(policy, "-----BEGIN", 2)[0] + "-----BEGIN CERTIFICATE----- …"))
	env := home.Environ(map[string]string{
		"PATH":       pluginDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"KUBECONFIG": c.Kubeconfig,
	})
	kubectl := func(args ...string) error {
		fmt.Printf("$ kubectl %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, "kubectl", args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
		return cmd.Run()
	}
	if err := kubectl("get", "components", "-n", "team-a"); err != nil {
		return err
	}
	if err := kubectl("get", "component", "app", "-n", "team-a", "-o", "jsonpath={.spec.source}"); err != nil {
		return err
	}
	fmt.Println()

	step("Pulling the Component's chart through the kubectl plugin")
	if err := kubectl("component-pull", "app", "-n", "team-a", "-o", "yaml"); err != nil {
		return err
	}

	step("What is in Helm's repository cache now (%s)", home.Env["HELM_REPOSITORY_CACHE"])
	files, err := testenv.Files(home.Env["HELM_REPOSITORY_CACHE"])
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Printf("    %s\n", f)
	}
	leaks, err := home.FindSecrets(testenv.RegistryPassword)
	if err != nil {
		return err
	}
	if len(leaks) > 0 {
		return fmt.Errorf("the registry password was written to disk: %v", leaks)
	}
	fmt.Println("    (the registry password is nowhere under HOME, Helm's or Docker's config: it stayed in memory)")

	step("Pulling again: the tag resolves (one registry request) to a digest already in the cache")
	stack.Secure.ResetLog()
	if err := kubectl("component-pull", "app", "-n", "team-a"); err != nil {
		return err
	}
	fmt.Printf("    registry requests: %d\n", len(stack.Secure.Requests()))

	if keep {
		// The environment to try the README's steps in another shell.
		envFile := filepath.Join(dir, "env.sh")
		lines := []string{
			"export KUBECONFIG=" + c.Kubeconfig,
			"export PATH=" + pluginDir + ":" + kubectlDir + ":$PATH",
			"export OCISRC_REGISTRY_POLICY=" + policyFile,
			"export HELM_CACHE_HOME=" + home.Env["HELM_CACHE_HOME"],
			"export HELM_CONFIG_HOME=" + home.Env["HELM_CONFIG_HOME"],
			"export HELM_DATA_HOME=" + home.Env["HELM_DATA_HOME"],
			"export REGISTRY=" + stack.Secure.Host,
			"export REGISTRY_CA=" + stack.Secure.CAFile,
			"export REGISTRY_USER=" + testenv.RegistryUser,
		}
		if err := os.WriteFile(envFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			return err
		}
		step("Everything stays running (KEEP=1). In another shell:")
		fmt.Printf("    source %s\n", envFile)
		fmt.Println(indent(strings.Join(lines, "\n")))
		fmt.Printf("    kubectl component-pull app -n team-a      # the Component seeded above\n")
		fmt.Printf("    kubectl ocisrc policy explain oci://%s/charts/app:1.2.3 --cluster-registry-policy=false\n", stack.Secure.Host)
		fmt.Printf("    kubectl ocisrc cache list                 # what the pulls above left in Helm's cache\n")
		fmt.Printf("    (the registry's password is %q; the policy file %s trusts its CA)\n", testenv.RegistryPassword, policyFile)
		fmt.Println("    Ctrl-C here stops everything and removes it.")
		<-ctx.Done()
	}
	if errors.Is(ctx.Err(), context.Canceled) && !keep {
		return errors.New("interrupted")
	}
	return nil
}

// indent prefixes every line of s with four spaces.
func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
