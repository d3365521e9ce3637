// Command manager runs the gatewaytenant operator.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// newLogger is the manager's logger as the zap flags configure it, writing to w.
func newLogger(c *config, w io.Writer) logr.Logger {
	opts := c.zap
	return zap.New(zap.UseFlagOptions(&opts), zap.WriteTo(w))
}

func main() {
	c, err := parse(os.Args[1:], os.LookupEnv, flag.CommandLine, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	o := c.manager
	o.Harness = benchHarness()
	ctrl.SetLogger(newLogger(c, os.Stderr))
	log := ctrl.Log.WithName("setup")
	for _, w := range c.warnings {
		log.Info(w)
	}
	setMemoryLimit(memlimit.FromCgroup, log)

	ctx := ctrl.SetupSignalHandler()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "Unable to load a kubeconfig")
		os.Exit(1)
	}
	mgr, err := manager.New(ctx, cfg, o)
	if err != nil {
		log.Error(err, "Unable to set up the manager")
		os.Exit(1)
	}
	if err := mgr.Add(gcTargetAfterSync(mgr.GetCache(), log)); err != nil {
		log.Error(err, "Unable to set up the manager")
		os.Exit(1)
	}
	log.Info("Starting manager")
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "Manager stopped")
		os.Exit(1)
	}
}
