package cmd

import (
	"context"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/ocisrc/ocisrc/pkg/component"
)

// KubectlCompletionBinary is the name kubectl runs for a plugin's completion
// (kubectl_complete-<plugin>); the binary answers as "__complete" when run so.
const KubectlCompletionBinary = "kubectl_complete-component_pull"

// KubectlOcisrcCompletionBinary is the second plugin's completion binary.
const KubectlOcisrcCompletionBinary = "kubectl_complete-ocisrc"

// componentNames completes Component names from the cluster, in the namespace
// the command line selects, leaving out the names already given.
func componentNames(kube *genericclioptions.ConfigFlags, resource *string) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		namespace, _, err := kube.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		finder := &component.Finder{Getter: kube, Resource: *resource}
		found, _, err := finder.Find(component.Query{Namespace: namespace})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []cobra.Completion
		for _, c := range found {
			if strings.HasPrefix(c.Name, toComplete) && !slices.Contains(args, c.Name) {
				names = append(names, c.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// namespaceNames completes --namespace from the cluster.
func namespaceNames(kube *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cfg, err := kube.ToRESTConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		client, err := corev1client.NewForConfig(cfg)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		list, err := client.Namespaces().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []cobra.Completion
		for _, ns := range list.Items {
			if strings.HasPrefix(ns.Name, toComplete) {
				names = append(names, ns.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNamespaceFlag registers namespace completion where c has the flag.
func completeNamespaceFlag(c *cobra.Command, kube *genericclioptions.ConfigFlags) {
	if c.Flags().Lookup("namespace") != nil || c.PersistentFlags().Lookup("namespace") != nil {
		_ = c.RegisterFlagCompletionFunc("namespace", namespaceNames(kube))
	}
}
