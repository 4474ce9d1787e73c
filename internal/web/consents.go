package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/portvakt/portvakt/internal/consents"
)

// Consents on the hosted pages: the registration forms (password,
// invitation, the page that completes an upstream registration) ask for
// the required purposes, which must be ticked, and offer the optional
// ones, unticked; their receipts are written with the account. When a
// required purpose has a version the person has not accepted, every
// sign-in and every application's request stops at /consent/update until
// they accept it (or sign out). The privacy page is privacy.go.

// AppNames names applications for people.
type AppNames interface {
	// AppName returns the client's name (its ID when it has none), or
	// false when there is no such client.
	AppName(ctx context.Context, clientID string) (string, bool, error)
}

// consentField is a purpose on a form: a checkbox ticked for a version.
type consentField struct {
	ID, Title, Description string
	Required               bool
	// Version is the version the box is ticked for (its value).
	Version string
	Doc     consentDoc
	Checked bool
	Error   string
}

// consentDoc is a version's document on a page: a link or a text.
type consentDoc struct {
	Lang, URL, Text string
	// Version and Effective describe it ("" Effective: always in effect).
	Version, Effective string
}

func (h *Handler) docView(v consents.Version, lang string) consentDoc {
	d := v.Document(lang)
	out := consentDoc{Lang: d.Lang, URL: d.URL, Text: d.Text, Version: v.Label}
	if !v.Effective.IsZero() {
		out.Effective = v.Effective.UTC().Format("2006-01-02")
	}
	return out
}

// consentFieldName is the form field of purpose id's checkbox.
func consentFieldName(id string) string { return "consent_" + id }

// consentFields puts offers on the form of p as checkboxes, ticked as
// p.Form says, with their errors.
func (h *Handler) consentFields(p *page, offers []consents.Offer) {
	p.Consents = nil
	for _, o := range offers {
		name := consentFieldName(o.Purpose.ID)
		p.Consents = append(p.Consents, consentField{
			ID: o.Purpose.ID, Title: o.Purpose.TitleIn(p.Lang), Description: o.Purpose.DescriptionIn(p.Lang),
			Required: o.Purpose.Required, Version: o.Version.Label, Doc: h.docView(o.Version, p.Lang),
			Checked: p.Form[name] == o.Version.Label, Error: p.Errors[name],
		})
	}
}

// registrationConsents reads a registration form's checkboxes: every
// required purpose must be ticked (an error on p for each that is not);
// it returns the receipts of what was ticked, made in via, for the new
// account. The boxes' values stay in p.Form.
func (h *Handler) registrationConsents(r *http.Request, p *page, via consents.Via) ([]consents.Receipt, error) {
	offers := h.Consents.ForRegistration()
	ticked := map[string]string{}
	for _, o := range offers {
		name := consentFieldName(o.Purpose.ID)
		if v := truncate(r.PostFormValue(name), 64); v != "" {
			ticked[o.Purpose.ID], p.Form[name] = v, v
		}
	}
	grants, missing := consents.Choose(offers, ticked)
	for _, id := range missing {
		p.Errors[consentFieldName(id)] = p.T("consents.required_error")
	}
	if len(grants) == 0 {
		return nil, nil
	}
	via.Method = consents.MethodCheckbox
	return h.Consents.NewReceipts(grants, via)
}

// consentsPending is the consents stop: the page to accept new versions
// when userID has required ones waiting for clientID.
func (h *Handler) consentsPending(ctx context.Context, userID, clientID string) (string, error) {
	if !h.Consents.AsksAtSignIn() {
		return "", nil
	}
	required, _, err := h.Consents.Pending(ctx, userID, clientID)
	if err != nil || len(required) == 0 {
		return "", err
	}
	if clientID == "" {
		return "/consent/update", nil
	}
	return "/consent/update?" + url.Values{"client_id": {clientID}}.Encode(), nil
}

// updateClient is the application a /consent/update request is for: its
// ID and name, or nothing when there is none or no such client.
func (h *Handler) updateClient(ctx context.Context, id string) (string, string, error) {
	if id == "" || h.AppNames == nil || len(id) > 255 {
		return "", "", nil
	}
	name, ok, err := h.AppNames.AppName(ctx, id)
	if err != nil || !ok {
		return "", "", err
	}
	return id, name, nil
}

// showConsentUpdate lists what the signed-in person must accept before
// going on: each required purpose's new version, with what they accepted
// before, and the optional ones they never decided on, unticked.
func (h *Handler) showConsentUpdate(w http.ResponseWriter, r *http.Request) {
	u, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	clientID, appName, err := h.updateClient(ctx, r.URL.Query().Get("client_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	required, optional, err := h.Consents.Pending(ctx, u.ID, clientID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	next := nextPage(r)
	if len(required) == 0 {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	p := h.accountPage(w, r, u)
	h.renderConsentUpdate(w, r, p, required, optional, clientID, appName, next, http.StatusOK)
}

func (h *Handler) renderConsentUpdate(w http.ResponseWriter, r *http.Request, p *page, required, optional []consents.Offer, clientID, appName, next string, status int) {
	p.Title = p.T("consent_update.title")
	p.Action = "/consent/update"
	if appName != "" {
		p.Text = p.TF("consent_update.intro_app", "App", appName)
	} else {
		p.Text = p.T("consent_update.intro")
	}
	p.Extra["return_to"], p.Extra["client_id"] = next, clientID
	p.Purposes = nil
	for _, o := range required {
		v := h.purposeView(p, o.Purpose, o.Version, true, o.Previous, o.Previous.Purpose != "")
		if o.Previous.Granted {
			v.Status = p.TF("consent_update.accepted_before", "Version", o.Previous.Version, "Date", o.Previous.At.Format("2006-01-02"))
		} else {
			v.Status = p.T("consent_update.not_accepted")
		}
		p.Purposes = append(p.Purposes, v)
	}
	h.consentFields(p, optional)
	h.render(w, r, status, "consent_update", p)
}

// submitConsentUpdate records the acceptance of the versions the page
// showed (channel sign_in, the application if known) and of the optional
// purposes ticked, and goes on to return_to. A version that changed while
// the page was open is shown again instead.
func (h *Handler) submitConsentUpdate(w http.ResponseWriter, r *http.Request) {
	u, ok := h.postedSignedIn(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	clientID, appName, err := h.updateClient(ctx, r.PostFormValue("client_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	next := nextPage(r)
	required, optional, err := h.Consents.Pending(ctx, u.ID, clientID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var accepted []consents.Decision
	for _, o := range required {
		if r.PostFormValue("accept_"+o.Purpose.ID) != o.Version.Label {
			// Not what the page showed: show what is current now.
			p := h.accountPage(w, r, u)
			p.Alert = p.T("consent_update.changed")
			h.renderConsentUpdate(w, r, p, required, optional, clientID, appName, next, http.StatusConflict)
			return
		}
		accepted = append(accepted, consents.Decision{Purpose: o.Purpose.ID, Version: o.Version.Label, Grant: true})
	}
	ticked := map[string]string{}
	for _, o := range optional {
		if v := r.PostFormValue(consentFieldName(o.Purpose.ID)); v != "" {
			ticked[o.Purpose.ID] = truncate(v, 64)
		}
	}
	chosen, _ := consents.Choose(optional, ticked)
	via := consents.Via{Channel: consents.ChannelSignIn, ClientID: clientID, Method: consents.MethodButton}
	if _, err := h.Consents.Record(ctx, u.ID, accepted, via); err != nil {
		h.consentFailed(w, r, err)
		return
	}
	via.Method = consents.MethodCheckbox
	if _, err := h.Consents.Record(ctx, u.ID, chosen, via); err != nil {
		h.consentFailed(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// consentFailed answers a decision that could not be recorded: one the
// page could not have sent is a bad request; others are failures.
func (h *Handler) consentFailed(w http.ResponseWriter, r *http.Request, err error) {
	var fe consents.FieldError
	if errors.As(err, &fe) {
		h.showError(w, r, http.StatusBadRequest, "error.bad_request")
		return
	}
	h.fail(w, r, err)
}

// purposeView is a purpose on the privacy page or the page of new
// versions.
type purposeView struct {
	ID, Title, Description string
	Required               bool
	// Doc is the current version's document; Next one announced.
	Doc     consentDoc
	HasDoc  bool
	Next    consentDoc
	HasNext bool
	// Status says where the person stands.
	Status string
	// Granted, UpToDate: given, at the current version.
	Granted, UpToDate bool
	// Apps are the applications the purpose is limited to, by name.
	Apps string
}

func (h *Handler) purposeView(p *page, pur consents.Purpose, cur consents.Version, hasCur bool, st consents.State, decided bool) purposeView {
	v := purposeView{ID: pur.ID, Title: pur.TitleIn(p.Lang), Description: pur.DescriptionIn(p.Lang), Required: pur.Required}
	if hasCur {
		v.Doc, v.HasDoc = h.docView(cur, p.Lang), true
	}
	v.Granted = decided && st.Granted
	v.UpToDate = v.Granted && hasCur && st.Version == cur.Label
	return v
}

// appNames names the applications ids, for people.
func (h *Handler) appNames(ctx context.Context, ids []string) (string, error) {
	var names []string
	for _, id := range ids {
		name := id
		if h.AppNames != nil {
			n, ok, err := h.AppNames.AppName(ctx, id)
			if err != nil {
				return "", err
			}
			if ok {
				name = n
			}
		}
		names = append(names, name)
	}
	return strings.Join(names, ", "), nil
}

// docLink is a document as a page shows it: a link, or a text to open,
// both named by Label.
type docLink struct{ URL, Text, Lang, Label string }

// ConsentDoc is the document d of the purpose titled title, for the
// "consent-document" template.
func (p *page) ConsentDoc(d consentDoc, title string) docLink {
	if d.URL != "" {
		return docLink{URL: d.URL, Lang: d.Lang, Label: p.TF("consents.document_link", "Title", title)}
	}
	return docLink{Text: d.Text, Lang: d.Lang, Label: p.TF("consents.document_text", "Title", title)}
}

// HasOptionalConsents reports whether the form offers optional purposes.
func (p *page) HasOptionalConsents() bool {
	for _, c := range p.Consents {
		if !c.Required {
			return true
		}
	}
	return false
}

// versionLine is a version and the date it takes effect, for the
// "consent-version" template.
type versionLine struct {
	Page          *page
	Version, Date string
}

// VersionLine describes document d's version.
func (p *page) VersionLine(d consentDoc) versionLine {
	return versionLine{Page: p, Version: d.Version, Date: d.Effective}
}
