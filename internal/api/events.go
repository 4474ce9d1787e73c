package api

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// ScopeEventsRead reads the event stream.
const ScopeEventsRead = "portvakt:events:read"

// Events reads the event log.
type Events interface {
	QueryEvents(ctx context.Context, q events.Query) ([]events.Event, error)
}

// eventOut is an event as the API shows it.
type eventOut struct {
	ID       string          `json:"id"`
	Position int64           `json:"position"`
	Type     string          `json:"type"`
	Subject  string          `json:"subject"`
	Actor    string          `json:"actor"`
	Time     time.Time       `json:"time"`
	Data     json.RawMessage `json:"data"`
}

type eventPage struct {
	Items []eventOut `json:"items"`
	// After is the position to read on from: the last one of this page,
	// or the one asked for when the page is empty.
	After int64 `json:"after"`
}

var eventFilter = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$`)

// listEvents: GET /api/v1/events?after=&type=&subject=&limit= reads the
// event log in order, from after a position: a system that missed
// webhooks, or keeps no endpoint, catches up here.
func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	var fields []fieldProblem
	query := events.Query{Limit: defaultPageSize, Subject: q.Get("subject")}
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			fields = append(fields, fieldProblem{"after", "invalid", "must be a position (a whole number, 0 for the start)"})
		}
		query.After = n
	}
	query.Limit, fields = limitParam(q, fields)
	for _, t := range q["type"] {
		switch {
		case !eventFilter.MatchString(t):
			fields = append(fields, fieldProblem{"type", "invalid", strconv.Quote(t) + " is not an event type such as user.updated, or a kind such as user.*"})
		case strings.HasSuffix(t, ".*"):
			query.Prefixes = append(query.Prefixes, strings.TrimSuffix(t, "*"))
		default:
			query.Types = append(query.Types, t)
		}
	}
	if len(fields) > 0 {
		p := errInvalid
		p.fields = fields
		h.problem(w, r, p)
		return
	}
	if c.org != "" {
		// The organization's own events only.
		if query.Subject != "" && query.Subject != "org:"+c.org {
			h.problem(w, r, errOrgLimited.with("A client limited to one organization reads that organization's events (subject org:<its ID>) only."))
			return
		}
		query.Subject = "org:" + c.org
	}
	list, err := h.Events.QueryEvents(r.Context(), query)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := eventPage{Items: make([]eventOut, 0, len(list)), After: query.After}
	for _, e := range list {
		data := e.Data
		if len(data) == 0 {
			data = json.RawMessage(`{}`)
		}
		out.Items = append(out.Items, eventOut{ID: e.UUID, Position: e.Position, Type: e.Type, Subject: e.Subject, Actor: e.Actor, Time: e.Time, Data: data})
		out.After = e.Position
	}
	writeJSON(w, http.StatusOK, out)
}
