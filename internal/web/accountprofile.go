package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
)

// The account page's profile section: the person edits the profile fields
// they own (accounts.Owners); fields the CRM or an identity provider owns
// are shown read-only with who to ask. The server refuses a change to a
// field the person does not own, whatever the form sends.

// profileField is one profile field on the account page.
type profileField struct {
	Name  string
	Label string
	// Value is the stored value, or what was typed when the form comes
	// back with errors; Shown is Value as people read it (a language's
	// name rather than its code).
	Value, Shown string
	// Editable fields are inputs; the others are shown with Hint, which
	// says who changes them.
	Editable bool
	Hint     string
	// Autocomplete is the input's autocomplete token.
	Autocomplete string
	// InputHint is the help text under an input.
	InputHint string
	// Kind is how a custom attribute is edited: "text", "number"
	// (inputmode decimal), "select" (an enum, with Options) or "checkbox"
	// (Checked when true); "" for the standard fields.
	Kind    string
	Options []attributeOption
	Checked bool
}

// attributeOption is one choice of an enum attribute's select.
type attributeOption struct {
	Value, Label string
	Selected     bool
}

// autocomplete are the autocomplete tokens of the profile inputs.
var autocomplete = map[string]string{"given_name": "given-name", "family_name": "family-name", "phone": "tel", "locale": "language"}

// profileExtras adds the profile fields to the account page.
func (h *Handler) profileExtras(p *page) {
	for _, f := range accounts.OwnedFields {
		owner := h.Accounts.Owners.Of(p.User, f)
		pf := profileField{Name: f, Label: p.T("field." + f + ".label"), Value: profileValue(p.User, f), Editable: owner == accounts.OwnerPerson, Autocomplete: autocomplete[f]}
		if v, typed := p.Form[f]; typed && pf.Editable {
			pf.Value = v
		}
		if !pf.Editable {
			pf.Hint = p.T("account.profile.owned_by_" + owner)
		}
		pf.Shown = pf.Value
		if f == "locale" {
			pf.Shown = ""
			for _, l := range p.Languages {
				if l.Code == pf.Value {
					pf.Shown = l.Name
				}
			}
			if pf.Value == "" {
				pf.Shown = p.T("account.profile.locale_auto")
			}
		}
		if pf.Shown == "" {
			pf.Shown = p.T("account.profile.not_set")
		}
		if f == "phone" && pf.Editable {
			pf.InputHint = p.T("field.phone.hint")
		}
		p.Profile = append(p.Profile, pf)
	}
	h.attributeExtras(p)
}

func profileValue(u accounts.User, field string) string {
	switch field {
	case "given_name":
		return u.GivenName
	case "family_name":
		return u.FamilyName
	case "phone":
		return u.Phone
	case "locale":
		return u.Locale
	}
	return ""
}

// accountReady reports whether u may use the account page now; if the
// deployment requires a second factor u lacks, it sends them to set one
// up.
func (h *Handler) accountReady(w http.ResponseWriter, r *http.Request, u accounts.User, back string) bool {
	if h.Authn.Policy != authn.PolicyRequired {
		return true
	}
	has, err := h.Authn.HasSecondFactor(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, err)
		return false
	}
	if !has {
		http.Redirect(w, r, mfaSetupURL(back), http.StatusSeeOther)
		return false
	}
	return true
}

// showProfile sends the browser to the account page: the profile form
// comes back with errors under this path, whose language links lead here.
func (h *Handler) showProfile(w http.ResponseWriter, r *http.Request) {
	to := "/account"
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// submitProfile saves the profile fields the form sends. Only the fields
// the person owns may change; the change is the person's own (actor
// user:<id>) and goes out as user.updated with old and new values. Saving
// confirms the profile too (user.profile_confirmed, see
// accounts.EditProfile), changed or not.
func (h *Handler) submitProfile(w http.ResponseWriter, r *http.Request) {
	u, ok := h.postedSignedIn(w, r)
	if !ok || !h.accountReady(w, r, u, "/account") {
		return
	}
	p := h.accountPage(w, r, u)
	up := h.profileForm(r, p)
	if !p.HasErrors() {
		_, err := h.Accounts.EditProfile(r.Context(), u.ID, up)
		if err == nil {
			http.Redirect(w, r, "/account?done=profile_saved", http.StatusSeeOther)
			return
		}
		if !h.profileErrors(p, err) {
			h.fail(w, r, err)
			return
		}
	}
	p.Alert = p.T("form.has_errors")
	h.renderAccount(w, r, p, http.StatusBadRequest)
}

// profileForm reads the profile fields a posted form sends into an
// update, keeping what was typed in p.Form and each field's error in
// p.Errors. A field the form does not send is left as it is.
func (h *Handler) profileForm(r *http.Request, p *page) accounts.Update {
	var up accounts.Update
	for field, dst := range map[string]**string{
		"given_name": &up.GivenName, "family_name": &up.FamilyName, "phone": &up.Phone, "locale": &up.Locale,
	} {
		vs, sent := r.PostForm[field]
		if !sent || len(vs) == 0 {
			continue
		}
		v := strings.TrimSpace(vs[0])
		if field == "phone" {
			v = strings.ReplaceAll(v, " ", "")
		}
		p.Form[field] = vs[0]
		*dst = &v
		switch {
		case v == "" && slices.Contains(h.RegistrationFields, field):
			p.Errors[field] = p.T("field." + field + ".required")
		case field == "locale" && v != "" && !slices.ContainsFunc(p.Languages, func(l langLink) bool { return l.Code == v }):
			p.Errors[field] = p.T("field.locale.invalid")
		}
	}
	h.attributeForm(r, p, &up)
	return up
}

// profileErrors puts the field errors of a refused profile save on p (a
// field the person does not own, a value that is not valid); it reports
// false when err is not about the fields.
func (h *Handler) profileErrors(p *page, err error) bool {
	for _, e := range flatten(err) {
		var fe accounts.FieldError
		if errors.As(e, &fe) && strings.HasPrefix(fe.Code, "owned_by_") {
			p.Errors[fe.Field] = p.T("account.profile." + fe.Code)
		}
	}
	h.attributeErrors(p, err)
	return h.fieldErrors(p, err)
}
