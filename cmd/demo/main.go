// Command demo plays the operator's whole story on a local control plane: no cluster needed,
// only Go. It starts the real kube-apiserver and etcd (bin/control-plane), runs the manager
// in-process, and prints each step. See docs/demo.md.
//
//	demo [--proxy bin/proxy] [--keep]
//
// Ctrl-C stops everything it started and removes its temporary files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/demo"
)

func main() {
	proxyBin := flag.String("proxy", "", "the proxy binary (cmd/proxy); built into a temporary directory when empty")
	keep := flag.Bool("keep", false, "keep the control plane, the manager and the proxy running after the story, until Ctrl-C")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := demo.Run(ctx, demo.Options{Out: os.Stdout, ProxyBinary: *proxyBin, Keep: *keep})
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case interrupted && err != nil:
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		}
		fmt.Fprintln(os.Stderr, "demo: interrupted; everything it started is stopped")
		os.Exit(130)
	case err != nil:
		fmt.Fprintf(os.Stderr, "demo failed: %v\n", err)
		os.Exit(1)
	}
}
