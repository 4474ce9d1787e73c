package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/consents"
)

// consentsOut is a person's consents as the API shows them: where each
// purpose stands, and every receipt, oldest first.
type consentsOut struct {
	Consents []consentOut `json:"consents"`
	Receipts []receiptOut `json:"receipts"`
}

// consentOut is one purpose as it stands for the person.
type consentOut struct {
	Purpose  string   `json:"purpose"`
	Required bool     `json:"required"`
	Clients  []string `json:"clients"`
	Granted  bool     `json:"granted"`
	// Version and At are those of the person's last decision, if any.
	Version string     `json:"version,omitempty"`
	At      *time.Time `json:"at,omitempty"`
	// CurrentVersion is the version in effect; UpToDate says it is given.
	CurrentVersion string `json:"current_version,omitempty"`
	UpToDate       bool   `json:"up_to_date"`
	// NextVersion takes effect at NextEffective.
	NextVersion   string     `json:"next_version,omitempty"`
	NextEffective *time.Time `json:"next_effective,omitempty"`
}

// receiptOut is one grant or withdrawal.
type receiptOut struct {
	ID       string    `json:"id"`
	Purpose  string    `json:"purpose"`
	Version  string    `json:"version"`
	Action   string    `json:"action"`
	At       time.Time `json:"at"`
	Channel  string    `json:"channel"`
	ClientID string    `json:"client_id"`
	Actor    string    `json:"actor"`
	Method   string    `json:"method"`
}

// consentIn records a decision made elsewhere (a CRM's form, a call).
type consentIn struct {
	Purpose string `json:"purpose"`
	// Action is granted or withdrawn.
	Action string `json:"action"`
	// Version is the version given (the one in effect; "" for it).
	Version string `json:"version"`
	// ClientID is the application the decision concerns, if any.
	ClientID string `json:"client_id"`
	// Method is how it was made, such as paper_form (default api).
	Method string `json:"method"`
}

// getConsents: GET /api/v1/users/{id}/consents.
func (h *Handler) getConsents(w http.ResponseWriter, r *http.Request, c caller) {
	u, ok := h.user(w, r, c)
	if !ok {
		return
	}
	h.writeConsents(w, r, u.ID)
}

// recordConsent: POST /api/v1/users/{id}/consents records a grant or a
// withdrawal as a receipt of channel api, by the calling client, with its
// event; recording what is already so writes nothing. It answers as GET.
func (h *Handler) recordConsent(w http.ResponseWriter, r *http.Request, c caller) {
	var in consentIn
	if _, done := h.readJSON(w, r, &in); done {
		return
	}
	u, ok := h.user(w, r, c)
	if !ok {
		return
	}
	var fields []fieldProblem
	if in.Action != string(consents.Granted) && in.Action != string(consents.Withdrawn) {
		fields = append(fields, fieldProblem{"action", "invalid", "is granted or withdrawn"})
	}
	if len(in.ClientID) > 255 {
		fields = append(fields, fieldProblem{"client_id", "too_long", "is longer than 255 characters"})
	}
	if len(fields) > 0 {
		p := errInvalid
		p.fields = fields
		h.problem(w, r, p)
		return
	}
	d := consents.Decision{Purpose: in.Purpose, Version: strings.TrimSpace(in.Version), Grant: in.Action == string(consents.Granted)}
	via := consents.Via{Channel: consents.ChannelAPI, ClientID: strings.TrimSpace(in.ClientID), Actor: c.actor(), Method: in.Method}
	if _, err := h.Consents.Record(r.Context(), u.ID, []consents.Decision{d}, via); err != nil {
		h.domainProblem(w, r, err, domainErrors{
			field: func(e error) (fieldProblem, bool) {
				var fe consents.FieldError
				ok := errors.As(e, &fe)
				return fieldProblem{Field: fe.Field, Code: fe.Code, Message: fe.Message}, ok
			},
			notFound: consents.ErrNotFound, notFoundDetail: "There is no user with this ID.",
		})
		return
	}
	h.wake()
	h.writeConsents(w, r, u.ID)
}

// writeConsents answers with userID's consents and receipts.
func (h *Handler) writeConsents(w http.ResponseWriter, r *http.Request, userID string) {
	ctx := r.Context()
	overview, err := h.Consents.Overview(ctx, userID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	receipts, err := h.Consents.Receipts(ctx, userID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := consentsOut{Consents: []consentOut{}, Receipts: []receiptOut{}}
	for _, st := range overview {
		o := consentOut{Purpose: st.Purpose.ID, Required: st.Purpose.Required, Clients: st.Purpose.Clients, UpToDate: st.UpToDate}
		if o.Clients == nil {
			o.Clients = []string{}
		}
		if st.Decided {
			at := st.State.At
			o.Granted, o.Version, o.At = st.State.Granted, st.State.Version, &at
		}
		if st.HasCurrent {
			o.CurrentVersion = st.Current.Label
		}
		if st.HasNext {
			at := st.Next.Effective
			o.NextVersion, o.NextEffective = st.Next.Label, &at
		}
		out.Consents = append(out.Consents, o)
	}
	for _, rc := range receipts {
		out.Receipts = append(out.Receipts, receiptOut{ID: rc.ID, Purpose: rc.Purpose, Version: rc.Version, Action: string(rc.Action),
			At: rc.At, Channel: string(rc.Channel), ClientID: rc.ClientID, Actor: rc.Actor, Method: rc.Method})
	}
	writeJSON(w, http.StatusOK, out)
}
