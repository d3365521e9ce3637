package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopTimeout bounds how long a stopped proxy gets to drain before it is killed.
const stopTimeout = time.Minute

// localProxy is one run of the real proxy binary.
type localProxy struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited is closed

	mu        sync.Mutex
	listeners map[string]string // listener name ("admin" or an upstream) -> bound address
	tail      []string          // last log lines, for error messages
}

// startProxy runs `bin --config config` with its log appended to logFile. The process gets its
// own process group, so that a Ctrl-C in the terminal reaches the demo, which stops it.
func startProxy(bin, config string, logFile io.Writer) (*localProxy, error) {
	p := &localProxy{listeners: map[string]string{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "--config", config)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	lines := &lineWriter{fn: func(l string) {
		fmt.Fprintln(logFile, l)
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

// observe records the address of every listener the proxy logs as bound
// ("msg=listening listener=<name> address=<host:port>") and keeps the last lines.
func (p *localProxy) observe(line string) {
	fields := logfmt(line)
	p.mu.Lock()
	defer p.mu.Unlock()
	if fields["msg"] == "listening" && fields["listener"] != "" {
		p.listeners[fields["listener"]] = fields["address"]
	}
	p.tail = append(p.tail, line)
	if len(p.tail) > 20 {
		p.tail = p.tail[1:]
	}
}

// logfmt splits a log/slog text line into its key=value fields.
func logfmt(line string) map[string]string {
	out := map[string]string{}
	for rest := strings.TrimSpace(line); rest != ""; rest = strings.TrimSpace(rest) {
		key, after, ok := strings.Cut(rest, "=")
		if !ok || strings.Contains(key, " ") {
			return out
		}
		var val string
		if strings.HasPrefix(after, `"`) {
			q, err := strconv.QuotedPrefix(after)
			if err != nil {
				return out
			}
			val, _ = strconv.Unquote(q)
			rest = after[len(q):]
		} else {
			val, rest, _ = strings.Cut(after, " ")
		}
		out[key] = val
	}
	return out
}

// logTail is the proxy's last log lines, for error messages.
func (p *localProxy) logTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// addr is the bound address of a listener, "" until the proxy logged it.
func (p *localProxy) addr(listener string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.listeners[listener]
}

// running reports an error when the process has exited.
func (p *localProxy) running() error {
	select {
	case <-p.exited:
		return fmt.Errorf("the proxy exited (%v); its last log lines:\n%s", p.err, p.logTail())
	default:
		return nil
	}
}

// stop sends SIGTERM, which drains, and waits; a proxy that does not exit in time is killed.
func (p *localProxy) stop() error {
	if p == nil || p.running() != nil {
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

// Response is what came back through the proxy.
type Response struct {
	Status      int
	ContentType string
	Body        string
	// Failure is the decoded JSON body of an answer the proxy gave itself (502, 504).
	Failure *ProxyFailure
}

// ProxyFailure is the JSON body of the proxy's own failure answers (docs/proxy.md).
type ProxyFailure struct {
	Message   string `json:"message"`
	Reason    string `json:"reason"`
	Upstream  string `json:"upstream"`
	RequestID string `json:"request_id"`
}

// httpClient opens a new connection per request: proxies come and go between requests.
var httpClient = &http.Client{
	Timeout:   90 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// get sends GET url with an X-Request-Id and reads the whole answer.
func get(ctx context.Context, url, requestID string) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Response{}, err
	}
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	r := Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(body)}
	if resp.StatusCode >= 500 && strings.HasPrefix(r.ContentType, "application/json") {
		f := &ProxyFailure{}
		if err := json.Unmarshal(body, f); err != nil {
			return r, fmt.Errorf("the proxy's %d answer is not its JSON body: %w", resp.StatusCode, err)
		}
		r.Failure = f
	}
	return r, nil
}

// readiness is the part of the proxy's /readyz body the story shows.
type readiness struct {
	Ready     bool `json:"ready"`
	Upstreams map[string]struct {
		Ready      bool     `json:"ready"`
		CA         string   `json:"ca"`
		Errors     []string `json:"errors"`
		LastResult string   `json:"lastResult"`
	} `json:"upstreams"`
}

// readyz reads the proxy's /readyz; an error when it does not answer.
func readyz(ctx context.Context, adminAddr string) (int, readiness, error) {
	resp, err := get(ctx, "http://"+adminAddr+"/readyz", "")
	if err != nil {
		return 0, readiness{}, err
	}
	var r readiness
	if err := json.Unmarshal([]byte(resp.Body), &r); err != nil {
		return resp.Status, r, fmt.Errorf("/readyz answered %d with %q: %w", resp.Status, resp.Body, err)
	}
	return resp.Status, r, nil
}

// runCheck runs `bin --config config --check` and returns its output.
func runCheck(ctx context.Context, bin, config string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "--config", config, "--check").CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), fmt.Errorf("proxy --check refused the configuration (%v):\n%s", err, out)
	}
	return string(out), err
}
