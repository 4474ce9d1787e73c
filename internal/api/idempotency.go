package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Idempotency: a POST with an Idempotency-Key header is served once per
// client and key. The first request is recorded before it is served and its
// answer after; a retry with the same key and the same request gets the
// recorded answer (with Idempotent-Replayed: true) instead of doing the work
// again, so a CRM that retries after a timeout never invites twice. The
// same key with another request is refused (422), as is a retry while the
// first is still being served (409). An answer that is a server error is
// not kept: the request may be tried again with the key. Keys are kept for
// IdempotencyTTL.

// IdempotencyTTL is how long an Idempotency-Key is remembered.
const IdempotencyTTL = 24 * time.Hour

// ErrIdempotencyInProgress means a request with the key is being served.
var ErrIdempotencyInProgress = errors.New("a request with this Idempotency-Key is being served")

// IdempotentRequest is a request made with an Idempotency-Key and, once
// served, its answer.
type IdempotentRequest struct {
	ClientID    string
	Key         string
	RequestHash string
	// Status is 0 while the request is being served.
	Status    int
	Location  string
	ETag      string
	Body      []byte
	CreatedAt time.Time
}

// IdempotencyStore keeps idempotent requests.
type IdempotencyStore interface {
	// StartIdempotent records r as being served, unless the client has
	// used the key within the TTL: then it returns that request (served
	// or not) and true. Expired keys are replaced.
	StartIdempotent(ctx context.Context, r IdempotentRequest, ttl time.Duration) (IdempotentRequest, bool, error)
	// FinishIdempotent records the answer of r.
	FinishIdempotent(ctx context.Context, r IdempotentRequest) error
	// AbandonIdempotent forgets the key, so that it may be used again.
	AbandonIdempotent(ctx context.Context, clientID, key string) error
}

// recorder keeps what a handler answered.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// idempotent serves a POST through serve at most once per client and
// Idempotency-Key (see above). body is the request's body, already read.
func (h *Handler) idempotent(w http.ResponseWriter, r *http.Request, c caller, body []byte, serve func(w http.ResponseWriter)) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" || h.Idempotency == nil {
		serve(w)
		return
	}
	if len(key) > 255 {
		h.problem(w, r, errBadIdempotencyKey)
		return
	}
	sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
	req := IdempotentRequest{ClientID: c.clientID, Key: key, RequestHash: hex.EncodeToString(sum[:]), CreatedAt: h.now()}
	prev, seen, err := h.Idempotency.StartIdempotent(r.Context(), req, IdempotencyTTL)
	switch {
	case err != nil:
		h.fail(w, r, err)
		return
	case seen && prev.RequestHash != req.RequestHash:
		h.problem(w, r, errIdempotencyKeyReused)
		return
	case seen && prev.Status == 0:
		h.problem(w, r, errIdempotencyInProgress)
		return
	case seen:
		if prev.Location != "" {
			w.Header().Set("Location", prev.Location)
		}
		if prev.ETag != "" {
			w.Header().Set("ETag", prev.ETag)
		}
		w.Header().Set("Content-Type", contentType(prev.Status))
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(prev.Status)
		_, _ = w.Write(prev.Body)
		return
	}
	rec := &recorder{ResponseWriter: w}
	serve(rec)
	ctx := context.WithoutCancel(r.Context())
	if rec.status >= 500 || rec.status == 0 {
		if err := h.Idempotency.AbandonIdempotent(ctx, c.clientID, key); err != nil {
			h.Logger.ErrorContext(ctx, "forget an idempotency key", "error", err)
		}
		return
	}
	req.Status, req.Location, req.ETag, req.Body = rec.status, w.Header().Get("Location"), w.Header().Get("ETag"), rec.body.Bytes()
	if err := h.Idempotency.FinishIdempotent(ctx, req); err != nil {
		h.Logger.ErrorContext(ctx, "record an idempotent answer", "error", err, "status", strconv.Itoa(rec.status))
	}
}

// contentType is the media type of a recorded answer with status.
func contentType(status int) string {
	if status >= 400 {
		return problemType
	}
	return "application/json"
}
