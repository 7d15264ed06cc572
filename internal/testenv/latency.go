package testenv

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyProxy is a TCP proxy in front of one upstream (a registry, the API
// server) that makes loopback behave like a network with a round-trip time:
// a new connection waits one RTT before it is connected (the TCP
// handshake), and every chunk of bytes, in each direction, arrives half an
// RTT after it was sent, in order (as netem's delay does). TLS handshakes and
// every HTTP request and response therefore pay the round trips they would
// pay over a real network.
type LatencyProxy struct {
	// Addr is 127.0.0.1:PORT; clients dial it instead of the upstream.
	Addr string

	upstream string
	rtt      atomic.Int64 // nanoseconds
	ln       net.Listener
	mu       sync.Mutex
	conns    []net.Conn
}

// NewLatencyProxy starts a proxy to upstream (host:port) with the round-trip
// time rtt (0 forwards without delay).
func NewLatencyProxy(upstream string, rtt time.Duration) (*LatencyProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &LatencyProxy{Addr: ln.Addr().String(), upstream: upstream, ln: ln}
	p.rtt.Store(int64(rtt))
	go p.serve()
	return p, nil
}

// SetRTT changes the round-trip time of new connections and new chunks.
func (p *LatencyProxy) SetRTT(rtt time.Duration) { p.rtt.Store(int64(rtt)) }

func (p *LatencyProxy) delay() time.Duration { return time.Duration(p.rtt.Load()) }

// Close stops the proxy and drops its connections.
func (p *LatencyProxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

func (p *LatencyProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(client)
	}
}

func (p *LatencyProxy) handle(client net.Conn) {
	time.Sleep(p.delay()) // SYN, SYN-ACK
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		_ = client.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, client, server)
	p.mu.Unlock()
	go p.pump(server, client)
	p.pump(client, server)
}

// pump copies src to dst, each chunk delivered half an RTT after it was read.
func (p *LatencyProxy) pump(dst, src net.Conn) {
	type chunk struct {
		data []byte
		at   time.Time
	}
	queue := make(chan chunk, 1024)
	go func() {
		defer func() {
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			} else {
				_ = dst.Close()
			}
		}()
		for c := range queue {
			if d := time.Until(c.at); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.data); err != nil {
				for range queue {
				}
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			queue <- chunk{data: append([]byte(nil), buf[:n]...), at: time.Now().Add(p.delay() / 2)}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				_ = src.Close()
			}
			close(queue)
			return
		}
	}
}
