package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// The engine policy: what the proxy does to every request, whichever engine forwards it
// (the fast path, forward.go, or net/http, nethttp.go). Both engines call these functions
// and nothing else decides these things.

// errorHeaders are the fields of every error answer besides its framing.
var errorHeaders = [...][2]string{{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}}

// proxyError is a request the proxy answers itself: an upstream failure (classified in
// classifyFailure) or the gateway's fault (client: nothing was forwarded, or what was is
// abandoned; never counted against the upstream).
type proxyError struct {
	reason contract.Reason
	status int // of the answer
	err    error
	client bool
}

func (e *proxyError) Error() string { return string(e.reason) + ": " + describe(e.err) }
func (e *proxyError) Unwrap() error { return e.err }

// clientError is the answer to a request refused for the gateway's fault.
func clientError(reason contract.Reason, err error) *proxyError {
	status := http.StatusBadRequest
	switch reason {
	case contract.ReasonUnsupportedTransferCoding:
		status = http.StatusNotImplemented
	case contract.ReasonRequestHeaderTooLarge:
		status = http.StatusRequestHeaderFieldsTooLarge
	}
	return &proxyError{reason: reason, status: status, err: err, client: true}
}

// errorAnswer is the JSON body of an error answer, newline-terminated.
func (u *upstream) errorAnswer(pe *proxyError, requestID string) []byte {
	body, _ := json.Marshal(contract.ErrorBody{Message: pe.reason.Message(), Reason: pe.reason, Upstream: u.name, RequestID: requestID})
	return append(body, '\n')
}

// requestIDFields are where the gateway puts its request ID (Kong sends X-Kong-Request-Id).
var requestIDFields = [...]string{"X-Request-Id", "X-Kong-Request-Id"}

// requestID is the gateway's request ID, from the first of requestIDFields that get finds
// with a usable value, or a new one.
func requestID(get func(name string) string) string {
	for _, name := range requestIDFields {
		if v := get(name); v != "" && len(v) <= 128 {
			return v
		}
	}
	return newRequestID()
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Forwarded fields. The upstream gets X-Forwarded-For: the gateway's values, then the
// gateway's address. X-Forwarded-Host and -Proto set by the gateway are kept, since they
// describe the original request; otherwise they describe this hop (the request's Host, and
// "http"). The gateway's RFC 7239 Forwarded field passes unchanged (the proxy does not add
// itself). Host is rewritten to the upstream's host:port.
const forwardedProto = "http"

// appendForwardedFor appends the X-Forwarded-For value the upstream gets.
func appendForwardedFor(dst []byte, gateway [][]byte, clientIP string) []byte {
	for _, v := range gateway {
		dst = append(dst, v...)
		dst = append(dst, ", "...)
	}
	return append(dst, clientIP...)
}

// finish counts an answered request (every answer, the proxy's own included) and writes
// its access log line when the access log is on. path has no query string.
func (u *upstream) finish(method, path string, code int, reason contract.Reason, reqID string, bytes int64, took time.Duration) {
	u.codes.inc(code)
	u.requestDuration.Observe(took.Seconds())
	if c, ok := u.clientErrors[reason]; ok {
		c.Inc()
	}
	if u.accessLog {
		u.access.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("upstream", u.name), slog.String("method", method), slog.String("path", path),
			slog.Int("status", code), slog.String("reason", string(reason)),
			slog.String("requestID", reqID), slog.Int64("bytes", bytes), slog.Duration("duration", took))
	}
}
