package web

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/portvakt/portvakt/internal/accounts"
)

// Custom attributes on the account page (accounts.AttributeRule): those
// configured self_service: show are shown read-only with the profile,
// those configured edit are fields of the profile form, and hidden ones
// are never shown. The form reads only the attributes the person edits:
// a forged field for any other attribute is ignored, and the domain
// refuses such a change whatever the page sends (accounts.EditProfile).
// An attribute's field is named "attributes.<name>", like its FieldError.

// attributeField is the form field of the attribute name.
func attributeField(name string) string { return "attributes." + name }

// attributeExtras adds the shown and edited custom attributes to the
// profile fields of p.
func (h *Handler) attributeExtras(p *page) {
	schema := h.Accounts.Attributes
	values := accounts.AttributeValues(p.User.Attributes)
	for _, name := range schema.SelfService() {
		rule, _ := schema.Rule(name)
		field := attributeField(name)
		pf := profileField{Name: field, Label: schema.Label(name, p.Lang), Editable: schema.PersonMayEdit(name), Value: attributeText(values[name])}
		if v, typed := p.Form[field]; typed && pf.Editable {
			pf.Value = v
		}
		hint := schema.Hint(name, p.Lang)
		if pf.Editable {
			pf.InputHint = hint
		} else {
			pf.Hint = hint
			if hint == "" {
				pf.Hint = p.T("account.profile.owned_by_crm")
			}
		}
		pf.Shown = pf.Value
		switch {
		case rule.Type == "boolean":
			pf.Kind, pf.Checked = "checkbox", pf.Value == "true"
			pf.Shown = p.T("account.attribute.no")
			if pf.Checked {
				pf.Shown = p.T("account.attribute.yes")
			}
		case rule.Type == "number":
			pf.Kind = "number"
		case len(rule.Enum) > 0:
			pf.Kind = "select"
			if !rule.Required || pf.Value == "" {
				pf.Options = append(pf.Options, attributeOption{Value: "", Label: p.T("account.profile.not_set"), Selected: pf.Value == ""})
			}
			for _, v := range rule.Enum {
				pf.Options = append(pf.Options, attributeOption{Value: v, Label: v, Selected: v == pf.Value})
			}
		default:
			pf.Kind = "text"
		}
		if pf.Shown == "" {
			pf.Shown = p.T("account.profile.not_set")
		}
		p.Profile = append(p.Profile, pf)
	}
}

// attributeText is a stored attribute value as a form shows it: a string
// as it is, a number or boolean as its JSON text, nothing for none.
func attributeText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// attributeForm reads the edited attributes the posted form sends into
// up, keeping what was typed in p.Form and a number that is not one in
// p.Errors. An attribute the form does not send is left as it is; an
// empty field removes the attribute; a checkbox's hidden "false" makes an
// unticked box false. Fields of attributes the person does not edit are
// not read.
func (h *Handler) attributeForm(r *http.Request, p *page, up *accounts.Update) {
	schema := h.Accounts.Attributes
	for _, name := range schema.SelfService() {
		if !schema.PersonMayEdit(name) {
			continue
		}
		rule, _ := schema.Rule(name)
		field := attributeField(name)
		vs, sent := r.PostForm[field]
		if !sent || len(vs) == 0 {
			continue
		}
		if up.Attributes == nil {
			up.Attributes = map[string]json.RawMessage{}
		}
		if rule.Type == "boolean" {
			// The hidden "false" comes first, the ticked box after it.
			on := vs[len(vs)-1] == "true"
			p.Form[field] = strconv.FormatBool(on)
			up.Attributes[name] = json.RawMessage(strconv.FormatBool(on))
			continue
		}
		v := strings.TrimSpace(vs[0])
		p.Form[field] = vs[0]
		if v == "" {
			up.Attributes[name] = nil
			continue
		}
		switch rule.Type {
		case "number":
			n, ok := parseNumber(v)
			if !ok {
				p.Errors[field] = p.T("account.attribute.number")
				continue
			}
			up.Attributes[name], _ = json.Marshal(n)
		default:
			up.Attributes[name], _ = json.Marshal(v)
		}
	}
}

// parseNumber reads a number as people type it: a decimal point or comma,
// spaces between thousands.
func parseNumber(v string) (float64, bool) {
	v = strings.NewReplacer(" ", "", "\u00a0", "", "\u202f", "", ",", ".").Replace(v)
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, false
	}
	return n, true
}

// attributeErrors puts the localized errors of the custom attributes in
// err on p, by field.
func (h *Handler) attributeErrors(p *page, err error) {
	for _, e := range flatten(err) {
		var fe accounts.FieldError
		if !errors.As(e, &fe) || !strings.HasPrefix(fe.Field, "attributes.") {
			continue
		}
		if _, dup := p.Errors[fe.Field]; dup {
			continue
		}
		rule, _ := h.Accounts.Attributes.Rule(strings.TrimPrefix(fe.Field, "attributes."))
		switch {
		case strings.HasPrefix(fe.Code, "owned_by_"):
			p.Errors[fe.Field] = p.T("account.profile." + fe.Code)
		case fe.Code == "required":
			p.Errors[fe.Field] = p.T("account.attribute.required")
		case fe.Code == "too_long":
			p.Errors[fe.Field] = p.TF("account.attribute.too_long", "Max", rule.MaxLength)
		case rule.Type == "number":
			p.Errors[fe.Field] = p.T("account.attribute.number")
		case len(rule.Enum) > 0:
			p.Errors[fe.Field] = p.T("account.attribute.choose")
		default:
			p.Errors[fe.Field] = p.T("account.attribute.pattern")
		}
	}
}
