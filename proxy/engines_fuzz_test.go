package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/internal/h1"
)

// FuzzEngines feeds the same raw request bytes to two proxies, one forwarding with the fast
// path where it can and one with net/http only (both behind the same framing rules), and
// compares the first request as the upstream received it (method, target, Host, fields,
// body, trailers: the upstream answers with what it parsed) and the first answer as the
// gateway got it (status; body, or the reason of the proxy's own answer). Run by make fuzz;
// docs/proxy.md says how to run it longer. Seeds: the framing table (framing_test.go).
func FuzzEngines(f *testing.F) {
	for _, tc := range framingCases {
		f.Add([]byte(tc.raw))
	}
	for _, raw := range []string{
		"GET /a?b=c HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-A: 1\r\nX-A: 2\r\nTe: trailers\r\n\r\n",
		"PUT /p HTTP/1.1\r\nHost: a\r\nConnection: X-Drop, close\r\nX-Drop: 1\r\nContent-Length: 2\r\n\r\nhi",
		"DELETE / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nX-Forwarded-Host: h\r\nX-Forwarded-Proto: https\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add([]byte(raw))
	}
	e := startEngines(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !wholeRequest(raw) {
			return // both engines would wait for the rest
		}
		fast, fastUp := e.exchange(t, e.fast, raw)
		slow, slowUp := e.exchange(t, e.slow, raw)
		if fast != slow {
			t.Fatalf("the gateway gets different answers:\nfast path: %s\nnet/http:  %s", fast, slow)
		}
		if fastUp != slowUp {
			t.Fatalf("the upstream receives different requests:\nfast path: %s\nnet/http:  %s", fastUp, slowUp)
		}
	})
}

type engines struct {
	fast, slow string // listen addresses
}

func startEngines(tb testing.TB) *engines {
	f := newFixture(tb)
	e := &engines{}
	up := startUpstream(tb, serverTLS(f.chain.Leaf), http.HandlerFunc(e.record))
	cfg := testConfig(up.Addr, f.files["root.crt"])
	quiet := WithLogger(slog.New(slog.DiscardHandler))
	e.fast = startProxy(tb, cfg, quiet).ListenAddr("echo").String()
	e.slow = startProxy(tb, cfg, quiet, func(o *options) { o.netHTTPOnly = true }).ListenAddr("echo").String()
	return e
}

// record answers with what the upstream parsed of the request, in a canonical form.
func (*engines) record(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var b strings.Builder
	// The target as the upstream understands it: net/http re-escapes a path that is not
	// escaped canonically (/a"b becomes /a%22b), the fast path passes it as it came.
	fmt.Fprintf(&b, "%s %s?%s host=%s body=%q err=%v", r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Host, body, err != nil)
	for _, h := range []http.Header{r.Header, r.Trailer} {
		keys := make([]string, 0, len(h))
		for k := range h {
			if k != "Content-Length" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%q", k, h[k])
		}
		b.WriteString(" |")
	}
	_, _ = io.WriteString(w, b.String())
}

// wholeRequest: raw holds a whole first request (head and body), or one the framing rules
// refuse, so that an answer comes without more bytes.
func wholeRequest(raw []byte) bool {
	br := bufio.NewReaderSize(bytes.NewReader(raw), 4<<10)
	var h h1.Head
	if err := h.Read(br); err != nil {
		return !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF)
	}
	fr, err := h1.CheckRequest(&h)
	rest, _ := io.ReadAll(br)
	switch {
	case err != nil:
		return true
	case fr.Body == h1.BodyLength:
		return int64(len(rest)) >= fr.Length
	case fr.Body == h1.BodyChunked:
		complete, err := h1.ScanChunked(rest)
		return complete || err != nil
	}
	return true
}

// exchange sends raw on a new connection and returns the first answer and what the
// upstream parsed of the first request ("" when the proxy answered itself).
func (*engines) exchange(t *testing.T, addr string, raw []byte) (answer, upstream string) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(time.Minute)) // a safety net, not a measurement
	go func() { _, _ = conn.Write(raw) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "no answer", ""
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Sprintf("%d, body broken off", resp.StatusCode), ""
	}
	var eb contract.ErrorBody
	if resp.Header.Get("Content-Type") == "application/json" && json.Unmarshal(body, &eb) == nil && eb.Reason != "" {
		return fmt.Sprintf("%d %s", resp.StatusCode, eb.Reason), ""
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("%d %q", resp.StatusCode, firstLine(body)), ""
	}
	return "200", string(body)
}

func firstLine(b []byte) []byte {
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	return line
}
