package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/portvakt/portvakt/internal/consents"
)

// The privacy page (/account/privacy): every purpose with where the person
// stands — given (which version, when), withdrawn or never given — and
// its document. Optional purposes are given and withdrawn with one button
// each, the same way; a required one says that it goes only with the
// account. Below, the person's consent history: every receipt.

// receiptView is one receipt in the history.
type receiptView struct {
	Date, Purpose, Version, Action, Where string
}

func (h *Handler) showPrivacy(w http.ResponseWriter, r *http.Request) {
	u, ok := h.signedIn(w, r)
	if !ok || !h.accountReady(w, r, u, "/account/privacy") {
		return
	}
	ctx := r.Context()
	p := h.accountPage(w, r, u)
	p.Title = p.T("privacy.title")
	doneMessage(r, p)
	overview, err := h.Consents.Overview(ctx, u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, st := range overview {
		v := h.purposeView(p, st.Purpose, st.Current, st.HasCurrent, st.State, st.Decided)
		if st.HasNext {
			v.Next, v.HasNext = h.docView(st.Next, p.Lang), true
		}
		if !st.HasCurrent && !st.Decided {
			continue // announced, not yet in effect: nothing to decide
		}
		switch {
		case !st.Decided:
			v.Status = p.T("privacy.status.never")
		case st.State.Granted:
			v.Status = p.TF("privacy.status.granted", "Version", st.State.Version, "Date", st.State.At.Format("2006-01-02"))
		default:
			v.Status = p.TF("privacy.status.withdrawn", "Version", st.State.Version, "Date", st.State.At.Format("2006-01-02"))
		}
		if v.Apps, err = h.appNames(ctx, st.Purpose.Clients); err != nil {
			h.fail(w, r, err)
			return
		}
		p.Purposes = append(p.Purposes, v)
	}
	receipts, err := h.Consents.Receipts(ctx, u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Newest first.
	for i := len(receipts) - 1; i >= 0; i-- {
		rc := receipts[i]
		title := rc.Purpose
		if pur, ok := h.Consents.Purpose(rc.Purpose); ok {
			title = pur.TitleIn(p.Lang)
		}
		where := p.T("privacy.channel." + string(rc.Channel))
		if rc.ClientID != "" {
			name, err := h.appNames(ctx, []string{rc.ClientID})
			if err != nil {
				h.fail(w, r, err)
				return
			}
			where = p.TF("privacy.channel_in_app", "Where", where, "App", name)
		}
		p.Receipts = append(p.Receipts, receiptView{Date: rc.At.Format("2006-01-02 15:04"), Purpose: title, Version: rc.Version,
			Action: p.T("privacy.action." + string(rc.Action)), Where: where})
	}
	h.render(w, r, http.StatusOK, "privacy", p)
}

// submitPrivacy gives (grant) or withdraws (withdraw) an optional
// purpose, or accepts a required purpose's current version (grant), for
// the signed-in person: channel account, by a button.
func (h *Handler) submitPrivacy(w http.ResponseWriter, r *http.Request) {
	u, ok := h.postedSignedIn(w, r)
	if !ok {
		return
	}
	pur, known := h.Consents.Purpose(r.PathValue("purpose"))
	action := r.PathValue("action")
	if !known || (action != "grant" && action != "withdraw") {
		h.notFound(w, r, u)
		return
	}
	d := consents.Decision{Purpose: pur.ID, Grant: action == "grant"}
	done := "consent_withdrawn"
	if d.Grant {
		// The version the page showed: if another has taken effect since,
		// the person has not seen it.
		d.Version, done = truncate(r.PostFormValue("version"), 64), "consent_given"
		if d.Version == "" {
			h.showError(w, r, http.StatusBadRequest, "error.bad_request")
			return
		}
	}
	_, err := h.Consents.Record(r.Context(), u.ID, []consents.Decision{d}, consents.Via{Channel: consents.ChannelAccount, Method: consents.MethodButton})
	var fe consents.FieldError
	switch {
	case errors.As(err, &fe) && fe.Field == "version":
		done = "consent_changed"
	case errors.As(err, &fe) && fe.Code == "required":
		done = "consent_required"
	case err != nil:
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account/privacy?"+url.Values{"done": {done}}.Encode()+"#purpose-"+pur.ID, http.StatusSeeOther)
}

// doneMessage shows the message of ?done= (accountDone) on an account
// page: a notice, or an alert for what did not happen.
func doneMessage(r *http.Request, p *page) {
	if d, ok := accountDone[r.URL.Query().Get("done")]; ok && d.alert {
		p.Alert = p.T(d.message)
	} else if ok {
		p.Notice = p.T(d.message)
	}
}
