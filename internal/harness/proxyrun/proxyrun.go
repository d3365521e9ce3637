// Package proxyrun builds the proxy binary of this checkout and runs it on loopback, as the
// tests and the demo do: it learns the listeners' addresses from the proxy's own log line
// (contract.ParseListening), reads /readyz into contract.ReadyStatus and the proxy's failure
// answers into contract.ErrorBody, and stops it with SIGTERM, which drains.
package proxyrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// stopTimeout bounds how long a stopped proxy gets to drain before it is killed.
const stopTimeout = time.Minute

// Build builds cmd/proxy of this checkout into dir, as `make build` does, and returns the
// binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "proxy")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/proxy")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building cmd/proxy: %w\n%s", err, out)
	}
	return bin, nil
}

// Check runs `bin --config config --check` and returns its output; an error when the proxy
// refuses the configuration.
func Check(ctx context.Context, bin, config string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "--config", config, "--check").CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), fmt.Errorf("proxy --check refused the configuration (%v):\n%s", err, out)
	}
	return string(out), err
}

// Process is one run of the proxy binary.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited is closed

	mu        sync.Mutex
	listeners map[string]string // listener name (contract.AdminListener or an upstream) -> address
	tail      []string          // last log lines, for error messages
}

// Start runs `bin --config config [args...]` with its log copied to log (when not nil). The
// process gets its own process group, so that a Ctrl-C in the terminal reaches the caller,
// which stops it.
func Start(bin, config string, log io.Writer, args ...string) (*Process, error) {
	p := &Process{listeners: map[string]string{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"--config", config}, args...)...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	lines := &lineWriter{fn: func(l string) {
		if log != nil {
			fmt.Fprintln(log, l)
		}
		p.observe(l)
	}}
	p.cmd.Stdout, p.cmd.Stderr = lines, lines
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *Process) observe(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := contract.ParseListening(line); ok {
		p.listeners[l.Listener] = l.Address
	}
	p.tail = append(p.tail, line)
	if len(p.tail) > 20 {
		p.tail = p.tail[1:]
	}
}

// Addr is the bound address of a listener (contract.AdminListener or an upstream's name), ""
// until the proxy logged it.
func (p *Process) Addr(listener string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.listeners[listener]
}

// URL is http://<address of listener><path>.
func (p *Process) URL(listener, path string) string { return "http://" + p.Addr(listener) + path }

// LogTail is the proxy's last log lines, for error messages.
func (p *Process) LogTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// Exited is nil while the process runs, and says how it ended once it has.
func (p *Process) Exited() error {
	select {
	case <-p.exited:
		return fmt.Errorf("the proxy exited (%v); its last log lines:\n%s", p.err, p.LogTail())
	default:
		return nil
	}
}

// WaitReady waits, up to timeout, until the proxy has logged the address of the admin
// listener and of every listener named, and its /readyz answers 200; it returns that answer.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration, listeners ...string) (contract.ReadyStatus, error) {
	var last contract.ReadyStatus
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := p.Exited(); err != nil {
			return false, err
		}
		for _, l := range append([]string{contract.AdminListener}, listeners...) {
			if p.Addr(l) == "" {
				return false, nil
			}
		}
		code, st, err := p.Ready(ctx)
		last = st
		return err == nil && code == http.StatusOK, nil
	})
	if err != nil {
		return last, fmt.Errorf("waiting for the proxy's /readyz: %w; last answer %+v; its log:\n%s", err, last, p.LogTail())
	}
	return last, nil
}

// Ready reads the proxy's /readyz: its status code and body.
func (p *Process) Ready(ctx context.Context) (int, contract.ReadyStatus, error) {
	var st contract.ReadyStatus
	resp, err := Get(ctx, p.URL(contract.AdminListener, "/readyz"), "")
	if err != nil {
		return 0, st, err
	}
	if err := json.Unmarshal([]byte(resp.Body), &st); err != nil {
		return resp.Status, st, fmt.Errorf("/readyz answered %d with %q: %w", resp.Status, resp.Body, err)
	}
	return resp.Status, st, nil
}

// Stop sends SIGTERM, which drains, and waits; a proxy that does not exit within a minute is
// killed. Stopping a stopped proxy does nothing.
func (p *Process) Stop() error {
	if p == nil || p.Exited() != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("the proxy did not stop within %s after SIGTERM and was killed", stopTimeout)
	}
}

// lineWriter calls fn with every complete line written to it.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(string)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		w.fn(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}
