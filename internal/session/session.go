// Package session owns sign-in sessions: server-side records keyed by a
// random 256-bit ID that only the browser's cookie holds (the database keeps
// its SHA-256 digest), with idle and absolute timeouts, rotation at sign-in,
// and the facts OpenID Connect needs later: authentication time, methods
// (amr) and level of assurance (acr).
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/request"
)

// ErrNotFound means there is no such session (or it has ended).
var ErrNotFound = errors.New("session not found")

// Session is a signed-in browser.
type Session struct {
	// IDHash is the SHA-256 of the cookie value, hex; the raw ID is never
	// stored.
	IDHash     string
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	// AuthTime is when the user last authenticated in this session.
	AuthTime time.Time
	// Methods are the authentication methods used (RFC 8176 amr values).
	Methods []string
	// ACR is the level of assurance reached.
	ACR string
	// ExpiresAt is the absolute end of the session.
	ExpiresAt time.Time
	ClientIP  string
	UserAgent string
}

// Subject names the session in events without revealing its ID.
func (s Session) Subject() string { return "session:" + s.IDHash[:16] }

// Store keeps sessions.
type Store interface {
	// CreateSession stores s with its events, deleting the session whose
	// hash is replaces (if any) in the same transaction.
	CreateSession(ctx context.Context, s Session, replaces string, evs ...events.Event) error
	// SessionByHash returns the session or ErrNotFound.
	SessionByHash(ctx context.Context, idHash string) (Session, error)
	// TouchSession records activity at at.
	TouchSession(ctx context.Context, idHash string, at time.Time) error
	// DeleteSession ends the session, writing evs; no error if it is gone.
	DeleteSession(ctx context.Context, idHash string, evs ...events.Event) error
	// SessionsOf returns the user's sessions, the most recently seen
	// first.
	SessionsOf(ctx context.Context, userID string) ([]Session, error)
}

// Manager issues, reads and ends sessions through cookies.
type Manager struct {
	Store Store
	// Secure is true when the issuer is https: the cookie is then Secure
	// and carries the __Host- prefix.
	Secure bool
	// IdleTimeout ends a session unused this long (default 8h).
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after sign-in (default 7 days).
	AbsoluteTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// touchEvery limits last-seen writes to one a minute per session.
const touchEvery = time.Minute

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Manager) idle() time.Duration {
	if m.IdleTimeout > 0 {
		return m.IdleTimeout
	}
	return 8 * time.Hour
}

func (m *Manager) absolute() time.Duration {
	if m.AbsoluteTimeout > 0 {
		return m.AbsoluteTimeout
	}
	return 7 * 24 * time.Hour
}

// CookieName is the session cookie's name.
func (m *Manager) CookieName() string {
	if m.Secure {
		return "__Host-portvakt_session"
	}
	return "portvakt_session"
}

// Hash returns the stored form of a session ID.
func Hash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// Start signs userID in: it ends the browser's current session, if any, and
// issues a new ID (so an ID planted before sign-in is worthless), stores the
// session with evs and sets the cookie.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string, methods []string, acr string, evs ...events.Event) (Session, error) {
	replaces := ""
	if c, err := r.Cookie(m.CookieName()); err == nil && c.Value != "" {
		replaces = Hash(c.Value)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	id := base64.RawURLEncoding.EncodeToString(raw)
	now := m.now()
	s := Session{
		IDHash:     Hash(id),
		UserID:     userID,
		CreatedAt:  now,
		LastSeenAt: now,
		AuthTime:   now,
		Methods:    methods,
		ACR:        acr,
		ExpiresAt:  now.Add(m.absolute()),
		ClientIP:   clientIP(r),
		UserAgent:  truncate(r.UserAgent(), 255),
	}
	started, err := events.New("session.started", "user:"+userID, "user:"+userID, now,
		map[string]any{"session": s.Subject(), "methods": methods, "acr": acr, "client_ip": s.ClientIP})
	if err != nil {
		return Session{}, err
	}
	if err := m.Store.CreateSession(ctx, s, replaces, append(evs, started)...); err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	http.SetCookie(w, m.cookie(id, s.ExpiresAt))
	return s, nil
}

// Current returns the browser's session if it has a live one. An expired
// session is deleted and reported as absent.
func (m *Manager) Current(ctx context.Context, r *http.Request) (Session, bool, error) {
	c, err := r.Cookie(m.CookieName())
	if err != nil || c.Value == "" {
		return Session{}, false, nil
	}
	h := Hash(c.Value)
	s, err := m.Store.SessionByHash(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, err
	}
	now := m.now()
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= m.idle() {
		ev, err := events.New("session.expired", "user:"+s.UserID, "system:session", now, map[string]any{"session": s.Subject()})
		if err != nil {
			return Session{}, false, err
		}
		return Session{}, false, m.Store.DeleteSession(ctx, h, ev)
	}
	if now.Sub(s.LastSeenAt) >= touchEvery {
		if err := m.Store.TouchSession(ctx, h, now); err != nil {
			return Session{}, false, err
		}
		s.LastSeenAt = now
	}
	return s, true, nil
}

// End signs the browser out: the session is deleted with evs and the cookie
// cleared. Without a session it only clears the cookie.
func (m *Manager) End(ctx context.Context, w http.ResponseWriter, r *http.Request, evs ...events.Event) error {
	if c, err := r.Cookie(m.CookieName()); err == nil && c.Value != "" {
		if err := m.Store.DeleteSession(ctx, Hash(c.Value), evs...); err != nil {
			return fmt.Errorf("end session: %w", err)
		}
	}
	c := m.cookie("", time.Time{})
	c.MaxAge = -1
	http.SetCookie(w, c)
	return nil
}

func (m *Manager) cookie(value string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name:     m.CookieName(),
		Value:    value,
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,
		Secure:   m.Secure,
		SameSite: http.SameSiteLaxMode,
	}
}

func clientIP(r *http.Request) string {
	if ip := request.ClientIP(r.Context()); ip.IsValid() {
		return ip.String()
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
