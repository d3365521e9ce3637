// Package e2e runs the real proxy binary on loopback against real TLS servers.
package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/proxyrun"
	"github.com/gatewaytenant/gatewaytenant-operator/test/proxy/testutil"
)

var binary string // the proxy, built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "proxy-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if binary, err = proxyrun.Build(context.Background(), dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var eventually = testutil.Eventually

func must[T any](t testing.TB) func(T, error) T { return testutil.Must[T](t) }

// process is a running proxy binary.
type process struct {
	cmd      *exec.Cmd
	stderr   *testutil.SyncBuffer
	exited   chan struct{}
	exitCode int
	mu       sync.Mutex
	addrs    map[string]string // listener name ("admin" or upstream) -> address
}

var listeningLine = regexp.MustCompile(`msg=listening listener=(\S+) address=(\S+)`)

// startProcess runs the proxy on cfg and waits until every listener has reported its
// address (the configuration uses port 0).
func startProcess(t *testing.T, cfg string, listeners int) *process {
	t.Helper()
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &process{stderr: &testutil.SyncBuffer{}, exited: make(chan struct{}), addrs: map[string]string{}}
	p.cmd = exec.Command(binary, "--config", path, "--log-level", "debug")
	pipe := must[io.ReadCloser](t)(p.cmd.StderrPipe())
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.scan(pipe)
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("proxy stderr:\n%s", p.stderr.String())
		}
	})
	eventually(t, "the listeners", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.addrs) == listeners
	})
	return p
}

func (p *process) scan(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		_, _ = p.stderr.Write([]byte(line + "\n"))
		if m := listeningLine.FindStringSubmatch(line); m != nil {
			p.mu.Lock()
			p.addrs[m[1]] = m[2]
			p.mu.Unlock()
		}
	}
	err := p.cmd.Wait()
	p.exitCode = p.cmd.ProcessState.ExitCode()
	if err != nil && p.exitCode == 0 {
		p.exitCode = -1
	}
	close(p.exited)
}

func (p *process) url(listener, path string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "http://" + p.addrs[listener] + path
}

func (p *process) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// metric scrapes /metrics and returns the value of the series line starting with series
// (labels in Prometheus' sorted order), -1 when absent.
func (p *process) metric(t *testing.T, series string) float64 {
	t.Helper()
	code, body := get(t, p.url("admin", "/metrics"))
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return must[float64](t)(strconv.ParseFloat(rest, 64))
		}
	}
	return -1
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 2 * time.Minute}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	return resp.StatusCode, must[[]byte](t)(io.ReadAll(resp.Body))
}

// tlsUpstream is an HTTPS server on loopback offering h2 and HTTP/1.1.
func tlsUpstream(t *testing.T, cfg *tls.Config, h http.Handler) string {
	return testutil.TLSServer(t, cfg, h).Listener.Addr().String()
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	return must[string](t)(pki.WriteFile(dir, name, data))
}

// upstreamYAML is one upstreams entry; tlsExtra is indented under tls.
func upstreamYAML(name, addr, caFile, tlsExtra string) string {
	s := fmt.Sprintf(`- name: %s
  listen: "127.0.0.1:0"
  address: %q
  tls:
    caFiles: [%q]
    serverName: kong.example
`, name, addr, caFile)
	for line := range strings.SplitSeq(strings.TrimSpace(tlsExtra), "\n") {
		if line != "" {
			s += "    " + line + "\n"
		}
	}
	return s
}

func configYAML(drainDelay string, upstreams ...string) string {
	return fmt.Sprintf(`apiVersion: proxy.gatewaytenant.io/v1alpha1
kind: ProxyConfig
admin:
  address: "127.0.0.1:0"
shutdown:
  drainDelay: %s
  drainTimeout: 60s
upstreams:
%s`, drainDelay, strings.Join(upstreams, ""))
}
