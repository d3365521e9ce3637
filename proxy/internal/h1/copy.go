package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Relay copies a message body to Dst as it arrives: whenever the source has nothing more
// buffered, what was copied so far is flushed, so that a streamed answer (server-sent
// events) is not held back. The last bytes stay buffered for the caller's final flush.
type Relay struct {
	Dst   *bufio.Writer
	Bytes int64 // body bytes copied, chunk framing excluded
}

func (r *Relay) flushIfDry(src *bufio.Reader) error {
	if src.Buffered() == 0 {
		return r.Dst.Flush()
	}
	return nil
}

// CopyN copies n bytes.
func (r *Relay) CopyN(src *bufio.Reader, n int64) error {
	w := r.Dst
	for n > 0 {
		if w.Available() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		buf := w.AvailableBuffer()[:min(int64(w.Available()), n)]
		m, err := src.Read(buf)
		_, _ = w.Write(buf[:m])
		n -= int64(m)
		r.Bytes += int64(m)
		if err != nil && n > 0 {
			return err
		}
		if n == 0 {
			break // the last bytes leave with the caller's final flush
		}
		if err := r.flushIfDry(src); err != nil {
			return err
		}
	}
	return nil
}

// CopyChunked passes a chunked body through as it is (extensions and trailers included),
// checking its framing as net/http reads it.
func (r *Relay) CopyChunked(src *bufio.Reader) error {
	w := r.Dst
	for {
		line, err := src.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, err := ChunkSize(line)
		if err != nil {
			return err
		}
		w.Write(line)
		if size == 0 {
			return r.copyTrailer(src)
		}
		if err := r.CopyN(src, size); err != nil {
			return err
		}
		crlf, err := src.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(crlf) != 2 || crlf[0] != '\r' {
			return ErrMalformedChunked
		}
		w.Write(crlf)
		if err := r.flushIfDry(src); err != nil {
			return err
		}
	}
}

func (r *Relay) copyTrailer(src *bufio.Reader) error {
	for n := 0; n < MaxFields+1; n++ {
		line, err := src.ReadSlice('\n')
		if err != nil {
			return err
		}
		r.Dst.Write(line)
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
	return ErrMalformedChunked
}

// CopyUntilClose relays a body delimited by the source closing its connection, re-framed
// as chunked; buf is the read buffer.
func (r *Relay) CopyUntilClose(src *bufio.Reader, buf []byte) error {
	w := r.Dst
	for {
		n, err := src.Read(buf)
		if n > 0 {
			w.WriteString(strconv.FormatInt(int64(n), 16))
			w.WriteString("\r\n")
			w.Write(buf[:n])
			w.WriteString("\r\n")
			r.Bytes += int64(n)
			if ferr := r.flushIfDry(src); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			w.WriteString("0\r\n\r\n")
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// SendBody copies a request body of n bytes from src to dst and flushes dst. srcErr: the
// error is the source's (the body broke off), not the destination's.
func SendBody(dst *bufio.Writer, src *bufio.Reader, n int64) (err error, srcErr bool) {
	for n > 0 {
		if dst.Available() == 0 {
			if err := dst.Flush(); err != nil {
				return err, false
			}
		}
		buf := dst.AvailableBuffer()[:min(int64(dst.Available()), n)]
		m, rerr := src.Read(buf)
		_, _ = dst.Write(buf[:m])
		n -= int64(m)
		if rerr != nil && n > 0 {
			return rerr, true
		}
	}
	return dst.Flush(), false
}

// WriteField writes "name: value" CRLF.
func WriteField(w *bufio.Writer, name, value []byte) {
	w.Write(name)
	w.WriteString(": ")
	w.Write(value)
	w.WriteString("\r\n")
}

// dates caches the Date field value for the current second.
var dates atomic.Pointer[dateValue]

type dateValue struct {
	unix int64
	b    []byte
}

// Date is the value of a Date field for now (RFC 9110 5.6.7), cached for the second.
func Date() []byte {
	now := time.Now()
	if d := dates.Load(); d != nil && d.unix == now.Unix() {
		return d.b
	}
	d := &dateValue{unix: now.Unix(), b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	dates.Store(d)
	return d.b
}
