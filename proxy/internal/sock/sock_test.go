//go:build linux

package sock

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Each case runs on a real loopback TCP connection twice: once through package net and
// once through Conn. What the case saw (bytes, errors as text, what the errors are) must
// be the same.
func TestConnBehavesAsTheStandardLibrary(t *testing.T) {
	cases := map[string]func(c, peer net.Conn) string{
		"bytes both ways": func(c, peer net.Conn) string {
			go func() { _, _ = peer.Write([]byte("hello")) }()
			buf := make([]byte, 64)
			n, err := io.ReadAtLeast(c, buf, 5)
			_, werr := c.Write([]byte("world"))
			got := make([]byte, 5)
			_, perr := io.ReadFull(peer, got)
			return fmt.Sprintf("read %q %v, write %v, peer got %q %v", buf[:n], err, werr, got, perr)
		},
		"zero-length read and write": func(c, peer net.Conn) string {
			n, err := c.Read(nil)
			m, werr := c.Write(nil)
			return fmt.Sprintf("%d %v %d %v", n, err, m, werr)
		},
		"end of stream": func(c, peer net.Conn) string {
			_, _ = peer.Write([]byte("last"))
			_ = peer.Close()
			all, err := io.ReadAll(c)
			n, err2 := c.Read(make([]byte, 8))
			return fmt.Sprintf("%q %v, then %d %v", all, err, n, describe(err2))
		},
		"read deadline": func(c, peer net.Conn) string {
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			n, err := c.Read(make([]byte, 8))
			return fmt.Sprintf("%d %s", n, describe(err))
		},
		"write deadline with a full buffer": func(c, peer net.Conn) string {
			_ = c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := c.Write(make([]byte, 64<<20)) // the peer reads nothing
			return fmt.Sprintf("partial %t %s", n > 0 && n < 64<<20, describe(err))
		},
		"closed locally": func(c, peer net.Conn) string {
			_ = c.Close()
			n, err := c.Read(make([]byte, 8))
			m, werr := c.Write([]byte("x"))
			return fmt.Sprintf("%d %s / %d %s", n, describe(err), m, describe(werr))
		},
		"closed while a read waits": func(c, peer net.Conn) string {
			done := make(chan string)
			go func() {
				n, err := c.Read(make([]byte, 8))
				done <- fmt.Sprintf("%d %s", n, describe(err))
			}()
			// The read may start waiting before or after the close: either way it ends
			// with the same error.
			_ = c.Close()
			return <-done
		},
		"reset by the peer": func(c, peer net.Conn) string {
			_ = peer.(*net.TCPConn).SetLinger(0)
			_ = peer.Close()
			n, err := c.Read(make([]byte, 8))
			return fmt.Sprintf("%d %s", n, describe(err))
		},
		"writing after a reset": func(c, peer net.Conn) string {
			_ = peer.(*net.TCPConn).SetLinger(0)
			_ = peer.Close()
			_, _ = c.Read(make([]byte, 8)) // the reset has arrived
			_, err := c.Write([]byte("x"))
			return describe(err)
		},
		"a large write against a slow reader": func(c, peer net.Conn) string {
			payload := make([]byte, 8<<20)
			_, _ = rand.Read(payload)
			got := make(chan []byte)
			go func() {
				var b bytes.Buffer
				buf := make([]byte, 7000)
				for b.Len() < len(payload) {
					n, err := peer.Read(buf)
					b.Write(buf[:n])
					if err != nil {
						break
					}
				}
				got <- b.Bytes()
			}()
			n, err := c.Write(payload)
			return fmt.Sprintf("%d %v, identical %t", n, err, bytes.Equal(<-got, payload))
		},
	}
	for name, run := range cases {
		t.Run(name, func(t *testing.T) {
			std := run(pair(t, false))
			raw := run(pair(t, true))
			if std != raw {
				t.Errorf("package net: %s\nsock.Conn:   %s", std, raw)
			}
			t.Logf("both: %s", std)
		})
	}
}

func TestWrapLeavesOtherConnectionsAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("a pipe was wrapped")
	}
}

// pair is a connected loopback TCP pair; c is wrapped when raw.
func pair(t *testing.T, raw bool) (c, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		a, _ := ln.Accept()
		accepted <- a
	}()
	c, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer = <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	// Small buffers make a full socket buffer quick to reach.
	_ = c.(*net.TCPConn).SetWriteBuffer(64 << 10)
	_ = peer.(*net.TCPConn).SetReadBuffer(64 << 10)
	t.Cleanup(func() { _ = c.Close(); _ = peer.Close() })
	if raw {
		w := Wrap(c)
		if _, ok := w.(*Conn); !ok {
			t.Fatalf("a TCP connection was not wrapped: %T", w)
		}
		c = w
	}
	// Addresses differ between the two runs; errors are compared without them.
	addrs = strings.NewReplacer(c.LocalAddr().String(), "LOCAL", c.RemoteAddr().String(), "REMOTE")
	return c, peer
}

var addrs *strings.Replacer

// describe is an error as text (without addresses) and what it is.
func describe(err error) string {
	if err == nil {
		return "<nil>"
	}
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	return fmt.Sprintf("%q timeout=%t deadline=%t closed=%t reset=%t pipe=%t eof=%t", addrs.Replace(err.Error()), timeout,
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF))
}
