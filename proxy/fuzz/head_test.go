package fuzz

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/internal/h1"
	"golang.org/x/net/http/httpguts"
)

// FuzzHeadParser holds the fast path's head reader and framing rules to net/http's server
// (http.ReadRequest and the server's own checks): a request the fast path would forward itself is one net/http reads the
// same way (method, target, version, Host, every field, where the body ends), and a head
// net/http reads is refused by the fast path only for the reasons docs/proxy.md lists
// ("Request framing"). Run by make fuzz.
func FuzzHeadParser(f *testing.F) {
	for _, raw := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /p?q HTTP/1.1\r\nHost: a:80\r\nContent-Length: 3\r\nX-A: 1\r\nx-a: 2\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nabcde",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\nConnection: close, X-B\n\n",
		"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: a\r\nX: \t v \t\r\n\r\n",
	} {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var h h1.Head
		err := h.Read(bufio.NewReader(bytes.NewReader(raw)))
		var fr h1.Framing
		if err == nil {
			fr, err = h1.CheckRequest(&h)
		}
		// The fast path ignores empty lines before the request line (RFC 9112 2.2); net/http's
		// server only after a POST.
		req, rerr := serverReads(skipEmptyLines(raw))
		switch {
		case err != nil && rerr == nil:
			if !deliberate(err) {
				t.Fatalf("the fast path refuses (%v) a head net/http reads:\n%q", err, raw)
			}
		case err == nil && fastPathTakes(&h, fr):
			if rerr != nil {
				t.Fatalf("the fast path takes a head net/http refuses (%v):\n%q", rerr, raw)
			}
			if d := differences(&h, fr, req); d != "" {
				t.Fatalf("the fast path reads a head differently from net/http: %s\n%q", d, raw)
			}
		}
	})
}

// serverReads reads a request head as net/http's server does: http.ReadRequest, then the
// checks its conn.readRequest adds (HTTP/1.x only, one valid Host for HTTP/1.1, field names
// and values valid).
func serverReads(raw []byte) (*http.Request, error) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, err
	}
	if req.ProtoMajor != 1 {
		return nil, errors.New("unsupported protocol version")
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))) // ReadRequest drops Host fields
	_, _ = tp.ReadLine()
	fields, _ := tp.ReadMIMEHeader()
	hosts, haveHost := fields["Host"]
	switch {
	case req.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && req.Method != "CONNECT":
		return nil, errors.New("missing required Host header")
	case len(hosts) > 1:
		return nil, errors.New("too many Host headers")
	case len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]):
		return nil, errors.New("malformed Host header")
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, errors.New("invalid header name")
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, errors.New("invalid header value")
			}
		}
	}
	return req, nil
}

// deliberate: the fast path refuses what net/http reads, on purpose (docs/proxy.md).
func deliberate(err error) bool {
	return errors.Is(err, h1.ErrObsFold) || errors.Is(err, h1.ErrTransferEncodingHTTP10) ||
		errors.Is(err, h1.ErrHeadTooLarge)
}

// fastPathTakes mirrors the proxy's choice of the requests it forwards itself (an HTTP/1.1
// request in origin form with one Host and a body of known length): those are the heads
// net/http never sees, so they must read the same.
func fastPathTakes(h *h1.Head, fr h1.Framing) bool {
	return string(h.First3) == "HTTP/1.1" && h1.ValidToken(h.First1) && h1.ValidTarget(h.First2) && h.NHost == 1 &&
		fr.Body != h1.BodyChunked
}

func differences(h *h1.Head, fr h1.Framing, req *http.Request) string {
	var d []string
	check := func(what, ours, theirs string) {
		if ours != theirs {
			d = append(d, what+": "+ours+" vs "+theirs)
		}
	}
	check("method", string(h.First1), req.Method)
	check("target", string(h.First2), req.RequestURI)
	check("version", string(h.First3), req.Proto)
	check("host", string(h.Get([]byte("Host"))), req.Host)
	ours := http.Header{}
	for _, f := range h.Fields {
		ours.Add(string(f.Name), string(f.Value))
	}
	cl := int64(0)
	if fr.Body == h1.BodyLength {
		cl = fr.Length
	}
	if req.ContentLength != cl || len(req.TransferEncoding) != 0 {
		d = append(d, "body framing")
	}
	for _, name := range []string{"Host", "Content-Length", "Transfer-Encoding"} {
		ours.Del(name)
		req.Header.Del(name)
	}
	keys := func(h http.Header) []string {
		var k []string
		for name := range h {
			k = append(k, textproto.CanonicalMIMEHeaderKey(name))
		}
		slices.Sort(k)
		return k
	}
	check("field names", strings.Join(keys(ours), ","), strings.Join(keys(req.Header), ","))
	for name, v := range ours {
		check(name, strings.Join(v, "\x00"), strings.Join(req.Header.Values(name), "\x00"))
	}
	return strings.Join(d, "; ")
}

func skipEmptyLines(b []byte) []byte {
	for {
		switch {
		case bytes.HasPrefix(b, []byte("\r\n")):
			b = b[2:]
		case bytes.HasPrefix(b, []byte("\n")):
			b = b[1:]
		default:
			return b
		}
	}
}
