// Package demo plays the operator's story on a local control plane: a tenant exposes a plain
// upstream, gets two things wrong, then exposes a TLS upstream through the proxy the operator
// renders, which the real proxy binary runs on loopback; last, a TLS upstream on a Gateway
// API platform, whose gateway verifies it through the BackendTLSPolicy the operator writes.
// cmd/demo prints it for a person; test/e2e asserts every step of the same Story.
package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/proxyrun"
)

// Options configure Run.
type Options struct {
	// Out receives the story.
	Out io.Writer
	// ProxyBinary is the proxy binary; when empty, cmd/proxy is built into a temporary
	// directory.
	ProxyBinary string
	// Keep keeps the control plane, the manager, the proxy and the upstream running after the
	// story until ctx ends, for exploring with kubectl.
	Keep bool
}

// Run starts a local control plane and the manager, plays the story, and removes everything
// it started or wrote when the story ends or ctx is cancelled.
func Run(ctx context.Context, o Options) (err error) {
	p := printer{o.Out}
	work, err := os.MkdirTemp("", "gatewaytenant-demo-")
	if err != nil {
		return err
	}
	defer func() {
		p.line("removing %s", work)
		err = errors.Join(err, os.RemoveAll(work))
	}()

	proxyBin := o.ProxyBinary
	if proxyBin == "" {
		p.line("building cmd/proxy")
		if proxyBin, err = proxyrun.Build(ctx, work); err != nil {
			return err
		}
	} else if proxyBin, err = filepath.Abs(proxyBin); err != nil {
		return err
	}

	managerLog := filepath.Join(work, "manager.log")
	logFile, err := os.Create(managerLog)
	if err != nil {
		return err
	}
	defer logFile.Close()
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile)))

	p.step("Starting a local control plane (kube-apiserver and etcd from bin/control-plane, data in %s),\n    with the operator's CRDs and Gateway API's standard CRDs (from the Go module cache)", os.TempDir())
	cluster, err := StartCluster(ctx, work)
	if err != nil {
		return err
	}
	defer func() {
		p.line("stopping the manager and the control plane")
		err = errors.Join(err, cluster.Stop())
	}()
	p.line("API server: %s", cluster.Env.Config.Host)
	p.line("kubeconfig: %s", cluster.Kubeconfig)
	p.line("  e.g. kubectl --kubeconfig %s get gatewaytenants -A", cluster.Kubeconfig)
	p.line("the manager runs in this process (--data-plane-preset=silver); its log: %s", managerLog)

	story := &Story{Client: cluster.Client, Watch: cluster.Watch, Out: o.Out, ProxyBinary: proxyBin, WorkDir: work, ProxyAdmin: &cluster.ProxyAdmin}
	defer func() {
		p.line("stopping the proxy and the TLS upstream")
		err = errors.Join(err, story.Close())
	}()
	if err := story.Play(ctx); err != nil {
		if ctx.Err() == nil {
			p.line("the manager's last log lines:")
			p.block(tail(managerLog, 15))
		}
		return err
	}
	if o.Keep {
		p.step("Everything keeps running until Ctrl-C")
		p.line("export KUBECONFIG=%s", cluster.Kubeconfig)
		p.line("kubectl get gatewaytenants,networkpolicies,deployments,configmaps -n %s", Namespace)
		if story.tls.proxy != nil {
			p.line("curl %s   (the proxy, in the state of the last step)", story.tls.proxy.URL(TLSUpstreamService, "/hello"))
		}
		<-ctx.Done()
		p.line("interrupted: cleaning up")
	}
	return nil
}

// tail is the last n lines of the manager's JSON log, each as its level, message and error.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var e struct{ Level, Msg, Error string }
		line := sc.Text()
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg != "" {
			line = e.Level + " " + e.Msg
			if e.Error != "" {
				line += ": " + e.Error
			}
		}
		lines = append(lines, line)
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return "(empty)"
	}
	return strings.Join(lines, "\n")
}
