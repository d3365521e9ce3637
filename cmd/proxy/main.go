// Command proxy takes plain HTTP from the gateway and talks verified TLS to the tenant's
// upstream. See docs/proxy.md.
//
//	proxy --config /etc/gatewaytenant/proxy.yaml [--log-level info]
//	proxy --config FILE --check [--strict]   validate, load every file, exit 0 or 1
//
// SIGTERM or SIGINT drains and exits; a second one exits at once. SIGHUP reloads the CA
// bundles and client certificates.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	configPath := fs.String("config", "", "path of the configuration file (YAML or JSON)")
	check := fs.Bool("check", false, "validate the configuration and load every file it names, then exit")
	strict := fs.Bool("strict", false, "with --check: fail on warnings too (expired or not yet valid certificates)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var level slog.Level
	if *configPath == "" || fs.NArg() > 0 || level.UnmarshalText([]byte(*logLevel)) != nil {
		fmt.Fprintln(os.Stderr, "usage: proxy --config FILE [--check [--strict]] [--log-level debug|info|warn|error]")
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := contract.LoadConfig(*configPath)
	var warnings []error
	if err == nil && *check {
		warnings, err = proxy.Check(cfg)
	}
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "warning: %v\n", w)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: invalid configuration:\n%v\n", *configPath, err)
		return 1
	}
	if *check {
		if *strict && len(warnings) > 0 {
			fmt.Fprintf(os.Stderr, "%s: %d warning(s), failing (--strict)\n", *configPath, len(warnings))
			return 1
		}
		fmt.Printf("%s: configuration is valid (%d upstream(s), %d warning(s))\n", *configPath, len(cfg.Upstreams), len(warnings))
		return 0
	}

	p, err := proxy.New(cfg, proxy.WithLogger(log))
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go handleSignals(ctx, cancel, p, log)
	if err := p.Serve(ctx); err != nil {
		log.Error("stopped with an error", "error", err)
		return 1
	}
	return 0
}

// handleSignals: the first SIGTERM/SIGINT starts the drain, a second one exits; SIGHUP
// reloads TLS material.
func handleSignals(ctx context.Context, stop context.CancelFunc, p *proxy.Proxy, log *slog.Logger) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	stopping := false
	done := ctx.Done()
	for {
		select {
		case <-done:
			if !stopping {
				return
			}
			done = nil // draining: keep listening for a second signal
		case s := <-sigs:
			switch {
			case s == syscall.SIGHUP:
				log.Info("SIGHUP: reloading TLS material")
				p.Reload()
			case stopping:
				log.Warn("second signal: exiting without finishing the drain", "signal", s.String())
				os.Exit(1)
			default:
				log.Info("signal received: draining", "signal", s.String())
				stopping = true
				stop()
			}
		}
	}
}
