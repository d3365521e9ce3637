//go:build !linux

// Package sock does the reads and writes of the proxy's TCP connections as raw system
// calls on Linux; elsewhere Wrap returns the connection unchanged.
package sock

import "net"

// Wrap returns c: raw reads and writes are for Linux.
func Wrap(c net.Conn) net.Conn { return c }
