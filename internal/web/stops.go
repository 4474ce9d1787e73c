package web

import (
	"context"
	"net/url"
	"strings"
)

// A stop is a page a person passes on the way from signing in to where
// they were going: terms whose new version they have not accepted yet, a
// profile to confirm. Each feature that needs one adds it to the handler's
// stops when it is configured. A stop's page sends the browser on to its
// return_to when done, where the next stop (if any) is found the same way.
type stop struct {
	// Name identifies the stop in logs.
	Name string
	// EveryRequest makes the stop hold back every application's answer
	// (each authorization request, also with a session already there),
	// not only a sign-in.
	EveryRequest bool
	// Pending returns the path of the stop's page (with a query of its
	// own, if it needs one) when userID must pass it before going on
	// (clientID is the application asking, "" at a sign-in to the account
	// pages), or "".
	Pending func(ctx context.Context, userID, clientID string) (string, error)
}

// addStop makes s part of every sign-in (and, with EveryRequest, of every
// authorization request).
func (h *Handler) addStop(s stop) { h.stops = append(h.stops, s) }

// nextStop is where a person who just signed in goes before next: the
// first pending stop's page, with next as its return_to, or next itself.
func (h *Handler) nextStop(ctx context.Context, userID, clientID, next string) (string, error) {
	return h.firstStop(ctx, userID, clientID, next, false)
}

// Pending implements the provider's check before it answers an
// application for a person already signed in: the first stop that holds
// back every request, as a local URL returning to next, or "".
func (h *Handler) Pending(ctx context.Context, userID, clientID, next string) (string, error) {
	u, err := h.firstStop(ctx, userID, clientID, next, true)
	if err != nil || u == next {
		return "", err
	}
	return u, nil
}

func (h *Handler) firstStop(ctx context.Context, userID, clientID, next string, everyRequest bool) (string, error) {
	for _, s := range h.stops {
		if everyRequest && !s.EveryRequest {
			continue
		}
		path, err := s.Pending(ctx, userID, clientID)
		if err != nil {
			return "", err
		}
		if path != "" {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			return path + sep + url.Values{"return_to": {next}}.Encode(), nil
		}
	}
	return next, nil
}
