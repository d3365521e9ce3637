package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// Request framing (RFC 9112 sections 6.1-6.3 and 7.1), tried with raw bytes against the real
// proxy in front of a TLS upstream that records exactly the bytes it receives. The table
// says, for each request, what the gateway gets back, whether its connection is closed,
// and what reaches the upstream. docs/proxy.md ("Request framing") lists the same rules.

// recordingUpstream is a TLS HTTP/1.1 server that keeps every decrypted byte it reads. It
// answers "<method> <path> <body>" (body read whole) and the trailers it saw, if any.
type recordingUpstream struct {
	Addr string
	mu   sync.Mutex
	got  bytes.Buffer
}

func (u *recordingUpstream) received() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got.String()
}

func (u *recordingUpstream) reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.got.Reset()
}

type recordingConn struct {
	net.Conn
	u *recordingUpstream
}

func (c recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.u.mu.Lock()
	c.u.got.Write(p[:n])
	c.u.mu.Unlock()
	return n, err
}

type recordingListener struct {
	net.Listener
	cfg *tls.Config
	u   *recordingUpstream
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return recordingConn{Conn: tls.Server(c, l.cfg), u: l.u}, nil
}

func startRecordingUpstream(t testing.TB, cfg *tls.Config) *recordingUpstream {
	t.Helper()
	ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	u := &recordingUpstream{Addr: ln.Addr().String()}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "upstream: "+err.Error(), http.StatusBadRequest)
				return
			}
			_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+string(body))
			for k, v := range r.Trailer {
				_, _ = io.WriteString(w, " trailer "+k+"="+strings.Join(v, ","))
			}
		}),
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
	}
	go func() { _ = srv.Serve(recordingListener{Listener: ln, cfg: cfg, u: u}) }()
	t.Cleanup(func() { _ = srv.Close() })
	return u
}

// exchangeRaw writes raw to a new connection to addr, reads n answers, and tells whether
// the proxy then closed the connection; when it did not, a further GET proves it open.
func exchangeRaw(t *testing.T, addr, raw string, n int) (answers []*http.Response, bodies []string, closed bool) {
	t.Helper()
	conn := must[net.Conn](t)(net.Dial("tcp", addr))
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(time.Minute)) // a safety net, not a measurement
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading answer %d of %d: %v", len(answers)+1, n, err)
		}
		b, _ := io.ReadAll(resp.Body)
		answers, bodies = append(answers, resp), append(bodies, string(b))
	}
	if answers[n-1].Close {
		_, err := br.ReadByte()
		if !errors.Is(err, io.EOF) {
			t.Fatalf("the answer says Connection: close, but the connection is not closed: %v", err)
		}
		return answers, bodies, true
	}
	// Not announced as closing: it must carry another request.
	if _, err := io.WriteString(conn, "GET /probe HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		return answers, bodies, true
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return answers, bodies, true
	}
	_, _ = io.ReadAll(resp.Body)
	return answers, bodies, false
}

// Upstream heads as each engine writes them; ADDR is the upstream's address.
const (
	fastHead  = "POST / HTTP/1.1\r\nHost: ADDR\r\n"
	fastXF    = "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Host: a\r\nX-Forwarded-Proto: http\r\n"
	chunkHead = "POST / HTTP/1.1\r\nHost: ADDR\r\nTransfer-Encoding: chunked\r\n" + fastXF + "\r\n"
)

type framingCase struct {
	name   string
	raw    string
	codes  []int           // answers, in order
	reason contract.Reason // of a refusal (the last answer)
	closed bool
	// upstream is exactly what the upstream receives; "" for nothing.
	upstream string
}

var framingCases = []framingCase{
	{name: "Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		codes: []int{200}, upstream: fastHead + fastXF + "Content-Length: 3\r\n\r\nabc"},
	{name: "same Content-Length twice is one", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		codes: []int{200}, upstream: fastHead + fastXF + "Content-Length: 3\r\n\r\nabc"},
	{name: "two different Content-Lengths", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		codes: []int{400}, reason: contract.ReasonBadRequest, closed: true},
	{name: "Content-Length list of one value", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nabcde",
		codes: []int{400}, reason: contract.ReasonBadRequest, closed: true},
	{name: "Content-Length list of two values", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nabcdef",
		codes: []int{400}, reason: contract.ReasonBadRequest, closed: true},
	{name: "negative Content-Length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
		codes: []int{400}, reason: contract.ReasonBadRequest, closed: true},
	{name: "CL+TE: chunked wins, connection closed", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		codes: []int{200}, closed: true, upstream: chunkHead + "3\r\nabc\r\n0\r\n\r\n"},
	{name: "TE+CL: chunked wins, connection closed", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		codes: []int{200}, closed: true, upstream: chunkHead + "3\r\nabc\r\n0\r\n\r\n"},
	{name: "CL+TE with a request smuggled after the chunked body",
		raw:   "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		codes: []int{200}, closed: true, upstream: chunkHead + "0\r\n\r\n"},
	{name: "chunked", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		codes: []int{200}, closed: true, upstream: chunkHead + "3\r\nabc\r\n0\r\n\r\n"},
	{name: "chunked, identity", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		codes: []int{501}, reason: contract.ReasonUnsupportedTransferCoding, closed: true},
	{name: "unknown coding", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc",
		codes: []int{501}, reason: contract.ReasonUnsupportedTransferCoding, closed: true},
	{name: "two Transfer-Encoding fields", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		codes: []int{501}, reason: contract.ReasonUnsupportedTransferCoding, closed: true},
	{name: "obs-fold", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
		codes: []int{400}, reason: contract.ReasonBadRequest, closed: true},
	{name: "obs-folded Transfer-Encoding", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		codes: []int{400}, reason: contract.ReasonBadRequest, closed: true},
	{name: "bare LF line ends", raw: "GET / HTTP/1.1\nHost: a\n\n",
		codes: []int{200}, upstream: "GET / HTTP/1.1\r\nHost: ADDR\r\n" + fastXF + "\r\n"},
	{name: "HTTP/1.0 with Transfer-Encoding", raw: "POST / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
		codes: []int{400}, reason: contract.ReasonBadRequest, closed: true},
	{name: "chunk-size overflow", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n0\r\n\r\n",
		codes: []int{400}, reason: contract.ReasonMalformedChunkedBody, closed: true},
	{name: "chunk extension", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\n\r\n",
		codes: []int{200}, closed: true, upstream: chunkHead + "3\r\nabc\r\n0\r\n\r\n"},
	{name: "chunk extension ending in bare LF", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\nabc\r\n0\r\n\r\n",
		codes: []int{400}, reason: contract.ReasonMalformedChunkedBody, closed: true},
	{name: "chunk data not ended by CRLF", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
		codes: []int{400}, reason: contract.ReasonMalformedChunkedBody, closed: true},
	{name: "announced trailer", raw: "POST / HTTP/1.1\r\nHost: a\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
		codes: []int{200}, closed: true,
		upstream: "POST / HTTP/1.1\r\nHost: ADDR\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n" + fastXF + "\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"},
	{name: "pipelined after a body", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /two HTTP/1.1\r\nHost: a\r\n\r\n",
		codes: []int{200, 200}, upstream: fastHead + fastXF + "Content-Length: 3\r\n\r\nabc" +
			"GET /two HTTP/1.1\r\nHost: ADDR\r\n" + fastXF + "\r\n"},
	{name: "pipelined after a chunked body: not read", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n",
		codes: []int{200}, closed: true, upstream: chunkHead + "0\r\n\r\n"},
}

func TestRequestFraming(t *testing.T) {
	f := newFixture(t)
	up := startRecordingUpstream(t, serverTLS(f.chain.Leaf))
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	addr := p.ListenAddr("echo").String()
	for _, tc := range framingCases {
		t.Run(tc.name, func(t *testing.T) {
			up.reset()
			for _, u := range p.upstreams {
				u.closeIdleConnections() // each case starts on a new upstream connection
			}
			answers, bodies, closed := exchangeRaw(t, addr, tc.raw, len(tc.codes))
			got := up.received()
			if !closed {
				got = strings.TrimSuffix(got, "GET /probe HTTP/1.1\r\nHost: "+up.Addr+"\r\n"+fastXF+"\r\n")
			}
			for i, resp := range answers {
				if resp.StatusCode != tc.codes[i] {
					t.Errorf("answer %d: %d %q, want %d", i+1, resp.StatusCode, bodies[i], tc.codes[i])
				}
			}
			if tc.reason != "" {
				var eb contract.ErrorBody
				if err := json.Unmarshal([]byte(bodies[len(bodies)-1]), &eb); err != nil || eb.Reason != tc.reason {
					t.Errorf("refusal body %q, want reason %q", bodies[len(bodies)-1], tc.reason)
				}
			}
			if closed != tc.closed {
				t.Errorf("connection closed: %v, want %v", closed, tc.closed)
			}
			if want := strings.ReplaceAll(tc.upstream, "ADDR", up.Addr); got != want {
				t.Errorf("the upstream received\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestClientErrorsAreTheGatewaysFault: refused requests are counted as client errors by
// reason, never as upstream failures, and leave the upstream's verification state alone;
// that includes a chunked body that turns out malformed after the proxy started
// forwarding it (the net/http engine finds it), which used to be a 502 upstream_error.
func TestClientErrorsAreTheGatewaysFault(t *testing.T) {
	f := newFixture(t)
	up := startRecordingUpstream(t, serverTLS(f.chain.Leaf))
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	addr := p.ListenAddr("echo").String()
	if code, _ := get(t, p.url("echo", "/")); code != 200 {
		t.Fatalf("a plain GET got %d", code)
	}
	for _, tc := range framingCases {
		if tc.reason != "" {
			exchangeRaw(t, addr, tc.raw, len(tc.codes))
		}
	}

	// A malformed chunk sent after the first one has been forwarded.
	conn := must[net.Conn](t)(net.Dial("tcp", addr))
	defer func() { _ = conn.Close() }()
	_, _ = io.WriteString(conn, "POST /late HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
	eventually(t, "the first chunk reaches the upstream", func() bool { return strings.Contains(up.received(), "abc") })
	_, _ = io.WriteString(conn, "zz\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if eb := decodeErrorBody(t, body); resp.StatusCode != 400 || eb.Reason != contract.ReasonMalformedChunkedBody {
		t.Errorf("a late malformed chunk got %d %s, want 400 %s", resp.StatusCode, body, contract.ReasonMalformedChunkedBody)
	}

	want := map[contract.Reason]float64{contract.ReasonIncompleteRequestBody: 0}
	for _, tc := range framingCases {
		if tc.reason != "" {
			want[tc.reason]++
		}
	}
	want[contract.ReasonMalformedChunkedBody]++
	for _, r := range contract.ClientErrorReasons {
		if got := metricValue(t, p.metrics.clientErrors.WithLabelValues("echo", string(r))); got != want[r] {
			t.Errorf("client_errors_total{reason=%s} = %v, want %v", r, got, want[r])
		}
	}
	for _, r := range contract.HandshakeFailureReasons {
		if n := p.failures(t, "echo", r); n != 0 {
			t.Errorf("handshake failures{reason=%s} = %v, want 0", r, n)
		}
	}
	if st := p.fetchState(t, "echo"); st.Result != contract.ResultOK || st.ConsecutiveFailures != 0 {
		t.Errorf("state after client errors: %s (%d failures), want ok", st.Result, st.ConsecutiveFailures)
	}
	if got := p.requests(t, "echo", "502"); got != 0 {
		t.Errorf("%v requests answered 502", got)
	}
}
