package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// tenantController is the tenant controller's name in the manager's metrics.
const tenantController = "gatewaytenant"

// managerProcess is the real manager binary, run as its own process so that its memory is
// its own.
type managerProcess struct {
	cmd         *exec.Cmd
	metricsAddr string
	started     time.Time
	exited      chan error
	stopOnce    sync.Once
	stopErr     error
}

func writeKubeconfig(cfg *rest.Config, path string) error {
	host := cfg.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bench"] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["bench"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench"}
	kc.CurrentContext = "bench"
	return clientcmd.WriteToFile(*kc, path)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startManager runs the manager binary against kubeconfig, logging to logPath.
func startManager(bin, kubeconfig, logPath string, extraArgs []string, env []string) (*managerProcess, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--metrics-bind-address=" + addr, "--metrics-secure=false", "--health-probe-bind-address=0",
		"--data-plane-preset=silver", "--proxy-image=registry.example/gatewaytenant/operator:bench",
	}, extraArgs...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+kubeconfig), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	m := &managerProcess{cmd: cmd, metricsAddr: addr, exited: make(chan error, 1)}
	m.started = time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { m.exited <- cmd.Wait(); logFile.Close() }()
	return m, nil
}

func (m *managerProcess) pid() int { return m.cmd.Process.Pid }

// stop ends the manager with SIGTERM, as Kubernetes would, and waits for it. Later calls
// return what the first one did.
func (m *managerProcess) stop() error {
	m.stopOnce.Do(func() {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(60 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.exited
			m.stopErr = errors.New("manager did not stop within 60s of SIGTERM")
		}
	})
	return m.stopErr
}

// tenantState is what the tracker knows of one tenant.
type tenantState struct {
	generation, observed int64
	lastChange           time.Time
	// verified is the Verified condition of the upstream (TLS runs), verifiedAt when the
	// watch saw it change.
	verified   metav1.ConditionStatus
	verifiedAt time.Time
}

// tracker watches every GatewayTenant and remembers when each last changed, so that the
// bench knows when the operator has written the last status without listing 10,000 tenants.
type tracker struct {
	mu      sync.Mutex
	cond    *sync.Cond
	tenants map[string]tenantState // by namespace
}

func startTracker(ctx context.Context, cfg *rest.Config) (*tracker, error) {
	t := &tracker{tenants: map[string]tenantState{}}
	t.cond = sync.NewCond(&t.mu)
	c, err := cache.New(cfg, cache.Options{Scheme: manager.Scheme()})
	if err != nil {
		return nil, err
	}
	inf, err := c.GetInformer(ctx, &v1alpha1.GatewayTenant{})
	if err != nil {
		return nil, err
	}
	record := func(o any) {
		gt, ok := o.(*v1alpha1.GatewayTenant)
		if !ok {
			return
		}
		now := time.Now()
		t.mu.Lock()
		st := tenantState{generation: gt.Generation, observed: gt.Status.ObservedGeneration, lastChange: now, verified: verifiedOf(gt)}
		st.verifiedAt = t.tenants[gt.Namespace].verifiedAt
		if st.verified != t.tenants[gt.Namespace].verified {
			st.verifiedAt = now
		}
		t.tenants[gt.Namespace] = st
		t.mu.Unlock()
		t.cond.Broadcast()
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, o any) { record(o) },
		DeleteFunc: func(o any) {
			if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			if gt, ok := o.(*v1alpha1.GatewayTenant); ok {
				t.mu.Lock()
				delete(t.tenants, gt.Namespace)
				t.mu.Unlock()
			}
		},
	}); err != nil {
		return nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, errors.New("tenant watch did not sync")
	}
	return t, nil
}

// progress is how many tenants whose namespace starts with prefix have a status for their
// current generation, and when the last of them changed.
func (t *tracker) progress(prefix string) (done int, last time.Time) {
	done, _, last = t.span(prefix)
	return done, last
}

// span is progress with the time of the first status change too.
func (t *tracker) span(prefix string) (done int, first, last time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ns, s := range t.tenants {
		if !strings.HasPrefix(ns, prefix) {
			continue
		}
		if s.observed == s.generation {
			done++
		}
		if s.lastChange.After(last) {
			last = s.lastChange
		}
		if !s.lastChange.IsZero() && (first.IsZero() || s.lastChange.Before(first)) {
			first = s.lastChange
		}
	}
	return done, first, last
}

// waitObserved blocks until the tenant in ns has a status for generation, and returns when
// the watch saw it.
func (t *tracker) waitObserved(ctx context.Context, ns string, generation int64) (time.Time, error) {
	stop := context.AfterFunc(ctx, t.cond.Broadcast)
	defer stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if s := t.tenants[ns]; s.observed >= generation {
			return s.lastChange, nil
		}
		if ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("waiting for the status of %s/%s generation %d: %w", ns, tenantName, generation, ctx.Err())
		}
		t.cond.Wait()
	}
}

// waitVerified blocks until want tenants under prefix have their upstream's Verified
// condition at status.
func (t *tracker) waitVerified(ctx context.Context, prefix string, want int, status metav1.ConditionStatus) error {
	stop := context.AfterFunc(ctx, t.cond.Broadcast)
	defer stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		n := 0
		for ns, s := range t.tenants {
			if strings.HasPrefix(ns, prefix) && s.verified == status {
				n++
			}
		}
		if n >= want {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %d tenants to be Verified=%s (%d are): %w", want, status, n, ctx.Err())
		}
		t.cond.Wait()
	}
}

// waitVerifiedIs blocks until the tenant in ns has its upstream's Verified condition at
// status, and returns when the watch saw it change to that.
func (t *tracker) waitVerifiedIs(ctx context.Context, ns string, status metav1.ConditionStatus) (time.Time, error) {
	stop := context.AfterFunc(ctx, t.cond.Broadcast)
	defer stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if s := t.tenants[ns]; s.verified == status {
			return s.verifiedAt, nil
		}
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		t.cond.Wait()
	}
}

// settle waits until the manager is idle: every tenant under prefix (want of them) has a
// status for its generation, at least minReconciles reconciles finished, the work queue is
// empty and no reconcile finished for quiet.
func settle(ctx context.Context, m *managerProcess, t *tracker, prefix string, want int, minReconciles float64, quiet time.Duration) error {
	var last managerMetrics
	lastMove := time.Now()
	// P is read from the watch (the tracker), not from this tick: a scrape a second is
	// enough to see the manager settle, and at 10,000 TLS tenants (20,000 certificate
	// series) four a second took a third of the manager's CPU.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			done, _ := t.progress(prefix)
			return fmt.Errorf("waiting for the manager to settle (%d of %d tenants done, %.0f reconciles): %w", done, want, last.reconciles, ctx.Err())
		case err := <-m.exited:
			return fmt.Errorf("manager exited: %v", err)
		case <-tick.C:
		}
		mm, err := scrapeManager(ctx, m.metricsAddr)
		if err != nil {
			continue // not serving yet
		}
		if mm.reconciles != last.reconciles || mm.depth != 0 || mm.active != 0 {
			lastMove = time.Now()
		}
		last = mm
		done, _ := t.progress(prefix)
		if done >= want && mm.reconciles >= minReconciles && time.Since(lastMove) >= quiet {
			return nil
		}
	}
}
