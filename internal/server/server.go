package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portvakt/portvakt/internal/request"
)

// Mounter is a surface (hosted pages, protocol endpoints, an API) that adds
// its routes to the mux.
type Mounter interface {
	Mount(mux *http.ServeMux)
}

// Config is what the server needs.
type Config struct {
	// Issuer is the public URL; an https issuer turns on HSTS.
	Issuer *url.URL
	// TrustedProxies may set X-Forwarded-For and X-Request-ID.
	TrustedProxies []netip.Prefix
	// MaxRequestBytes caps request bodies (default 1 MiB).
	MaxRequestBytes int64
	// ShutdownTimeout bounds the drain of in-flight requests (default 15s).
	ShutdownTimeout time.Duration
	// Logger receives the access log and errors.
	Logger *slog.Logger
	// Registry collects metrics; /metrics serves it.
	Registry *prometheus.Registry
	// Ready reports whether the node can serve: database reachable,
	// migrations applied.
	Ready func(ctx context.Context) error
}

// Server serves Portvakt over HTTP.
type Server struct {
	cfg     Config
	handler http.Handler
	metrics *httpMetrics
}

// New builds the server with the given surfaces mounted.
func New(cfg Config, surfaces ...Mounter) (*Server, error) {
	if cfg.Issuer == nil {
		return nil, errors.New("server: no issuer")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 1 << 20
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	m, err := newHTTPMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, metrics: m}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry}))
	for _, sf := range surfaces {
		sf.Mount(mux)
	}
	// Outermost first: identify the request, recover panics, log and
	// measure, set headers, limit the body.
	var h http.Handler = mux
	h = limitBody(cfg.MaxRequestBytes, h)
	h = securityHeaders(cfg.Issuer.Scheme == "https", h)
	h = s.observe(h)
	h = s.recoverPanics(h)
	h = request.Identify{TrustedProxies: cfg.TrustedProxies}.Wrap(h)
	s.handler = h
	return s, nil
}

// Handler returns the composed handler, for tests.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx ends, then stops accepting connections,
// waits for in-flight requests up to the shutdown timeout and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.cfg.Logger.Info("shutting down: draining in-flight requests", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.cfg.Logger.WarnContext(r.Context(), "not ready", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
