package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/portvakt/portvakt/internal/events"
)

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0). When a
// browser session ends, every client that was issued a code or a token in
// that session and registered a backchannel_logout_uri receives a logout
// token, posted server to server. When an account is disabled, every
// client holding live tokens of the person receives one too; when a person
// revokes an application's access, that application does; and when an
// account is erased, every client the erasure named in its event (the
// tokens themselves are gone by then).
//
// Delivery hangs on the outbox: BackchannelLogout is an events consumer,
// so a logout is sent even if the node that ended the session dies right
// after. Each logout token is sent a few times with a short back-off and
// then given up on; either way the outcome is recorded with an event
// (oidc.backchannel_logout_delivered or oidc.backchannel_logout_failed) in
// the same transaction as the delivery record, so a replayed event sends
// nothing twice and a broken client never stops the consumer.

// BackchannelConsumer names the back-channel logout consumer's checkpoint
// and lease. It must never change.
const BackchannelConsumer = "oidc-backchannel-logout"

// The back-channel logout event of a logout token (section 2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// Defaults of BackchannelLogout.
const (
	defaultBackchannelTimeout  = 5 * time.Second
	defaultBackchannelAttempts = 3
	defaultBackchannelBackoff  = time.Second
	defaultBackchannelParallel = 8
	logoutTokenTTL             = 2 * time.Minute
)

// SessionGrant is a client that holds tokens from a browser session.
type SessionGrant struct {
	ClientID string
	// SessionID is the session's ID as tokens record it (the first 16
	// hex digits of its digest), "" for tokens from no session.
	SessionID string
}

// BackchannelDelivery is the outcome of sending one logout token.
type BackchannelDelivery struct {
	// EventUUID is the event that caused the logout.
	EventUUID string
	ClientID  string
	// SID is the token's sid claim, "" for a token that names only the
	// user.
	SID       string
	Delivered bool
	// Attempts is how many times the token was posted (0 if it could not
	// be made).
	Attempts  int
	CreatedAt time.Time
}

// BackchannelStore is what back-channel logout needs from storage.
type BackchannelStore interface {
	// SessionClients returns the IDs of the clients that were issued a
	// code or a token for userID in the session sessionID, each once, in
	// order; none for an empty sessionID.
	SessionClients(ctx context.Context, userID, sessionID string) ([]string, error)
	// LiveGrants returns each distinct client and session of the user's
	// tokens that are live (neither used, revoked nor expired) at at, in
	// order.
	LiveGrants(ctx context.Context, userID string, at time.Time) ([]SessionGrant, error)
	// OrgSessionGrants returns each distinct client and session (never
	// "") of the user's tokens issued in the organization that were live
	// at at (revoked at at itself included), in order.
	OrgSessionGrants(ctx context.Context, userID, orgID string, at time.Time) ([]SessionGrant, error)
	// ClientSessionGrants returns each distinct session ("" for tokens
	// from none) of the user's tokens for the client that were live at at
	// (revoked at at itself included), in order.
	ClientSessionGrants(ctx context.Context, userID, clientID string, at time.Time) ([]SessionGrant, error)
	// BackchannelDeliveries returns the deliveries recorded for an event.
	BackchannelDeliveries(ctx context.Context, eventUUID string) ([]BackchannelDelivery, error)
	// RecordBackchannelDelivery records d and appends ev, in one
	// transaction. If a delivery with the same event, client and sid is
	// already recorded it changes nothing and appends nothing.
	RecordBackchannelDelivery(ctx context.Context, d BackchannelDelivery, ev events.Event) error
}

// BackchannelLogout sends logout tokens to clients when sessions end. Its
// Handle method is an events consumer; register it under
// BackchannelConsumer.
type BackchannelLogout struct {
	// Issuer is the issuer identifier, exactly as in tokens.
	Issuer  string
	Store   BackchannelStore
	Clients Clients
	Keys    Keys
	// Subject is the sub a client knows the user by. The default is the
	// user ID (public subjects); pairwise subjects replace it.
	Subject func(c Client, userID string) string
	// Timeout bounds each POST (default 5 s).
	Timeout time.Duration
	// Attempts is how many times a logout token is posted before it is
	// given up (default 3).
	Attempts int
	// Backoff is the wait before the second attempt, doubled before each
	// further one (default 1 s).
	Backoff time.Duration
	// Parallel is how many clients are sent to at once (default 8).
	Parallel int
	// Transport carries the requests (default http.DefaultTransport).
	Transport http.RoundTripper
	Logger    *slog.Logger
	Now       func() time.Time
}

// logoutTarget is one logout token to send: to a client, for a session or
// (with sid "") for the user as a whole.
type logoutTarget struct {
	client Client
	sid    string
}

func (t logoutTarget) key() string { return t.client.ID + "\x00" + t.sid }

// Handle sends the logout tokens an event calls for: on session.ended to
// the clients of that session, on user.disabled to the clients holding
// the user's live tokens, on oidc.grant_revoked to the one client whose
// tokens the person revoked, on membership.removed to the clients of the
// sessions in which the person held tokens for that organization (each
// with its sid: the person's sessions for other organizations, or none,
// go on), on user.deleted to the clients its data names (logout: client
// and sid, found before the erasure deleted the tokens). Other events are
// ignored. It returns an error only when storage
// fails or ctx ends, so that the event is retried; deliveries already
// recorded are not repeated.
func (b *BackchannelLogout) Handle(ctx context.Context, e events.Event) error {
	if e.Type == "membership.removed" {
		return b.handleLeaver(ctx, e)
	}
	userID, ok := strings.CutPrefix(e.Subject, "user:")
	if !ok || userID == "" {
		return nil
	}
	var targets []logoutTarget
	var err error
	switch e.Type {
	case "session.ended":
		var data struct {
			Session string `json:"session"`
		}
		if err := json.Unmarshal(e.Data, &data); err != nil {
			b.logger().WarnContext(ctx, "back-channel logout: unreadable session.ended event", "event", e.UUID, "error", err)
			return nil
		}
		sid, _ := strings.CutPrefix(data.Session, "session:")
		if sid == "" {
			return nil
		}
		targets, err = b.sessionTargets(ctx, userID, sid)
	case "user.disabled":
		targets, err = b.userTargets(ctx, userID, e.Time)
	case "user.deleted":
		var data struct {
			Logout []struct {
				ClientID string `json:"client_id"`
				SID      string `json:"sid"`
			} `json:"logout"`
		}
		if err := json.Unmarshal(e.Data, &data); err != nil {
			b.logger().WarnContext(ctx, "back-channel logout: unreadable user.deleted event", "event", e.UUID, "error", err)
			return nil
		}
		grants := make([]SessionGrant, 0, len(data.Logout))
		for _, g := range data.Logout {
			grants = append(grants, SessionGrant{ClientID: g.ClientID, SessionID: g.SID})
		}
		targets, err = b.grantTargets(ctx, grants)
	case "oidc.grant_revoked":
		var data struct {
			ClientID string `json:"client_id"`
		}
		if err := json.Unmarshal(e.Data, &data); err != nil || data.ClientID == "" {
			b.logger().WarnContext(ctx, "back-channel logout: unreadable oidc.grant_revoked event", "event", e.UUID)
			return nil
		}
		targets, err = b.clientTargets(ctx, userID, data.ClientID, e.Time)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("back-channel logout: %w", err)
	}
	return b.deliverAll(ctx, e, userID, targets)
}

// handleLeaver ends the sessions a person removed from an organization
// had at its applications.
func (b *BackchannelLogout) handleLeaver(ctx context.Context, e events.Event) error {
	orgID, ok := strings.CutPrefix(e.Subject, "org:")
	var data struct {
		UserID string `json:"user_id"`
	}
	if !ok || orgID == "" || json.Unmarshal(e.Data, &data) != nil || data.UserID == "" {
		b.logger().WarnContext(ctx, "back-channel logout: unreadable membership.removed event", "event", e.UUID)
		return nil
	}
	grants, err := b.Store.OrgSessionGrants(ctx, data.UserID, orgID, e.Time)
	if err != nil {
		return fmt.Errorf("back-channel logout: %w", err)
	}
	var targets []logoutTarget
	for _, g := range grants {
		c, ok, err := b.client(ctx, g.ClientID)
		if err != nil {
			return fmt.Errorf("back-channel logout: %w", err)
		}
		if ok {
			targets = append(targets, logoutTarget{client: c, sid: g.SessionID})
		}
	}
	return b.deliverAll(ctx, e, data.UserID, targets)
}

// deliverAll sends the logout tokens of targets not yet recorded for e.
func (b *BackchannelLogout) deliverAll(ctx context.Context, e events.Event, userID string, targets []logoutTarget) error {
	if len(targets) == 0 {
		return nil
	}
	done, err := b.Store.BackchannelDeliveries(ctx, e.UUID)
	if err != nil {
		return fmt.Errorf("back-channel logout: %w", err)
	}
	seen := map[string]bool{}
	for _, d := range done {
		seen[d.ClientID+"\x00"+d.SID] = true
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, b.parallel())
	)
	for _, t := range targets {
		if seen[t.key()] {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := b.send(ctx, e, userID, t); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("back-channel logout: %w", err)
	}
	return nil
}

// sessionTargets are the clients of a session that take back-channel
// logout: each gets a token with sid.
func (b *BackchannelLogout) sessionTargets(ctx context.Context, userID, sid string) ([]logoutTarget, error) {
	ids, err := b.Store.SessionClients(ctx, userID, sid)
	if err != nil {
		return nil, err
	}
	var out []logoutTarget
	for _, id := range ids {
		c, ok, err := b.client(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, logoutTarget{client: c, sid: sid})
		}
	}
	return out, nil
}

// userTargets are the logout tokens for every client holding live tokens
// of the user at at.
func (b *BackchannelLogout) userTargets(ctx context.Context, userID string, at time.Time) ([]logoutTarget, error) {
	grants, err := b.Store.LiveGrants(ctx, userID, at)
	if err != nil {
		return nil, err
	}
	return b.grantTargets(ctx, grants)
}

// clientTargets are the logout tokens that end one client's sessions of
// the user, whose grant to it was revoked at at: as for a disabled user,
// but only that client, and counting the tokens the revocation revoked.
func (b *BackchannelLogout) clientTargets(ctx context.Context, userID, clientID string, at time.Time) ([]logoutTarget, error) {
	grants, err := b.Store.ClientSessionGrants(ctx, userID, clientID, at)
	if err != nil {
		return nil, err
	}
	return b.grantTargets(ctx, grants)
}

// grantTargets are the logout tokens for the clients of grants that take
// back-channel logout: one naming only the user per client (which ends
// all the user's sessions there, section 2.6), or one per session for a
// client that requires sid.
func (b *BackchannelLogout) grantTargets(ctx context.Context, grants []SessionGrant) ([]logoutTarget, error) {
	var out []logoutTarget
	added := map[string]bool{}
	clients := map[string]*Client{}
	for _, g := range grants {
		c, looked := clients[g.ClientID]
		if !looked {
			found, ok, err := b.client(ctx, g.ClientID)
			if err != nil {
				return nil, err
			}
			if ok {
				c = &found
			}
			clients[g.ClientID] = c
		}
		if c == nil {
			continue
		}
		t := logoutTarget{client: *c}
		if c.BackchannelLogoutSessionRequired {
			if g.SessionID == "" {
				// A token from no session cannot be named by sid,
				// and this client accepts no token without one.
				continue
			}
			t.sid = g.SessionID
		}
		if !added[t.key()] {
			added[t.key()] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// client looks a client up and reports whether it takes back-channel
// logout. A client deleted since is skipped.
func (b *BackchannelLogout) client(ctx context.Context, id string) (Client, bool, error) {
	c, err := b.Clients.LookupClient(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Client{}, false, nil
	}
	if err != nil {
		return Client{}, false, fmt.Errorf("look up client %s: %w", id, err)
	}
	return c, c.BackchannelLogoutURI != "", nil
}

// send delivers one logout token and records the outcome. It returns an
// error only if the outcome could not be recorded or ctx ended first.
func (b *BackchannelLogout) send(ctx context.Context, e events.Event, userID string, t logoutTarget) error {
	log := b.logger().With("client_id", t.client.ID, "event", e.UUID)
	attempts, err := b.deliver(ctx, userID, t)
	if ctx.Err() != nil {
		// Shutting down: the event is handled again, by this node or
		// another, and nothing is recorded as failed meanwhile.
		return ctx.Err()
	}
	now := b.now()
	d := BackchannelDelivery{EventUUID: e.UUID, ClientID: t.client.ID, SID: t.sid, Delivered: err == nil, Attempts: attempts, CreatedAt: now}
	data := map[string]any{"client_id": t.client.ID, "event": e.UUID, "attempts": attempts}
	if t.sid != "" {
		data["session"] = "session:" + t.sid
	}
	typ := "oidc.backchannel_logout_delivered"
	if err != nil {
		typ = "oidc.backchannel_logout_failed"
		data["error"] = err.Error()
		log.WarnContext(ctx, "back-channel logout failed", "attempts", attempts, "error", err)
	}
	ev, everr := events.New(typ, "user:"+userID, "system:oidc", now, data)
	if everr != nil {
		return everr
	}
	if err := b.Store.RecordBackchannelDelivery(ctx, d, ev); err != nil {
		return fmt.Errorf("record delivery to %s: %w", t.client.ID, err)
	}
	return nil
}

// deliveryError is why a logout token was not accepted; retry says whether
// another attempt may succeed.
type deliveryError struct {
	reason string
	retry  bool
}

func (e *deliveryError) Error() string { return e.reason }

// deliver signs a logout token and posts it, retrying with back-off. It
// returns the number of attempts and the last failure.
func (b *BackchannelLogout) deliver(ctx context.Context, userID string, t logoutTarget) (int, error) {
	token, err := b.logoutToken(ctx, t, userID)
	if err != nil {
		return 0, err
	}
	client := b.httpClient()
	wait := b.Backoff
	if wait <= 0 {
		wait = defaultBackchannelBackoff
	}
	attempts := b.Attempts
	if attempts <= 0 {
		attempts = defaultBackchannelAttempts
	}
	for n := 1; ; n++ {
		err := post(ctx, client, t.client.BackchannelLogoutURI, token)
		var de *deliveryError
		if err == nil || n >= attempts || !errors.As(err, &de) || !de.retry {
			return n, err
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return n, err
		case <-timer.C:
		}
		wait *= 2
	}
}

// post sends logout_token to uri (section 2.5). 200 and 204 mean
// accepted; a redirect is not followed.
func post(ctx context.Context, client *http.Client, uri, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return &deliveryError{reason: "invalid back-channel logout URI"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := client.Do(req)
	if err != nil {
		reason := "request failed"
		var ue *url.Error
		switch {
		case errors.As(err, &ue) && ue.Timeout():
			reason = "timeout"
		case errors.As(err, &ue):
			reason = ue.Err.Error()
		}
		return &deliveryError{reason: reason, retry: true}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	_ = res.Body.Close()
	switch code := res.StatusCode; {
	case code == http.StatusOK || code == http.StatusNoContent:
		return nil
	case code >= 300 && code < 400:
		return &deliveryError{reason: fmt.Sprintf("redirect (status %d), not followed", code)}
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return &deliveryError{reason: fmt.Sprintf("status %d", code), retry: true}
	default:
		// 400 is the client refusing the token (section 2.8): sending
		// the same token again changes nothing.
		return &deliveryError{reason: fmt.Sprintf("status %d", code)}
	}
}

// logoutClaims are the claims of a logout token beyond the registered
// ones (section 2.4). It never has a nonce.
type logoutClaims struct {
	SID    string              `json:"sid,omitempty"`
	Events map[string]struct{} `json:"events"`
}

// logoutToken signs a logout token for t with the client's ID token
// algorithm.
func (b *BackchannelLogout) logoutToken(ctx context.Context, t logoutTarget, userID string) (string, error) {
	alg := jose.SignatureAlgorithm(t.client.IDTokenAlg)
	if alg == "" {
		alg = defaultIDTokenAlgo
	}
	key, err := b.Keys.Signer(ctx, alg)
	if err != nil {
		b.logger().ErrorContext(ctx, "back-channel logout: signing key", "alg", string(alg), "error", err)
		return "", &deliveryError{reason: fmt.Sprintf("no %s signing key", alg)}
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: key.SignatureAlgorithm(), Key: &jose.JSONWebKey{Key: key.Key(), KeyID: key.ID()}},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return "", &deliveryError{reason: fmt.Sprintf("%s signer: %v", alg, err)}
	}
	now := b.now()
	sub := userID
	if b.Subject != nil {
		sub = b.Subject(t.client, userID)
	}
	std := jwt.Claims{
		Issuer:   b.Issuer,
		Subject:  sub,
		Audience: jwt.Audience{t.client.ID},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(logoutTokenTTL)),
		ID:       newID(),
	}
	extra := logoutClaims{SID: t.sid, Events: map[string]struct{}{backchannelLogoutEvent: {}}}
	raw, err := jwt.Signed(signer).Claims(std).Claims(extra).Serialize()
	if err != nil {
		return "", &deliveryError{reason: fmt.Sprintf("sign: %v", err)}
	}
	return raw, nil
}

// httpClient posts with a timeout and never follows redirects: a logout
// token goes to the registered URI or nowhere.
func (b *BackchannelLogout) httpClient() *http.Client {
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = defaultBackchannelTimeout
	}
	return &http.Client{
		Transport:     b.Transport,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (b *BackchannelLogout) parallel() int {
	if b.Parallel > 0 {
		return b.Parallel
	}
	return defaultBackchannelParallel
}

func (b *BackchannelLogout) now() time.Time {
	if b.Now != nil {
		return b.Now().UTC()
	}
	return time.Now().UTC()
}

func (b *BackchannelLogout) logger() *slog.Logger {
	if b.Logger != nil {
		return b.Logger
	}
	return slog.New(slog.DiscardHandler)
}
