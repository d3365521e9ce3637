package h1

import (
	"bytes"
	"errors"

	"golang.org/x/net/http/httpguts"
)

// Request framing: where a request's body ends (RFC 9112 sections 6.1-6.3), decided once,
// before anything of the request is forwarded. The rules follow net/http's server, which is
// the oracle, except where RFC 9112 asks for more (the comments say where).

// Framing errors of RequestFraming and of chunked bodies.
var (
	// ErrUnsupportedCoding: a Transfer-Encoding other than one field "chunked" (net/http
	// answers 501, as RFC 9112 6.1 suggests for a coding the server does not understand).
	ErrUnsupportedCoding = errors.New("unsupported transfer coding")
	// ErrTransferEncodingHTTP10: HTTP/1.0 with Transfer-Encoding. net/http ignores the field
	// and frames by Content-Length; RFC 9112 6.1 says the framing is faulty.
	ErrTransferEncodingHTTP10 = errors.New("Transfer-Encoding in an HTTP/1.0 request")
	// ErrMalformedChunked: a chunked body that breaks RFC 9112 section 7.1 as net/http reads
	// it (chunk-size not hex or over 16 digits, a chunk line not ended by CRLF, chunk data
	// not followed by CRLF, a malformed trailer field).
	ErrMalformedChunked = errors.New("malformed chunked body")
)

// Body framings.
const (
	BodyNone       = iota // no body
	BodyLength            // Content-Length bytes
	BodyChunked           // chunked transfer coding
	BodyUntilClose        // a response read until the connection closes
)

// Framing is where a request's body ends.
type Framing struct {
	Body   int   // BodyNone, BodyLength or BodyChunked
	Length int64 // of BodyLength
	// Close: the connection must be closed after the answer. A request with both
	// Content-Length and Transfer-Encoding is processed by Transfer-Encoding alone (as
	// net/http does) and its connection closed (RFC 9112 6.1 MUST; net/http keeps it).
	Close bool
}

// ErrBadHost: a Host field missing from an HTTP/1.1 request, repeated, or not a valid
// host[:port] (as net/http's server refuses them).
var ErrBadHost = errors.New("missing, repeated or malformed Host field")

// CheckRequest applies the rules a request head must pass before anything of it is
// forwarded: its Host field, then its framing (RequestFraming).
func CheckRequest(h *Head) (Framing, error) {
	if h.NHost > 1 || (h.NHost == 0 && bytes.Equal(h.First3, http11)) {
		return Framing{}, ErrBadHost
	}
	if host := h.Get(hHost); host != nil && !httpguts.ValidHostHeader(string(host)) {
		return Framing{}, ErrBadHost
	}
	return RequestFraming(h)
}

// RequestFraming decides the framing of a parsed request head (Read has already refused
// conflicting or malformed Content-Length fields and obsolete line folding).
func RequestFraming(h *Head) (Framing, error) {
	if h.NTE > 0 {
		if !bytes.Equal(h.First3, http11) {
			return Framing{}, ErrTransferEncodingHTTP10
		}
		if !h.Chunked || h.NTE != 1 {
			return Framing{}, ErrUnsupportedCoding
		}
		return Framing{Body: BodyChunked, Close: h.NLength > 0}, nil
	}
	if h.NLength > 0 {
		return Framing{Body: BodyLength, Length: h.ContentLength}, nil
	}
	return Framing{Body: BodyNone}, nil
}

var http11 = []byte("HTTP/1.1")

// ChunkSize parses a chunk-size line as net/http does: the line ends in CRLF with no other
// CR, trailing spaces and tabs and a chunk extension (";...") are ignored, and the size is
// 1 to 16 hex digits.
func ChunkSize(line []byte) (int64, error) {
	n := len(line)
	if n < 2 || line[n-1] != '\n' || line[n-2] != '\r' || bytes.IndexByte(line[:n-2], '\r') >= 0 {
		return 0, ErrMalformedChunked // bare LF, or a CR inside the line
	}
	line = line[:n-2]
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 || len(line) > 16 {
		return 0, ErrMalformedChunked
	}
	var size uint64
	for _, c := range line {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, ErrMalformedChunked
		}
		size = size<<4 | uint64(c)
	}
	if size > 1<<62 {
		return 0, ErrMalformedChunked // more than anyone sends; keeps sums in an int64
	}
	return int64(size), nil
}

// ScanChunked checks the chunked body at the start of b without consuming it. It returns
// ErrMalformedChunked for a fault within b, and whether the body (trailer section
// included) ends within b. A body that does not end within b is fine so far.
func ScanChunked(b []byte) (complete bool, err error) {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false, nil
		}
		size, err := ChunkSize(b[:i+1])
		if err != nil {
			return false, err
		}
		b = b[i+1:]
		if size == 0 {
			return scanTrailer(b)
		}
		if int64(len(b)) < size+2 {
			if int64(len(b)) > size && b[size] != '\r' {
				return false, ErrMalformedChunked
			}
			return false, nil
		}
		if b[size] != '\r' || b[size+1] != '\n' {
			return false, ErrMalformedChunked
		}
		b = b[size+2:]
	}
}

// scanTrailer checks the trailer section at the start of b: fields, then an empty line.
func scanTrailer(b []byte) (bool, error) {
	for n := 0; ; n++ {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false, nil
		}
		line := b[:i+1]
		b = b[i+1:]
		if len(line) == 2 && line[0] == '\r' {
			return true, nil
		}
		if !validTrailerLine(line) || n == MaxFields {
			return false, ErrMalformedChunked
		}
	}
}

// validTrailerLine: "name: value" CRLF, as a header field.
func validTrailerLine(line []byte) bool {
	n := len(line)
	if n < 2 || line[n-2] != '\r' {
		return false
	}
	name, value, ok := bytes.Cut(line[:n-2], []byte{':'})
	return ok && ValidToken(name) && ValidValue(bytes.Trim(value, " \t"))
}
