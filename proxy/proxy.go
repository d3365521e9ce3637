// Package proxy is the colocated proxy of gatewaytenant-operator: per upstream, one plain
// HTTP listener for the gateway and verified TLS (optionally mutual) to the upstream.
//
// Lifecycle: LoadConfig (or ParseConfig) -> New (validates, loads TLS material, binds the
// listeners) -> Serve (blocks; on context cancellation it drains) or Shutdown.
// See docs/proxy.md.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// Timeouts of the upstream side and of the listeners. Zero fields take the defaults.
type Timeouts struct {
	Dial           time.Duration // TCP connect to the upstream; default 5s
	TLSHandshake   time.Duration // upstream TLS handshake; default 10s
	ResponseHeader time.Duration // upstream response headers after the request; default 60s
	IdleConn       time.Duration // idle upstream connections are closed after; default 90s
	ReadHeader     time.Duration // request headers from the gateway; default 10s
}

// DefaultTimeouts are the timeouts used when none are given.
var DefaultTimeouts = Timeouts{
	Dial:           5 * time.Second,
	TLSHandshake:   10 * time.Second,
	ResponseHeader: 60 * time.Second,
	IdleConn:       90 * time.Second,
	ReadHeader:     10 * time.Second,
}

// idleTimeout closes keep-alive connections from the gateway that stay idle this long.
const idleTimeout = 2 * time.Minute

// DefaultReloadInterval is how often file contents are compared, as a safety net behind
// file system notifications and SIGHUP.
const DefaultReloadInterval = 30 * time.Second

type options struct {
	log            *slog.Logger
	clock          func() time.Time
	timeouts       Timeouts
	reloadInterval time.Duration
	fileWatch      bool
	netHTTPOnly    bool // every request through the net/http engine (the differential fuzzer)
}

// Option configures New.
type Option func(*options)

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock used to check certificate validity.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithTimeouts overrides the non-zero fields of DefaultTimeouts.
func WithTimeouts(t Timeouts) Option {
	return func(o *options) {
		for _, p := range []struct{ dst, src *time.Duration }{
			{&o.timeouts.Dial, &t.Dial}, {&o.timeouts.TLSHandshake, &t.TLSHandshake},
			{&o.timeouts.ResponseHeader, &t.ResponseHeader}, {&o.timeouts.IdleConn, &t.IdleConn},
			{&o.timeouts.ReadHeader, &t.ReadHeader},
		} {
			if *p.src > 0 {
				*p.dst = *p.src
			}
		}
	}
}

// WithReloadInterval sets the period of the content check; 0 turns it off.
func WithReloadInterval(d time.Duration) Option { return func(o *options) { o.reloadInterval = d } }

// WithFileWatch turns file system notifications on (the default) or off.
func WithFileWatch(on bool) Option { return func(o *options) { o.fileWatch = on } }

// Proxy serves every upstream of a Config and the admin endpoints.
type Proxy struct {
	cfg       *contract.Config
	opts      options
	log       *slog.Logger
	metrics   *metrics
	upstreams []*upstream
	servers   []*frontend // one per upstream, same order
	listeners []net.Listener
	admin     *http.Server
	adminLn   net.Listener

	reloadCh chan struct{}
	serving  atomic.Bool
	draining atomic.Bool

	shutdownOnce sync.Once
	shutdownErr  error
	done         chan struct{} // closed when Shutdown has finished
	watchCtx     context.Context
	stopWatch    context.CancelFunc
}

// New validates cfg (it is not modified), loads the TLS material and binds every listener.
// Material that does not load yet leaves its upstream not ready (and failing closed) until
// a reload succeeds; use Check to refuse such a configuration up front.
func New(cfg *contract.Config, opts ...Option) (*Proxy, error) {
	if cfg == nil {
		return nil, errors.New("proxy: nil configuration")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.Clone()
	c.ApplyDefaults()
	o := options{
		log:            slog.New(slog.DiscardHandler),
		clock:          time.Now,
		timeouts:       DefaultTimeouts,
		reloadInterval: DefaultReloadInterval,
		fileWatch:      true,
	}
	for _, opt := range opts {
		opt(&o)
	}
	p := &Proxy{cfg: c, opts: o, log: o.log, metrics: newMetrics(), reloadCh: make(chan struct{}, 1),
		done: make(chan struct{})}
	p.watchCtx, p.stopWatch = context.WithCancel(context.Background())
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		p.metrics.initUpstream(u.Name, u.TLS.ClientCertificate != nil)
		mat := newMaterial(u, o.log, p.metrics)
		mat.reload(o.clock())
		ups := newUpstream(u, mat, o.clock, o.timeouts, o.log, p.metrics)
		ups.accessLog = c.AccessLog
		p.upstreams = append(p.upstreams, ups)
		fe := newFrontend(ups, p.newServer(ups), o.timeouts.ReadHeader, idleTimeout)
		fe.netHTTPOnly = o.netHTTPOnly
		p.servers = append(p.servers, fe)
	}
	p.admin = p.newServer(p.adminHandler())
	if err := p.listen(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Proxy) newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: p.opts.timeouts.ReadHeader,
		IdleTimeout:       idleTimeout,
		ErrorLog:          plainLog(p.log),
	}
}

// listen binds the admin and upstream listeners, or none of them.
func (p *Proxy) listen() error {
	var err error
	if p.adminLn, err = net.Listen("tcp", p.cfg.Admin.Address); err != nil {
		return fmt.Errorf("admin.address: %w", err)
	}
	for i, u := range p.cfg.Upstreams {
		ln, err := net.Listen("tcp", u.Listen)
		if err != nil {
			p.closeListeners()
			return fmt.Errorf("upstreams[%d].listen: %w", i, err)
		}
		p.listeners = append(p.listeners, &closeOnceListener{Listener: ln})
	}
	return nil
}

// closeOnceListener can be closed by the drain before http.Server.Shutdown closes it again.
type closeOnceListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *closeOnceListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

func (p *Proxy) closeListeners() {
	if p.adminLn != nil {
		_ = p.adminLn.Close()
	}
	for _, ln := range p.listeners {
		_ = ln.Close()
	}
}

// AdminAddr is the bound address of the admin listener (useful with port 0).
func (p *Proxy) AdminAddr() net.Addr { return p.adminLn.Addr() }

// ListenAddr is the bound address of an upstream's listener, nil for an unknown name.
func (p *Proxy) ListenAddr(upstream string) net.Addr {
	for i, u := range p.upstreams {
		if u.name == upstream {
			return p.listeners[i].Addr()
		}
	}
	return nil
}

// Serve serves until ctx is cancelled, then drains as configured (see Shutdown) and
// returns. It also returns once Shutdown has finished, or early if a listener fails.
func (p *Proxy) Serve(ctx context.Context) error {
	if !p.serving.CompareAndSwap(false, true) {
		return errors.New("proxy: Serve called twice")
	}
	go p.watch(p.watchCtx)
	go p.runChecks(p.watchCtx)
	errc := make(chan error, len(p.servers)+1)
	serve := func(name string, s interface{ Serve(net.Listener) error }, ln net.Listener) {
		p.log.Info(contract.LogListening, contract.LogKeyListener, name, contract.LogKeyAddress, ln.Addr().String())
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !p.draining.Load() {
			errc <- fmt.Errorf("%s listener: %w", name, err)
		}
	}
	go serve(contract.AdminListener, p.admin, p.adminLn)
	for i, s := range p.servers {
		go serve(p.upstreams[i].name, s, p.listeners[i])
	}
	select {
	case <-ctx.Done():
		return p.Shutdown(context.Background())
	case <-p.done:
		return p.shutdownErr
	case err := <-errc:
		p.log.Error("listener failed, shutting down", "error", err)
		_ = p.Shutdown(context.Background())
		return err
	}
}

// Shutdown drains: readiness turns false at once, the listeners keep accepting for
// shutdown.drainDelay (callers notice and stop sending), then stop accepting, and requests
// in flight get shutdown.drainTimeout to finish before their connections are closed. ctx
// can cut both waits short. Calling it again returns the first call's result.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() {
		defer close(p.done)
		p.shutdownErr = p.drain(ctx)
	})
	<-p.done
	return p.shutdownErr
}

func (p *Proxy) drain(ctx context.Context) error {
	p.draining.Store(true)
	delay, timeout := p.cfg.Shutdown.DrainDelay.Duration, p.cfg.Shutdown.DrainTimeout.Duration
	p.log.Info("draining: not ready; still accepting for the drain delay", "drainDelay", delay, "drainTimeout", timeout)
	if p.serving.Load() {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	for _, ln := range p.listeners {
		_ = ln.Close()
	}
	p.log.Info("draining: stopped accepting; waiting for requests in flight")
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errs := make([]error, len(p.servers))
	var wg sync.WaitGroup
	for i, s := range p.servers {
		wg.Go(func() {
			if err := s.Shutdown(dctx); err != nil {
				_ = s.Close()
				errs[i] = fmt.Errorf("upstream %s: requests still in flight after the drain timeout were cut: %w",
					p.upstreams[i].name, err)
			}
		})
	}
	wg.Wait()
	p.stopWatch()
	for _, u := range p.upstreams {
		u.closeIdleConnections()
	}
	_ = p.admin.Close()
	p.closeListeners() // for a Proxy that never served
	err := errors.Join(errs...)
	if err != nil {
		p.log.Error("drain incomplete", "error", err)
	} else {
		p.log.Info("drained")
	}
	return err
}

// Reload asks for the CA bundles and client certificates to be read again (what SIGHUP
// does). It does not wait; the reload metrics and logs tell the outcome.
func (p *Proxy) Reload() {
	select {
	case p.reloadCh <- struct{}{}:
	default: // one is already pending
	}
}

// reloadAll reads every upstream's files and retires the connections of those that changed.
func (p *Proxy) reloadAll() {
	now := p.opts.clock()
	for _, u := range p.upstreams {
		if u.material.reload(now) {
			u.retireConnections()
		}
	}
}
