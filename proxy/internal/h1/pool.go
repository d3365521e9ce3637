package h1

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"
)

// ErrWaitTimeout: no connection became free and no dial could start within Pool.Wait.
var ErrWaitTimeout = errors.New("timed out waiting for a connection to the server")

// Conn is one pooled client connection.
type Conn struct {
	Conn      net.Conn // as Dial returned it
	Br        *bufio.Reader
	Bw        *bufio.Writer
	idleSince time.Time
}

// Close closes the connection.
func (c *Conn) Close() { _ = c.Conn.Close() }

// Pool holds idle connections to one server and bounds the dials in flight, so that a
// burst of requests queues for the connections the first ones open instead of opening one
// each: a request waiting for a connection takes the first one returned, or starts a dial
// when one finishes. Set the exported fields before first use.
type Pool struct {
	Dial     func() (net.Conn, error)
	MaxIdle  int           // idle connections kept
	IdleFor  time.Duration // an idle connection older than this is closed, not reused
	MaxDials int           // dials in flight at once
	Wait     time.Duration // how long a request waits for a connection or a dial

	mu      sync.Mutex
	idle    []*Conn
	dialing int
	waiters []chan *Conn // first come, first served; nil sent: a dial may start
	retired bool
}

// Get returns an idle connection (reused) or a new one.
func (p *Pool) Get() (c *Conn, reused bool, err error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	slotOffered := false // woken because a dial may start
	for {
		if c := p.popFresh(); c != nil {
			if slotOffered { // not taken: the next waiter may dial
				p.mu.Lock()
				p.wakeLocked(nil)
				p.mu.Unlock()
			}
			return c, true, nil
		}
		p.mu.Lock()
		if p.dialing < p.MaxDials {
			p.dialing++
			p.mu.Unlock()
			c, err := p.dial()
			p.mu.Lock()
			p.dialing--
			p.wakeLocked(nil)
			p.mu.Unlock()
			return c, false, err
		}
		w := make(chan *Conn, 1)
		p.waiters = append(p.waiters, w)
		p.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(p.Wait)
		}
		select {
		case c := <-w:
			if c != nil {
				return c, true, nil
			}
			slotOffered = true
		case <-timer.C:
			if p.cancel(w) {
				return nil, false, ErrWaitTimeout
			}
			if c := <-w; c != nil { // handed something just now
				return c, true, nil
			}
			return nil, false, ErrWaitTimeout
		}
	}
}

// New opens a new connection outside the dial bound, for a request that found a pooled
// one closed and cannot be sent twice.
func (p *Pool) New() (*Conn, error) { return p.dial() }

func (p *Pool) dial() (*Conn, error) {
	nc, err := p.Dial()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: nc, Br: bufio.NewReaderSize(nc, 4<<10), Bw: bufio.NewWriterSize(nc, 4<<10)}, nil
}

// popFresh takes the most recently used idle connection, closing those idle too long.
func (p *Pool) popFresh() *Conn {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if time.Since(c.idleSince) < p.IdleFor {
			return c
		}
		c.Close()
	}
}

// wakeLocked hands c (nil: a dial may start) to the first waiter, if any.
func (p *Pool) wakeLocked(c *Conn) bool {
	if len(p.waiters) == 0 {
		return false
	}
	w := p.waiters[0]
	p.waiters[0] = nil
	p.waiters = p.waiters[1:]
	w <- c // buffered: never blocks
	return true
}

// cancel removes a waiter; false when it was already woken.
func (p *Pool) cancel(w chan *Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// Put returns a connection after a complete exchange: to a waiting request, or to the
// idle list. One with unread bytes, or of a retired pool, is closed.
func (p *Pool) Put(c *Conn) {
	c.idleSince = time.Now()
	p.mu.Lock()
	if p.retired || c.Br.Buffered() > 0 {
		p.mu.Unlock()
		c.Close()
		return
	}
	if p.wakeLocked(c) {
		p.mu.Unlock()
		return
	}
	if len(p.idle) >= p.MaxIdle {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// Retire closes the idle connections; those in use are closed when they come back.
func (p *Pool) Retire() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.retired = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// CloseIdle closes the idle connections and keeps the pool in use.
func (p *Pool) CloseIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}
