package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// metricsServer serves /metrics on a listener of its own, so that the
// monitoring system can reach it and the public cannot: bind it to loopback
// or to an internal interface.
type metricsServer struct {
	addr   net.Addr
	server *http.Server
	done   chan struct{}
}

// listenMetrics starts serving h on addr; an empty addr serves nothing and
// returns nil.
func listenMetrics(addr string, h http.Handler, logger *slog.Logger) (*metricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	m := &metricsServer{
		addr: ln.Addr(),
		server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", "err", err)
		}
	}()
	return m, nil
}

// close stops the metrics server; a scrape under way gets a few seconds.
func (m *metricsServer) close() {
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.server.Shutdown(ctx)
	<-m.done
}
