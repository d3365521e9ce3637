// Package h1 is the HTTP/1.1 wire code of the proxy's fast path: a message-head reader,
// the request framing rules (RFC 9112 sections 6 and 7), copiers for message bodies and a
// pool of client connections. It knows nothing of upstreams, TLS verification or metrics;
// net/http is its oracle (the differential fuzzers of proxy/fuzz hold it to that).
package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// MaxHead bounds a message head (request or status line and fields).
const MaxHead = 64 << 10

// MaxFields bounds the number of header fields of a head (more: ErrHeadTooLarge).
const MaxFields = 128

// Errors of Read. Every one but io.EOF and a read error of the connection means the head
// was refused: the connection cannot carry another message.
var (
	ErrHeadTooLarge = errors.New("message head too large")
	ErrMalformed    = errors.New("malformed message head")
	ErrObsFold      = errors.New("obsolete line folding in a message head")
	ErrBadLength    = errors.New("invalid or conflicting Content-Length")
)

// Field is one header field of a head; Name and Value point into Head.Raw.
type Field struct{ Name, Value []byte }

// Head is a parsed message head. Its slices point into Raw, which the reader reuses.
type Head struct {
	Raw                    []byte
	First1, First2, First3 []byte // method, target, version; or version, status code, reason
	Fields                 []Field

	ContentLength int64 // -1: none
	NLength       int   // Content-Length fields (all of one value)
	NTE           int   // Transfer-Encoding fields
	Chunked       bool  // one Transfer-Encoding field, exactly "chunked"
	NHost         int
	ConnClose     bool
	ConnTokens    [][]byte // other names listed in Connection: hop-by-hop for this message
	Upgrade       bool
	Expect        bool
}

func (h *Head) reset() {
	h.Raw, h.Fields, h.ConnTokens = h.Raw[:0], h.Fields[:0], h.ConnTokens[:0]
	h.First1, h.First2, h.First3 = nil, nil, nil
	h.ContentLength, h.NLength, h.NTE, h.NHost = -1, 0, 0, 0
	h.Chunked, h.ConnClose, h.Upgrade, h.Expect = false, false, false, false
}

// TransferEncoding: the head has a Transfer-Encoding field.
func (h *Head) TransferEncoding() bool { return h.NTE > 0 }

// Read reads a message head line by line into h.Raw (up to the empty line) and parses it.
// Lines may end in CRLF or LF, as net/http accepts them. A connection closed before any
// byte gives io.EOF.
func (h *Head) Read(br *bufio.Reader) error {
	h.reset()
	partial := false // the previous read ended inside a line
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == io.EOF && len(h.Raw) == 0 && len(line) == 0:
			return io.EOF
		case err == io.EOF:
			return io.ErrUnexpectedEOF
		case err != nil && err != bufio.ErrBufferFull:
			return err
		}
		if len(h.Raw)+len(line) > MaxHead {
			return ErrHeadTooLarge
		}
		empty := err == nil && !partial && (len(line) == 1 || (len(line) == 2 && line[0] == '\r'))
		partial = err == bufio.ErrBufferFull
		if empty && len(h.Raw) == 0 {
			continue // an empty line before the start line is ignored (RFC 9112 2.2)
		}
		h.Raw = append(h.Raw, line...)
		if empty {
			return h.parse()
		}
	}
}

func (h *Head) parse() error {
	rest := h.Raw
	first, rest := cutLine(rest)
	var ok bool
	if h.First1, first, ok = bytes.Cut(first, []byte{' '}); !ok {
		return ErrMalformed
	}
	if h.First2, h.First3, ok = bytes.Cut(first, []byte{' '}); !ok {
		h.First2, h.First3 = first, nil // a status line without reason phrase
	}
	for len(rest) > 0 {
		var line []byte
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' || (len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t')) {
			// RFC 9112 5.2: refused, never folded. A field is not read before the line after it
			// is known not to continue it, so a folded field's first part never decides alone.
			return ErrObsFold
		}
		if len(h.Fields) == MaxFields {
			return ErrHeadTooLarge
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || !ValidToken(name) {
			return ErrMalformed
		}
		value = bytes.Trim(value, " \t")
		if !ValidValue(value) {
			return ErrMalformed
		}
		h.Fields = append(h.Fields, Field{Name: name, Value: value})
		if err := h.note(name, value); err != nil {
			return err
		}
	}
	return nil
}

// note records what a field says about framing and the connection.
func (h *Head) note(name, value []byte) error {
	switch {
	case bytes.EqualFold(name, hContentLength):
		n, ok := ParseLength(value)
		if !ok || (h.NLength > 0 && n != h.ContentLength) {
			return ErrBadLength // as net/http: one value, repeated identically at most
		}
		h.ContentLength = n
		h.NLength++
	case bytes.EqualFold(name, hTransferEncoding):
		h.NTE++
		h.Chunked = h.NTE == 1 && bytes.EqualFold(value, []byte("chunked"))
	case bytes.EqualFold(name, hHost):
		h.NHost++
	case bytes.EqualFold(name, hConnection):
		for tok := range bytes.SplitSeq(value, []byte{','}) {
			tok = bytes.Trim(tok, " \t")
			switch {
			case len(tok) == 0:
			case bytes.EqualFold(tok, []byte("close")):
				h.ConnClose = true
			default:
				h.ConnTokens = append(h.ConnTokens, tok)
			}
		}
	case bytes.EqualFold(name, hUpgrade):
		h.Upgrade = true
	case bytes.EqualFold(name, hExpect):
		h.Expect = true
	}
	return nil
}

// HopByHop: fields that describe one connection, never forwarded (RFC 9110 7.6.1, the list
// net/http/httputil uses), and those the message's Connection field names.
func (h *Head) HopByHop(name []byte) bool {
	for _, n := range hopHeaders {
		if bytes.EqualFold(name, n) {
			return true
		}
	}
	for _, t := range h.ConnTokens {
		if bytes.EqualFold(name, t) {
			return true
		}
	}
	return false
}

// Get returns the first value of a field, nil when absent.
func (h *Head) Get(name []byte) []byte {
	for _, f := range h.Fields {
		if bytes.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return nil
}

// ParseLength reads a Content-Length: decimal digits only, at most 18 of them (a list such
// as "5, 5" is refused, as net/http refuses it).
func ParseLength(b []byte) (int64, bool) {
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

// ValidToken: b is a non-empty RFC 9110 token.
func ValidToken(b []byte) bool {
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

// ValidValue: b has no control character but horizontal tab.
func ValidValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// ValidTarget: origin-form, visible ASCII only, and every '%' of the path (before any '?')
// followed by two hex digits, as net/http's url.ParseRequestURI requires of a path.
func ValidTarget(b []byte) bool {
	if len(b) == 0 || b[0] != '/' {
		return false
	}
	inPath := true
	for i, c := range b {
		switch {
		case c <= ' ' || c >= 0x7f:
			return false
		case c == '?':
			inPath = false
		case c == '%' && inPath && (i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2])):
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
