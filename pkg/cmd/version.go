package cmd

import (
	"github.com/ocisrc/ocisrc/pkg/termsafe"

	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/ocisrc/ocisrc/pkg/version"
)

// versionInfo is the -o json|yaml document of "version".
type versionInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func currentVersion() versionInfo {
	return versionInfo{Version: version.Version(), GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

func (v versionInfo) String() string {
	return fmt.Sprintf("ocisrc %s (%s, %s)", v.Version, v.GoVersion, v.Platform)
}

// NewVersionCommand returns "version".
func NewVersionCommand(streams genericiooptions.IOStreams) *cobra.Command {
	output := OutputText
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version of ocisrc",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			v := currentVersion()
			switch output {
			case OutputJSON, OutputYAML:
				return printStructured(streams.Out, output, v)
			default:
				p := termsafe.NewPrinter(streams.Out)
				p.Printf("%s\n", v)
				return p.Err()
			}
		},
	}
	addOutputFlag(c.Flags(), &output)
	return c
}
