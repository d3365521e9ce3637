package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// A small HTTP/1.1 message-head reader for the fast path (see frontend.go). It accepts
// only what is plainly well formed; the request path hands anything else to net/http,
// which answers it as it always did.

// maxHead bounds a message head (request or response line and fields).
const maxHead = 64 << 10

// maxFields bounds the number of header fields of a head.
const maxFields = 128

var (
	errHeadTooLarge = errors.New("message head too large")
	errMalformed    = errors.New("malformed message head")
)

// field is one header field of a head; name and value point into head.raw.
type field struct{ name, value []byte }

// head is a parsed message head. Its slices point into raw, which the connection reuses.
type head struct {
	raw                    []byte
	first1, first2, first3 []byte // method, target, version; or version, status code, reason
	fields                 []field

	contentLength int64 // -1: none
	nLength       int   // Content-Length fields
	chunked       bool  // Transfer-Encoding is exactly chunked
	transferEnc   bool  // any Transfer-Encoding field
	nHost         int
	connClose     bool
	connTokens    [][]byte // other names listed in Connection: hop-by-hop for this message
	upgrade       bool
	expect        bool
}

func (h *head) reset() {
	h.raw, h.fields, h.connTokens = h.raw[:0], h.fields[:0], h.connTokens[:0]
	h.first1, h.first2, h.first3 = nil, nil, nil
	h.contentLength, h.nLength, h.nHost = -1, 0, 0
	h.chunked, h.transferEnc, h.connClose, h.upgrade, h.expect = false, false, false, false, false
}

// read reads a message head line by line into h.raw (up to the empty line) and parses it.
// Lines may end in CRLF or LF. A connection closed before any byte gives io.EOF.
func (h *head) read(br *bufio.Reader) error {
	h.reset()
	partial := false // the previous read ended inside a line
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == io.EOF && len(h.raw) == 0 && len(line) == 0:
			return io.EOF
		case err == io.EOF:
			return io.ErrUnexpectedEOF
		case err != nil && err != bufio.ErrBufferFull:
			return err
		}
		if len(h.raw)+len(line) > maxHead {
			return errHeadTooLarge
		}
		empty := err == nil && !partial && (len(line) == 1 || (len(line) == 2 && line[0] == '\r'))
		partial = err == bufio.ErrBufferFull
		if empty && len(h.raw) == 0 {
			continue // an empty line before the start line is ignored (RFC 9112 2.2)
		}
		h.raw = append(h.raw, line...)
		if empty {
			return h.parse()
		}
	}
}

func (h *head) parse() error {
	rest := h.raw
	first, rest := cutLine(rest)
	var ok bool
	if h.first1, first, ok = bytes.Cut(first, []byte{' '}); !ok {
		return errMalformed
	}
	if h.first2, h.first3, ok = bytes.Cut(first, []byte{' '}); !ok {
		h.first2, h.first3 = first, nil // a status line without reason phrase
	}
	for len(rest) > 0 {
		var line []byte
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' || len(h.fields) == maxFields {
			return errMalformed // obsolete line folding, or too many fields
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || !validToken(name) {
			return errMalformed
		}
		value = bytes.Trim(value, " \t")
		if !validValue(value) {
			return errMalformed
		}
		h.fields = append(h.fields, field{name: name, value: value})
		if err := h.note(name, value); err != nil {
			return err
		}
	}
	return nil
}

// note records what a field says about framing and the connection.
func (h *head) note(name, value []byte) error {
	switch {
	case bytes.EqualFold(name, hContentLength):
		n, ok := parseLength(value)
		if !ok || (h.nLength > 0 && n != h.contentLength) {
			return errMalformed
		}
		h.contentLength = n
		h.nLength++
	case bytes.EqualFold(name, hTransferEncoding):
		h.transferEnc = true
		h.chunked = bytes.EqualFold(value, []byte("chunked")) // any other coding: not ours to relay
	case bytes.EqualFold(name, hHost):
		h.nHost++
	case bytes.EqualFold(name, hConnection):
		for tok := range bytes.SplitSeq(value, []byte{','}) {
			tok = bytes.Trim(tok, " \t")
			switch {
			case len(tok) == 0:
			case bytes.EqualFold(tok, []byte("close")):
				h.connClose = true
			default:
				h.connTokens = append(h.connTokens, tok)
			}
		}
	case bytes.EqualFold(name, hUpgrade):
		h.upgrade = true
	case bytes.EqualFold(name, hExpect):
		h.expect = true
	}
	return nil
}

// hopByHop: fields that describe one connection, never forwarded (RFC 9110 7.6.1, the list
// net/http/httputil uses), and those the message's Connection field names.
func (h *head) hopByHop(name []byte) bool {
	for _, n := range hopHeaders {
		if bytes.EqualFold(name, n) {
			return true
		}
	}
	for _, t := range h.connTokens {
		if bytes.EqualFold(name, t) {
			return true
		}
	}
	return false
}

// get returns the first value of a field, nil when absent.
func (h *head) get(name []byte) []byte {
	for _, f := range h.fields {
		if bytes.EqualFold(f.name, name) {
			return f.value
		}
	}
	return nil
}

// parseLength reads a Content-Length: decimal digits only, at most 18 of them.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

var (
	hContentLength    = []byte("Content-Length")
	hTransferEncoding = []byte("Transfer-Encoding")
	hHost             = []byte("Host")
	hConnection       = []byte("Connection")
	hUpgrade          = []byte("Upgrade")
	hExpect           = []byte("Expect")
	hXForwardedFor    = []byte("X-Forwarded-For")
	hXForwardedHost   = []byte("X-Forwarded-Host")
	hXForwardedProto  = []byte("X-Forwarded-Proto")
	hXRequestID       = []byte("X-Request-Id")
	hXKongRequestID   = []byte("X-Kong-Request-Id")
	hDate             = []byte("Date")
	hTe               = []byte("Te")

	hopHeaders = [][]byte{
		hConnection, []byte("Proxy-Connection"), []byte("Keep-Alive"), []byte("Proxy-Authenticate"),
		[]byte("Proxy-Authorization"), hTe, []byte("Trailer"), hTransferEncoding, hUpgrade,
	}
)

// tokenChars are the characters of an RFC 9110 token.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func validToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

func validValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validTarget: origin-form, visible ASCII only.
func validTarget(b []byte) bool {
	if len(b) == 0 || b[0] != '/' {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
