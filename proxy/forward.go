package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/internal/h1"
)

// The fast path's exchange: forward one request on the gateway connection's goroutine to
// a pooled HTTP/1.1 upstream connection and relay the answer. It keeps the behaviour of
// the net/http engine: Host rewrite, X-Forwarded-*, hop-by-hop headers, streaming bodies
// (flushed whenever the upstream has nothing more buffered, so event streams are not held
// back), trailers, and the engine policy (policy.go) for error answers, metrics and logs.

// serveRequest reads, checks and forwards one request. keep: the connection may carry
// another; handedOff: it now belongs to net/http.
func (fc *frontConn) serveRequest() (keep, handedOff bool) {
	start := time.Now()
	if err := fc.req.Read(fc.br); err != nil {
		if reason := headFault(err); reason != "" {
			fc.refuse(clientError(reason, err), start)
		}
		return false, false // refused, closed, or too slow
	}
	fr, pe := fc.framing()
	if pe != nil {
		fc.refuse(pe, start)
		return false, false
	}
	if !fc.fastPathFits(fr) {
		fc.handOff()
		return false, true
	}
	if fr.Length > int64(fc.received()) {
		_ = fc.c.SetReadDeadline(time.Time{}) // bodies may take their time, as with net/http
	}
	x := exchange{fc: fc, u: fc.f.u, pool: fc.f.u.transports.Load().fast, bodyLeft: fr.Length}
	x.run()
	took := time.Since(start)
	x.finish(took) // before the answer's last bytes leave: counted when it is seen
	if fc.bw.Flush() != nil {
		x.keepClient = false
	}
	return x.keepClient, false
}

// headFault is the reason of a refused request head; "" when the connection closed or
// timed out before a whole head arrived (nothing to answer).
func headFault(err error) contract.Reason {
	switch {
	case errors.Is(err, h1.ErrHeadTooLarge):
		return contract.ReasonRequestHeaderTooLarge
	case errors.Is(err, h1.ErrMalformed), errors.Is(err, h1.ErrObsFold), errors.Is(err, h1.ErrBadLength):
		return contract.ReasonBadRequest
	}
	return ""
}

// framing applies the Host and framing rules (h1.CheckRequest) to the request just read, and
// checks the part of a chunked body already received, so that a malformed one is refused
// before anything of it is forwarded.
func (fc *frontConn) framing() (h1.Framing, *proxyError) {
	r := &fc.req
	fr, err := h1.CheckRequest(r)
	switch {
	case errors.Is(err, h1.ErrUnsupportedCoding):
		return fr, clientError(contract.ReasonUnsupportedTransferCoding, err)
	case err != nil:
		return fr, clientError(contract.ReasonBadRequest, err)
	case fr.Body == h1.BodyChunked:
		received, _ := fc.br.Peek(fc.br.Buffered())
		if fc.firstOff < fc.firstLen { // not yet pulled into the reader
			received = append(bytes.Clone(received), fc.first[fc.firstOff:fc.firstLen]...)
		}
		if _, err := h1.ScanChunked(received); err != nil {
			return fr, clientError(contract.ReasonMalformedChunkedBody, err)
		}
	}
	return fr, nil
}

// refuse answers a request refused for the gateway's fault and closes the connection:
// what follows the fault on it cannot be framed.
func (fc *frontConn) refuse(pe *proxyError, start time.Time) {
	u := fc.f.u
	reqID := requestID(func(name string) string { return string(fc.req.Get([]byte(name))) })
	writeErrorAnswer(fc, pe, u.errorAnswer(pe, reqID), false)
	u.finish(string(fc.req.First1), string(pathOf(fc.req.First2)), pe.status, pe.reason,
		string(fc.req.Get(hXRequestID)), 0, time.Since(start))
	_ = fc.bw.Flush()
}

// maxFastBody: larger request bodies go through net/http, whose Transport reads the answer
// while it sends, so an upstream answering early (401, 413) is heard; a body this small is
// in the socket buffers before the upstream could answer.
const maxFastBody = 64 << 10

// fastPathFits: an HTTP/1.1 request in origin form with a body (if any) of a known length
// up to maxFastBody, no protocol upgrade and no Expect. The rest goes to net/http.
func (fc *frontConn) fastPathFits(fr h1.Framing) bool {
	r := &fc.req
	return !fc.f.netHTTPOnly && bytes.Equal(r.First3, []byte("HTTP/1.1")) && h1.ValidToken(r.First1) && h1.ValidTarget(r.First2) &&
		fr.Body != h1.BodyChunked && !r.Upgrade && !r.Expect && fr.Length <= maxFastBody &&
		!bytes.Equal(r.First1, []byte("CONNECT"))
}

// exchange is one request on the fast path.
type exchange struct {
	fc         *frontConn
	u          *upstream
	pool       *h1.Pool
	bodyLeft   int64 // request body bytes not yet read from the gateway
	code       int
	reason     contract.Reason
	relay      h1.Relay
	keepClient bool
}

// run forwards the request and relays the answer, or answers it with an error.
func (x *exchange) run() {
	for attempt := 0; ; attempt++ {
		uc, reused, err := x.u.poolConn(x.pool)
		if err != nil {
			x.answerError(err)
			return
		}
		if reused && !x.replayable() && !upstreamConnOf(uc).alive() {
			uc.Close()
			uc, err = x.u.poolDial(x.pool)
			if err != nil {
				x.answerError(err)
				return
			}
		}
		err, clientErr := x.send(uc)
		if clientErr {
			uc.Close()
			// The gateway's body broke off: nobody reads an answer.
			x.code, x.reason, x.keepClient = http.StatusBadRequest, contract.ReasonIncompleteRequestBody, false
			return
		}
		if err == nil {
			err = x.readHead(uc)
		}
		if err != nil {
			uc.Close()
			if reused && attempt == 0 && x.replayable() && closedBeforeAnswer(err) {
				continue // a pooled connection the upstream had closed: once more on a new one
			}
			x.answerError(x.u.exchangeError(err, upstreamConnOf(uc).facts()))
			return
		}
		x.u.recordSuccess()
		x.relayAnswer(uc)
		return
	}
}

// closedBeforeAnswer: the upstream closed the connection without a byte of an answer, as
// it does with an idle connection it no longer wants.
func closedBeforeAnswer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// replayable: the request can be sent again on another connection (no body, idempotent).
func (x *exchange) replayable() bool {
	if x.fc.req.ContentLength > 0 {
		return false
	}
	switch string(x.fc.req.First1) { // no allocation: compared in place
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return x.fc.req.Get([]byte("Idempotency-Key")) != nil
}

// send writes the request head and body to the upstream. clientErr: reading the body from
// the gateway failed.
func (x *exchange) send(uc *h1.Conn) (err error, clientErr bool) {
	r, w := &x.fc.req, uc.Bw
	w.Write(r.First1)
	w.WriteByte(' ')
	w.Write(r.First2)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(x.u.target.Host)
	w.WriteString("\r\n")
	var host []byte
	xfh, xfp := false, false
	var xff [][]byte
	for _, f := range r.Fields {
		switch {
		case bytes.EqualFold(f.Name, hHost):
			host = f.Value
			continue
		case bytes.EqualFold(f.Name, hContentLength):
			continue // written once below
		case bytes.EqualFold(f.Name, hXForwardedFor):
			xff = append(xff, f.Value)
			continue
		case bytes.EqualFold(f.Name, hTe):
			if bytes.EqualFold(f.Value, []byte("trailers")) {
				w.WriteString("Te: trailers\r\n")
			}
			continue
		case r.HopByHop(f.Name):
			continue
		case bytes.EqualFold(f.Name, hXForwardedHost):
			xfh = true
		case bytes.EqualFold(f.Name, hXForwardedProto):
			xfp = true
		}
		h1.WriteField(w, f.Name, f.Value)
	}
	w.WriteString("X-Forwarded-For: ")
	w.Write(appendForwardedFor(w.AvailableBuffer(), xff, x.fc.clientIP))
	w.WriteString("\r\n")
	if !xfh {
		h1.WriteField(w, hXForwardedHost, host)
	}
	if !xfp {
		w.WriteString("X-Forwarded-Proto: " + forwardedProto + "\r\n")
	}
	if r.NLength > 0 {
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), r.ContentLength, 10))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	err, clientErr = h1.SendBody(w, x.fc.br, x.bodyLeft)
	if !clientErr {
		x.bodyLeft = 0
	}
	return err, clientErr
}

// readHead reads the response head within the response header timeout (relayAnswer lifts
// the deadline when the body needs more reads). Interim answers (1xx but 101) are relayed to
// the gateway as they come.
func (x *exchange) readHead(uc *h1.Conn) error {
	_ = uc.Conn.SetReadDeadline(time.Now().Add(x.u.timeouts.ResponseHeader))
	resp := &x.fc.resp
	for {
		if err := resp.Read(uc.Br); err != nil {
			return err
		}
		code, ok := statusCode(resp)
		if !ok || code == http.StatusSwitchingProtocols || (resp.TransferEncoding() && !resp.Chunked) {
			return h1.ErrMalformed // net/http's Transport refuses these answers too
		}
		x.code = code
		if code >= 200 {
			return nil
		}
		x.writeHead(nil, false) // 1xx: no body, the real answer follows
		if err := x.fc.bw.Flush(); err != nil {
			return err
		}
	}
}

func statusCode(h *h1.Head) (int, bool) {
	if !bytes.Equal(h.First1, []byte("HTTP/1.1")) && !bytes.Equal(h.First1, []byte("HTTP/1.0")) ||
		len(h.First2) != 3 {
		return 0, false
	}
	code := 0
	for _, c := range h.First2 {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	return code, code >= 100
}

// relayAnswer writes the answer's head and streams its body to the gateway.
func (x *exchange) relayAnswer(uc *h1.Conn) {
	resp := &x.fc.resp
	framing := h1.BodyUntilClose
	switch {
	case bytes.Equal(x.fc.req.First1, []byte("HEAD")) || x.code == 204 || x.code == 304:
		framing = h1.BodyNone
	case resp.Chunked:
		framing = h1.BodyChunked
	case resp.TransferEncoding():
	case resp.NLength > 0:
		framing = h1.BodyLength
	}
	reusable := !resp.ConnClose && bytes.Equal(resp.First1, []byte("HTTP/1.1")) && framing != h1.BodyUntilClose
	x.keepClient = !x.fc.req.ConnClose && !x.fc.f.closing.Load()
	x.writeHead(&framing, !x.keepClient)
	if framing != h1.BodyNone && (framing != h1.BodyLength || resp.ContentLength > int64(uc.Br.Buffered())) {
		_ = uc.Conn.SetReadDeadline(time.Time{}) // bodies may take their time
	}
	x.relay.Dst = x.fc.bw
	var err error
	switch framing {
	case h1.BodyLength:
		err = x.relay.CopyN(uc.Br, resp.ContentLength)
	case h1.BodyChunked:
		err = x.relay.CopyChunked(uc.Br)
	case h1.BodyUntilClose:
		buf := copyBuffers.Get()
		err = x.relay.CopyUntilClose(uc.Br, buf)
		copyBuffers.Put(buf)
	}
	if err != nil { // broken off midway: nothing left to say, to either side
		x.keepClient = false
		reusable = false
		x.u.log.Debug("response broken off", "error", describe(err))
	}
	if reusable {
		x.pool.Put(uc)
	} else {
		uc.Close()
	}
}

// writeHead writes the status line and fields of the upstream's answer, without hop-by-hop
// fields, with the framing the gateway gets. framing nil: an interim (1xx) answer.
func (x *exchange) writeHead(framing *int, closeConn bool) {
	resp, w := &x.fc.resp, x.fc.bw
	w.WriteString("HTTP/1.1 ")
	w.Write(resp.First2)
	w.WriteByte(' ')
	w.Write(resp.First3)
	w.WriteString("\r\n")
	date := false
	for _, f := range resp.Fields {
		switch {
		case bytes.EqualFold(f.Name, []byte("Trailer")):
			if framing == nil || *framing != h1.BodyChunked {
				continue
			}
		case bytes.EqualFold(f.Name, hContentLength):
			if framing == nil || *framing == h1.BodyChunked || *framing == h1.BodyUntilClose {
				continue
			}
		case resp.HopByHop(f.Name):
			continue
		case bytes.EqualFold(f.Name, hDate):
			date = true
		}
		h1.WriteField(w, f.Name, f.Value)
	}
	if framing == nil {
		w.WriteString("\r\n")
		return
	}
	if !date {
		w.WriteString("Date: ")
		w.Write(h1.Date())
		w.WriteString("\r\n")
	}
	if *framing == h1.BodyChunked || *framing == h1.BodyUntilClose {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if closeConn {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
}

// answerError answers the gateway with the JSON body of a failure.
func (x *exchange) answerError(err error) {
	pe := err.(*proxyError)
	x.code, x.reason = pe.status, pe.reason
	x.keepClient = !x.fc.req.ConnClose && !x.fc.f.closing.Load() && x.bodyLeft == 0
	reqID := requestID(func(name string) string { return string(x.fc.req.Get([]byte(name))) })
	writeErrorAnswer(x.fc, pe, x.u.errorAnswer(pe, reqID), x.keepClient)
}

// writeErrorAnswer writes an error answer to the gateway (not flushed).
func writeErrorAnswer(fc *frontConn, pe *proxyError, body []byte, keep bool) {
	w := fc.bw
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(pe.status))
	w.WriteByte(' ')
	w.WriteString(http.StatusText(pe.status))
	w.WriteString("\r\n")
	for _, f := range errorHeaders {
		w.WriteString(f[0] + ": " + f[1] + "\r\n")
	}
	w.WriteString("Date: ")
	w.Write(h1.Date())
	w.WriteString("\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	if !keep {
		w.WriteString("\r\nConnection: close")
	}
	w.WriteString("\r\n\r\n")
	w.Write(body)
}

// finish applies the engine policy's accounting to the exchange.
func (x *exchange) finish(took time.Duration) {
	r := &x.fc.req
	if !x.u.accessLog {
		x.u.finish("", "", x.code, x.reason, "", x.relay.Bytes, took) // no allocation
		return
	}
	x.u.finish(string(r.First1), string(pathOf(r.First2)), x.code, x.reason, string(r.Get(hXRequestID)), x.relay.Bytes, took)
}

// pathOf is a request target without its query.
func pathOf(target []byte) []byte {
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		return target[:i]
	}
	return target
}

var (
	hContentLength   = []byte("Content-Length")
	hHost            = []byte("Host")
	hXForwardedFor   = []byte("X-Forwarded-For")
	hXForwardedHost  = []byte("X-Forwarded-Host")
	hXForwardedProto = []byte("X-Forwarded-Proto")
	hXRequestID      = []byte("X-Request-Id")
	hDate            = []byte("Date")
	hTe              = []byte("Te")
)
