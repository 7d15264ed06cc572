package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// baseline is another ocisrc build measured beside this one (--baseline
// LABEL=PATH): for example the last build on Helm 3's library, to show what
// the move to Helm 4's library changed.
type baseline struct{ label, path string }

// baselines is the repeatable --baseline flag.
type baselines []baseline

func (bs *baselines) String() string {
	var s []string
	for _, b := range *bs {
		s = append(s, b.label+"="+b.path)
	}
	return strings.Join(s, ",")
}

func (bs *baselines) Set(v string) error {
	label, path, ok := strings.Cut(v, "=")
	if !ok || label == "" || path == "" {
		return fmt.Errorf("%q: expected LABEL=PATH", v)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("baseline %q: %w", label, err)
	}
	*bs = append(*bs, baseline{label: label, path: path})
	return nil
}

// figures are one program's measurements in the versions table.
type figures struct {
	label                   string
	size                    int64
	startup, cold, warm, rs sample
	helm                    bool
}

// versions measures, once on loopback, this build, every baseline and the
// helm CLI of both majors (v3 and v4 test tools) on the same five figures:
// binary size, start-up, a cold pull, a warm pull by digest and the peak
// memory on the 20 MiB chart (once() created its Component).
func (b *bench) versions(ctx context.Context, m *mode, runs int, extra []baseline) ([]figures, error) {
	ca := b.stack.Secure.CAFile
	var out []figures
	builds := append([]baseline{{label: "ocisrc, this build", path: b.ocisrc}}, extra...)
	for _, build := range builds {
		fmt.Fprintf(os.Stderr, "bench: versions: %s\n", build.label)
		f := figures{label: build.label, size: fileSize(build.path)}
		idle, err := b.home("v-idle")
		if err != nil {
			return nil, err
		}
		fetch := func(h *testenv.Home, name string) (sample, error) {
			return b.execWith(h, m, "", build.path, "fetch", name, "-n", m.ns, "--registry-ca-file", ca)
		}
		if f.startup, err = b.measure(runs*2, func() (sample, error) { return b.execWith(idle, m, "", build.path, "--help") }); err != nil {
			return nil, err
		}
		if f.cold, err = b.measure(runs, func() (sample, error) {
			h, err := b.home("v-cold")
			if err != nil {
				return sample{}, err
			}
			return fetch(h, "app-pinned")
		}); err != nil {
			return nil, fmt.Errorf("%s: %w", build.label, err)
		}
		warm, err := b.home("v-warm")
		if err != nil {
			return nil, err
		}
		if _, err := fetch(warm, "app-pinned"); err != nil {
			return nil, err
		}
		if f.warm, err = b.measure(runs, func() (sample, error) { return fetch(warm, "app-pinned") }); err != nil {
			return nil, err
		}
		if f.rs, err = b.measure(3, func() (sample, error) {
			h, err := b.home("v-big")
			if err != nil {
				return sample{}, err
			}
			return b.execMem(h, build.path, "fetch", "big", "-n", m.ns, "--registry-ca-file", ca)
		}); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	for _, tool := range []string{"helm3", "helm4"} {
		helm, err := testenv.ToolPath(tool, "helm")
		if err != nil {
			return nil, err
		}
		label := "helm " + helmVersion(helm) + " CLI"
		fmt.Fprintf(os.Stderr, "bench: versions: %s\n", label)
		f := figures{label: label, size: fileSize(helm), helm: true}
		h, err := b.home("v-" + tool)
		if err != nil {
			return nil, err
		}
		if _, err := b.exec(h, testenv.RegistryPassword, helm, "registry", "login", m.reg, "-u", testenv.RegistryUser, "--password-stdin", "--ca-file", ca); err != nil {
			return nil, fmt.Errorf("%s registry login: %w", tool, err)
		}
		pull := func(chart, version string) (sample, error) {
			return b.execWith(h, m, "", helm, "pull", "oci://"+m.reg+"/charts/"+chart, "--version", version, "--ca-file", ca, "-d", b.outDir())
		}
		if f.startup, err = b.measure(runs*2, func() (sample, error) { return b.execWith(h, m, "", helm, "version") }); err != nil {
			return nil, err
		}
		// helm pull reads no cache back: its "warm" pull is the same pull again.
		if f.cold, err = b.measure(runs, func() (sample, error) { return pull("app", "1.2.3") }); err != nil {
			return nil, fmt.Errorf("%s pull: %w", tool, err)
		}
		if f.warm, err = b.measure(runs, func() (sample, error) { return pull("app", "1.2.3") }); err != nil {
			return nil, err
		}
		if f.rs, err = b.measure(3, func() (sample, error) {
			return b.execMem(h, helm, "pull", "oci://"+m.reg+"/charts/big", "--version", "1.0.0", "--ca-file", ca, "-d", b.outDir())
		}); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// helmVersion is helm's own short version (v3.21.4), or "?" when it does
// not say.
func helmVersion(helm string) string {
	raw, err := exec.Command(helm, "version", "--short").Output()
	if err != nil {
		return "?"
	}
	v, _, _ := strings.Cut(strings.TrimSpace(string(raw)), "+")
	return v
}

// renderVersions lays the figures out as a table, each ocisrc build's
// figures followed by its ratios to the helm v3 and v4 CLIs.
func renderVersions(fs []figures) string {
	var sb strings.Builder
	var helms []figures
	for _, f := range fs {
		if f.helm {
			helms = append(helms, f)
		}
	}
	ratios := func(v float64, of func(figures) float64) string {
		var rs []string
		for _, h := range helms {
			if d := of(h); d > 0 {
				rs = append(rs, fmt.Sprintf("%.2f×", v/d))
			}
		}
		if len(rs) == 0 {
			return ""
		}
		return " (" + strings.Join(rs, " / ") + ")"
	}
	fmt.Fprintf(&sb, "## Helm's library and Helm's CLI, 3 and 4 (issue 19)\n\n")
	fmt.Fprintf(&sb, "Once, on loopback. Each ocisrc build's figure is followed by its ratio to")
	for i, h := range helms {
		if i > 0 {
			fmt.Fprintf(&sb, " /")
		}
		fmt.Fprintf(&sb, " the %s", h.label)
	}
	fmt.Fprintf(&sb, ". Cold and warm pulls are `ocisrc fetch` of a digest-pinned Component with a fresh and a primed cache;\n"+
		"helm's are `helm pull` with stored credentials (helm reads no cache back, so its warm pull is the same pull again).\n"+
		"Start-up is `ocisrc --help` and `helm version`; sizes are unstripped binaries.\n\n")
	fmt.Fprintf(&sb, "| program | binary | start-up | cold pull | warm pull | peak memory, 20 MiB chart |\n|---|---|---|---|---|---|\n")
	for _, f := range fs {
		cells := []string{
			mib(f.size), fmt.Sprintf("%.3fs", f.startup.wall.Seconds()),
			fmt.Sprintf("%.3fs (%d req)", f.cold.wall.Seconds(), f.cold.requests),
			fmt.Sprintf("%.3fs (%d req)", f.warm.wall.Seconds(), f.warm.requests),
			fmt.Sprintf("%.1f MiB", float64(f.rs.maxRSSKB)/1024),
		}
		if !f.helm {
			cells[0] += ratios(float64(f.size), func(h figures) float64 { return float64(h.size) })
			cells[1] += ratios(f.startup.wall.Seconds(), func(h figures) float64 { return h.startup.wall.Seconds() })
			cells[2] += ratios(f.cold.wall.Seconds(), func(h figures) float64 { return h.cold.wall.Seconds() })
			cells[3] += ratios(f.warm.wall.Seconds(), func(h figures) float64 { return h.warm.wall.Seconds() })
			cells[4] += ratios(float64(f.rs.maxRSSKB), func(h figures) float64 { return float64(h.rs.maxRSSKB) })
		}
		fmt.Fprintf(&sb, "| %s | %s |\n", f.label, strings.Join(cells, " | "))
	}
	return sb.String()
}
