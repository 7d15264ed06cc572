package testenv

import (
	"net"
	"sync"
	"sync/atomic"
)

// StallingServer accepts TCP connections and never answers: an API server
// (or registry) that hangs, for tests of --timeout.
type StallingServer struct {
	// Addr is 127.0.0.1:PORT.
	Addr string

	ln       net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

// NewStallingServer starts one on loopback.
func NewStallingServer() *StallingServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := &StallingServer{Addr: ln.Addr().String(), ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}()
	return s
}

// Accepted is how many connections it took.
func (s *StallingServer) Accepted() int { return int(s.accepted.Load()) }

// Close stops it and drops the connections.
func (s *StallingServer) Close() {
	_ = s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
}
