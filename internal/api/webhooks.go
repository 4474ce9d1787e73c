package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/portvakt/portvakt/internal/webhooks"
)

// Scopes of webhook subscriptions.
const (
	ScopeWebhooksRead  = "portvakt:webhooks:read"
	ScopeWebhooksWrite = "portvakt:webhooks:write"
)

// webhookOut is a subscription as the API shows it: never its secrets,
// except Secret in the answers that made one (creation, rotation).
type webhookOut struct {
	ID                    string     `json:"id"`
	URL                   string     `json:"url"`
	Description           string     `json:"description"`
	EventTypes            []string   `json:"event_types"`
	Enabled               bool       `json:"enabled"`
	PausedAt              *time.Time `json:"paused_at,omitempty"`
	PauseReason           string     `json:"pause_reason,omitempty"`
	PreviousSecretExpires *time.Time `json:"previous_secret_expires_at,omitempty"`
	Secret                string     `json:"secret,omitempty"`
	CreatedAt             time.Time  `json:"created_at"`
	UpdatedAt             time.Time  `json:"updated_at"`
}

func webhookView(s webhooks.Subscription, secret string) webhookOut {
	out := webhookOut{ID: s.ID, URL: s.URL, Description: s.Description, EventTypes: s.EventTypes, Enabled: s.Enabled,
		PauseReason: s.PauseReason, Secret: secret, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	if s.Paused() {
		t := s.PausedAt
		out.PausedAt = &t
	}
	if len(s.PreviousSecret) > 0 && !s.PreviousExpiresAt.IsZero() {
		t := s.PreviousExpiresAt
		out.PreviousSecretExpires = &t
	}
	return out
}

type deliveryOut struct {
	ID            string          `json:"id"`
	Subscription  string          `json:"subscription_id"`
	EventID       string          `json:"event_id"`
	EventType     string          `json:"event_type"`
	Subject       string          `json:"subject"`
	Status        string          `json:"status"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	Payload       json.RawMessage `json:"payload"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

func deliveryView(d webhooks.Delivery) deliveryOut {
	out := deliveryOut{ID: d.ID, Subscription: d.SubscriptionID, EventID: d.EventUUID, EventType: d.EventType, Subject: d.Subject,
		Status: string(d.Status), Attempts: d.Attempts, LastError: d.LastError, Payload: d.Payload, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.Status == webhooks.StatusPending && !d.NextAttemptAt.IsZero() {
		t := d.NextAttemptAt
		out.NextAttemptAt = &t
	}
	if len(out.Payload) == 0 {
		out.Payload = json.RawMessage(`{}`)
	}
	return out
}

type attemptOut struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"`
	LatencyMS  int64     `json:"latency_ms"`
	Response   string    `json:"response"`
	Error      string    `json:"error"`
}

// webhookProblem answers the webhooks service's errors.
func (h *Handler) webhookProblem(w http.ResponseWriter, r *http.Request, err error) {
	h.domainProblem(w, r, err, domainErrors{
		field: func(e error) (fieldProblem, bool) {
			var fe webhooks.FieldError
			ok := errors.As(e, &fe)
			return fieldProblem{Field: fe.Field, Code: "invalid", Message: fe.Message}, ok
		},
		notFound: webhooks.ErrNotFound, conflict: webhooks.ErrConflict,
		notFoundDetail: "There is no such webhook subscription or delivery.", conflictDetail: err.Error(),
	})
}

// webhooksAllowed refuses a client limited to one organization: a
// subscription sees every event of the deployment.
func (h *Handler) webhooksAllowed(w http.ResponseWriter, r *http.Request, c caller) bool {
	if c.org != "" {
		h.problem(w, r, errOrgLimited.with("Webhook subscriptions receive the whole deployment's events."))
		return false
	}
	if h.Webhooks == nil {
		h.problem(w, r, errNoRoute)
		return false
	}
	return true
}

func (h *Handler) listWebhooks(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.webhooksAllowed(w, r, c) {
		return
	}
	subs, err := h.Webhooks.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]webhookOut, 0, len(subs))
	for _, s := range subs {
		out = append(out, webhookView(s, ""))
	}
	writeJSON(w, http.StatusOK, page[webhookOut]{Items: out})
}

type webhookIn struct {
	URL         string   `json:"url"`
	Description string   `json:"description"`
	EventTypes  []string `json:"event_types"`
	Enabled     *bool    `json:"enabled"`
}

func (h *Handler) createWebhook(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.webhooksAllowed(w, r, c) {
		return
	}
	// Not idempotent by key: the answer holds the secret, which is never
	// kept (a recorded answer to replay would keep it).
	var in webhookIn
	if _, done := h.readJSON(w, r, &in); done {
		return
	}
	enabled := in.Enabled == nil || *in.Enabled
	sub, secret, err := h.Webhooks.Create(r.Context(), webhooks.Subscription{URL: in.URL, Description: in.Description,
		EventTypes: in.EventTypes, Enabled: enabled}, c.actor())
	if err != nil {
		h.webhookProblem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/webhooks/"+sub.ID)
	writeJSON(w, http.StatusCreated, webhookView(sub, secret))
}

func (h *Handler) getWebhook(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.webhooksAllowed(w, r, c) {
		return
	}
	sub, err := h.Webhooks.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.webhookProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookView(sub, ""))
}

type webhookPatch struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	EventTypes  *[]string `json:"event_types"`
	Enabled     *bool     `json:"enabled"`
}

func (h *Handler) patchWebhook(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.webhooksAllowed(w, r, c) {
		return
	}
	var in webhookPatch
	if _, done := h.readJSON(w, r, &in); done {
		return
	}
	sub, err := h.Webhooks.Update(r.Context(), r.PathValue("id"), webhooks.Change{URL: in.URL, Description: in.Description,
		EventTypes: in.EventTypes, Enabled: in.Enabled}, c.actor())
	if err != nil {
		h.webhookProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookView(sub, ""))
}

func (h *Handler) deleteWebhook(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.webhooksAllowed(w, r, c) {
		return
	}
	if err := h.Webhooks.Delete(r.Context(), r.PathValue("id"), c.actor()); err != nil {
		h.webhookProblem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) rotateWebhookSecret(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.webhooksAllowed(w, r, c) {
		return
	}
	overlap, ok := h.rotation(w, r, 24*time.Hour)
	if !ok {
		return
	}
	sub, secret, err := h.Webhooks.RotateSecret(r.Context(), r.PathValue("id"), overlap, c.actor())
	if err != nil {
		h.webhookProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookView(sub, secret))
}

func (h *Handler) listDeliveries(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.webhooksAllowed(w, r, c) {
		return
	}
	q := r.URL.Query()
	status := webhooks.Status(q.Get("status"))
	var fields []fieldProblem
	var limit int
	if status != "" && !status.Valid() {
		fields = append(fields, fieldProblem{"status", "invalid", "is not pending, delivered or dead"})
	}
	limit, fields = limitParam(q, fields)
	if len(fields) > 0 {
		p := errInvalid
		p.fields = fields
		h.problem(w, r, p)
		return
	}
	if _, err := h.Webhooks.Get(r.Context(), r.PathValue("id")); err != nil {
		h.webhookProblem(w, r, err)
		return
	}
	list, err := h.Webhooks.Deliveries(r.Context(), r.PathValue("id"), status, limit)
	if err != nil {
		h.webhookProblem(w, r, err)
		return
	}
	out := make([]deliveryOut, 0, len(list))
	for _, d := range list {
		out = append(out, deliveryView(d))
	}
	writeJSON(w, http.StatusOK, page[deliveryOut]{Items: out})
}

func (h *Handler) listAttempts(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.webhooksAllowed(w, r, c) {
		return
	}
	d, err := h.Webhooks.Delivery(r.Context(), r.PathValue("delivery"))
	if err == nil && d.SubscriptionID != r.PathValue("id") {
		err = webhooks.ErrNotFound
	}
	if err != nil {
		h.webhookProblem(w, r, err)
		return
	}
	list, err := h.Webhooks.Attempts(r.Context(), d.ID)
	if err != nil {
		h.webhookProblem(w, r, err)
		return
	}
	out := make([]attemptOut, 0, len(list))
	for _, a := range list {
		out = append(out, attemptOut{At: a.At, StatusCode: a.StatusCode, LatencyMS: a.Latency.Milliseconds(), Response: a.Response, Error: a.Error})
	}
	writeJSON(w, http.StatusOK, page[attemptOut]{Items: out})
}

func (h *Handler) replayDelivery(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.webhooksAllowed(w, r, c) {
		return
	}
	d, err := h.Webhooks.Delivery(r.Context(), r.PathValue("delivery"))
	if err == nil && d.SubscriptionID != r.PathValue("id") {
		err = webhooks.ErrNotFound
	}
	if err == nil {
		err = h.Webhooks.Replay(r.Context(), d.ID, c.actor())
	}
	if err != nil {
		h.webhookProblem(w, r, err)
		return
	}
	h.wake()
	w.WriteHeader(http.StatusAccepted)
}

func (h *Handler) replayDead(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.webhooksAllowed(w, r, c) {
		return
	}
	n, err := h.Webhooks.ReplayDead(r.Context(), r.PathValue("id"), c.actor())
	if err != nil {
		h.webhookProblem(w, r, err)
		return
	}
	h.wake()
	writeJSON(w, http.StatusAccepted, map[string]int{"replayed": n})
}
