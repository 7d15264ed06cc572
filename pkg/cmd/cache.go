package cmd

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/termsafe"
	"github.com/ocisrc/ocisrc/pkg/units"
)

// NewCacheCommand returns "cache" with its list and prune subcommands.
func NewCacheCommand(streams genericiooptions.IOStreams, invocation string) *cobra.Command {
	c := &cobra.Command{
		Use:   "cache",
		Short: "List and prune the charts ocisrc keeps in Helm's repository cache",
		Long: `ocisrc keeps charts in Helm's repository cache under the digest of their
manifest:

  <repository cache>/ocisrc/sha256/<digest>/<chart>-<version>.tgz

"list" shows them; "prune" removes those not used for a while.`,
	}
	c.AddCommand(newCacheListCommand(streams, invocation), newCachePruneCommand(streams, invocation))
	return c
}

// cacheListOutput is the -o json|yaml document of "cache list".
type cacheListOutput struct {
	Entries []cache.Listed `json:"entries"`
}

func newCacheListCommand(streams genericiooptions.IOStreams, invocation string) *cobra.Command {
	output := OutputText
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the cached charts",
		Example: fmt.Sprintf("  %s cache list\n  %s cache list -o json", invocation, invocation),
		Args:    cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			store, err := openStore(false)
			if err != nil {
				return err
			}
			defer store.Close()
			inv, err := store.List()
			if err != nil {
				return err
			}
			warn := warner(streams.ErrOut)
			if n := len(inv.Bad); n > 0 {
				warn(fmt.Sprintf("%d cache %s failed %s checks and %s ignored (not listed); \"%s cache prune --damaged\" removes %s",
					n, plural(n, "entry", "entries"), plural(n, "its", "their"), plural(n, "is", "are"), invocation, plural(n, "it", "them")))
			}
			entries := inv.Entries
			switch output {
			case OutputJSON, OutputYAML:
				doc := cacheListOutput{Entries: entries}
				if doc.Entries == nil {
					doc.Entries = []cache.Listed{}
				}
				return printStructured(streams.Out, output, doc)
			}
			if len(entries) == 0 {
				termsafe.NewPrinter(streams.ErrOut).Printf("No charts in the cache (%s).\n", store.Dir())
				return nil
			}
			// The fields are escaped one by one, then laid out in columns.
			w := printers.GetNewTabWriter(streams.Out)
			p := termsafe.NewPrinter(w)
			p.Printf("CHART\tVERSION\tDIGEST\tSIZE\tLAST USED\tREFERENCE\n")
			for _, e := range entries {
				refs := e.Ref
				if len(e.Tags) > 0 {
					refs = strings.Join(e.Tags, ",")
				}
				p.Printf("%s\t%s\t%s\t%s\t%s\t%s\n", e.Chart, e.Version, shortDigest(e.ManifestDigest), units.Bytes(e.Size),
					duration.HumanDuration(time.Since(e.LastUsed))+" ago", refs)
			}
			if err := p.Err(); err != nil {
				return err
			}
			return w.Flush()
		},
	}
	addOutputFlag(c.Flags(), &output)
	return c
}

func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

func newCachePruneCommand(streams genericiooptions.IOStreams, invocation string) *cobra.Command {
	var olderThan time.Duration
	var all, damaged bool
	c := &cobra.Command{
		Use:     "prune",
		Short:   "Remove cached charts not used for a while, or the entries that fail their checks",
		Example: fmt.Sprintf("  %[1]s cache prune --older-than 720h\n  %[1]s cache prune --all\n  %[1]s cache prune --damaged", invocation),
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			given := 0
			for _, set := range []bool{olderThan != 0, all, damaged} {
				if set {
					given++
				}
			}
			switch {
			case olderThan < 0:
				return clierror.Invalid(fmt.Errorf("--older-than must be a positive duration such as 720h, got %s", olderThan))
			case given != 1:
				return clierror.InvalidWithHint(errors.New("give exactly one of --older-than, --all and --damaged"), fmt.Sprintf("See '%s --help' for usage.", c.CommandPath()))
			}
			// Every prune removes the entries that fail their checks;
			// --damaged removes only those (no chart is older than this).
			cutoff := time.Time{}
			switch {
			case all:
				cutoff = time.Now().Add(time.Hour)
			case olderThan > 0:
				cutoff = time.Now().Add(-olderThan)
			}
			store, err := openStore(false)
			if err != nil {
				return err
			}
			defer store.Close()
			removed, err := store.Prune(cutoff)
			p := termsafe.NewPrinter(streams.Out)
			var freed int64
			for _, e := range removed.Entries {
				freed += e.Size
				p.Printf("Removed %s-%s (%s)\n", e.Chart, e.Version, shortDigest(e.ManifestDigest))
			}
			for _, b := range removed.Bad {
				p.Printf("Removed the damaged entry %s, which failed its checks (%s)\n", shortDigest(b.Digest), b.Reason)
			}
			n, bad := len(removed.Entries), len(removed.Bad)
			if bad > 0 {
				p.Printf("Pruned %d %s and %d damaged %s, %s freed\n", n, plural(n, "chart", "charts"), bad, plural(bad, "entry", "entries"), units.Bytes(freed))
			} else {
				p.Printf("Pruned %d %s, %s freed\n", n, plural(n, "chart", "charts"), units.Bytes(freed))
			}
			if err != nil {
				return err
			}
			return p.Err()
		},
	}
	c.Flags().DurationVar(&olderThan, "older-than", 0, "Remove charts last used longer ago than this (e.g. 720h).")
	c.Flags().BoolVar(&all, "all", false, "Remove every cached chart.")
	c.Flags().BoolVar(&damaged, "damaged", false, "Remove only the entries that fail their checks (every prune removes them too).")
	return c
}
