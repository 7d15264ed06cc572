// Command ocisrc is one binary with three faces: the kubectl plugin
// "kubectl component-pull" (when run as kubectl-component_pull), the Helm
// plugin "helm ocisrc" (when Helm runs it) and the standalone "ocisrc".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/ocisrc/ocisrc/pkg/cmd"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	caught := make(chan os.Signal, 1)
	go func() {
		if s, ok := <-signals; ok {
			caught <- s
			cancel()
		}
	}()

	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	code := cmd.Main(ctx, os.Args[0], os.Args[1:], streams, os.Getenv)
	signal.Stop(signals)
	select {
	case s := <-caught:
		// Interrupted: the command has stopped and cleaned up; exit as shells expect.
		name := map[os.Signal]string{os.Interrupt: "SIGINT", syscall.SIGTERM: "SIGTERM"}[s]
		fmt.Fprintf(os.Stderr, "Error: interrupted (%s): nothing was written\n", name) //nolint:forbidigo // the signal's name is ocisrc's own text
		if n, ok := s.(syscall.Signal); ok {
			return 128 + int(n)
		}
		return 1
	default:
		return code
	}
}
