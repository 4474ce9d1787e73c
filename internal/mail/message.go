package mail

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/text/language"
)

// ErrInvalidMessage means a Message cannot be rendered: its template is
// unknown or a value it needs is missing or malformed. Retrying cannot help.
var ErrInvalidMessage = errors.New("invalid mail message")

// The templates, by name.
const (
	// VerifyEmail asks the recipient to confirm their address with a link
	// or a code. Data: Link, Code; optional Name.
	VerifyEmail = "verify_email"
	// AccountExists tells someone who tried to register that the address
	// already has an account. Data: SignInLink, ResetLink; optional Name.
	AccountExists = "account_exists"
	// ResetPassword carries the link that lets the recipient choose a new
	// password. Data: Link; optional Name.
	ResetPassword = "reset_password"
	// PasswordChanged tells the recipient that their password changed, with
	// a way back if it was not them. Data: ResetLink; optional Name.
	PasswordChanged = "password_changed"
	// FactorAdded tells the recipient that two-step verification was
	// turned on. Data: AccountLink; optional Name.
	FactorAdded = "factor_added"
	// FactorRemoved tells the recipient that two-step verification was
	// turned off. Data: AccountLink, ResetLink; optional Name.
	FactorRemoved = "factor_removed"
	// RecoveryCodeUsed tells the recipient that a recovery code signed
	// them in. Data: AccountLink, ResetLink, Remaining; optional Name.
	RecoveryCodeUsed = "recovery_code_used"
	// PasskeyAdded tells the recipient that a passkey was added to their
	// account. Data: AccountLink, ResetLink; optional Name.
	PasskeyAdded = "passkey_added"
	// PasskeyRemoved tells the recipient that a passkey was removed. Data:
	// AccountLink, ResetLink; optional Name.
	PasskeyRemoved = "passkey_removed"
	// SignInCode carries a one-time code that signs the recipient in.
	// Data: Code, Minutes; optional Name.
	SignInCode = "sign_in_code"
	// ChangeEmail asks the recipient to confirm the new address of their
	// account with a link or a code. Data: Link, Code, Email (the new
	// address), Hours (how long they work); optional Name.
	ChangeEmail = "change_email"
	// EmailInUse tells the owner of an address that someone tried to make
	// it the address of another account. Data: SignInLink, ResetLink;
	// optional Name.
	EmailInUse = "email_in_use"
	// EmailChanged tells the recipient, at the address their account had,
	// that it has another now, with a link that undoes the change. Data:
	// UndoLink, NewEmail, Days (how long the link works); optional Name.
	EmailChanged = "email_changed"
	// Invitation invites the recipient to join an organization. Data:
	// Link, Organization, Days; optional Name, Inviter.
	Invitation = "invitation"
	// DeletionScheduled tells the recipient that their account will be
	// deleted at Date, as they asked, and that signing in before then
	// keeps it. Data: SignInLink, Date; optional Name.
	DeletionScheduled = "deletion_scheduled"
	// WebhookPaused tells the deployment's operator that a webhook
	// subscription was paused for failing. Data: Subscription, URL,
	// Reason; optional LastError.
	WebhookPaused = "webhook_paused"
)

// Message is one mail to render and send.
type Message struct {
	// To is the recipient's address, without a display name.
	To string
	// Name is the recipient's display name for the To header; optional.
	Name string
	// Template is one of the template constants above.
	Template string
	// Lang is the recipient's language; one Portvakt does not speak falls
	// back to English.
	Lang language.Tag
	// Data holds the template's values (see the template constants). Links
	// must be absolute http or https URLs.
	Data map[string]any
	// Track, if set, has the outbox write an event when the mail is sent
	// (<Kind>.sent) or refused for good (<Kind>.delivery_failed), in the
	// same transaction as the mail's status.
	Track *Tracking
}

// Tracking names the events a tracked mail's outcome writes: their kind
// (the type's first part), subject and data (to which the outbox adds the
// mail's ID, and the error of a refusal). The data must hold no secrets.
type Tracking struct {
	Kind    string         `json:"kind"`
	Subject string         `json:"subject"`
	Data    map[string]any `json:"data,omitempty"`
}

// spec says which values a template takes.
type spec struct {
	links    []string // required, absolute http(s) URLs
	required []string // required, non-empty
	optional []string
}

// specFor returns the spec of a template name.
func specFor(name string) (spec, bool) {
	switch name {
	case VerifyEmail:
		return spec{links: []string{"Link"}, required: []string{"Code"}, optional: []string{"Name"}}, true
	case AccountExists:
		return spec{links: []string{"SignInLink", "ResetLink"}, optional: []string{"Name"}}, true
	case ResetPassword:
		return spec{links: []string{"Link"}, optional: []string{"Name"}}, true
	case PasswordChanged:
		return spec{links: []string{"ResetLink"}, optional: []string{"Name"}}, true
	case FactorAdded:
		return spec{links: []string{"AccountLink"}, optional: []string{"Name"}}, true
	case FactorRemoved:
		return spec{links: []string{"AccountLink", "ResetLink"}, optional: []string{"Name"}}, true
	case SignInCode:
		return spec{required: []string{"Code", "Minutes"}, optional: []string{"Name"}}, true
	case Invitation:
		return spec{links: []string{"Link"}, required: []string{"Organization", "Days"}, optional: []string{"Name", "Inviter"}}, true
	case PasskeyAdded, PasskeyRemoved:
		return spec{links: []string{"AccountLink", "ResetLink"}, optional: []string{"Name"}}, true
	case RecoveryCodeUsed:
		return spec{links: []string{"AccountLink", "ResetLink"}, required: []string{"Remaining"}, optional: []string{"Name"}}, true
	case DeletionScheduled:
		return spec{links: []string{"SignInLink"}, required: []string{"Date"}, optional: []string{"Name"}}, true
	case WebhookPaused:
		return spec{required: []string{"Subscription", "URL", "Reason"}, optional: []string{"LastError", "Name"}}, true
	case ChangeEmail:
		return spec{links: []string{"Link"}, required: []string{"Code", "Email", "Hours"}, optional: []string{"Name"}}, true
	case EmailInUse:
		return spec{links: []string{"SignInLink", "ResetLink"}, optional: []string{"Name"}}, true
	case EmailChanged:
		return spec{links: []string{"UndoLink"}, required: []string{"NewEmail", "Days"}, optional: []string{"Name"}}, true
	}
	return spec{}, false
}

// Templates returns the name of every template.
func Templates() []string {
	return []string{VerifyEmail, AccountExists, ResetPassword, PasswordChanged, FactorAdded, FactorRemoved, RecoveryCodeUsed, PasskeyAdded, PasskeyRemoved, SignInCode, Invitation, DeletionScheduled, WebhookPaused,
		ChangeEmail, EmailInUse, EmailChanged}
}

// values checks m.Data against the template's spec and returns the values
// as strings, with absent optional ones empty and nothing else.
func (s spec) values(data map[string]any) (map[string]any, error) {
	out := map[string]any{}
	get := func(k string) string {
		v, ok := data[k]
		if !ok || v == nil {
			return ""
		}
		return strings.TrimSpace(fmt.Sprint(v))
	}
	for _, k := range s.links {
		v := get(k)
		if err := checkLink(v); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidMessage, k, err)
		}
		out[k] = v
	}
	for _, k := range s.required {
		v := get(k)
		if v == "" {
			return nil, fmt.Errorf("%w: %s is missing", ErrInvalidMessage, k)
		}
		out[k] = v
	}
	for _, k := range s.optional {
		out[k] = get(k)
	}
	return out, nil
}

// checkLink accepts an absolute http or https URL.
func checkLink(s string) error {
	if s == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("not an absolute http(s) URL")
	}
	return nil
}

// linkPattern finds http(s) URLs in plain text.
var linkPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// Links returns the http and https URLs in a plain-text body, in order, as
// a person would follow them (trailing punctuation is not part of a link).
func Links(text string) []string {
	var out []string
	for _, loc := range linkSpans(text) {
		out = append(out, text[loc[0]:loc[1]])
	}
	return out
}

// linkSpans returns the byte ranges of the links in text.
func linkSpans(text string) [][2]int {
	var out [][2]int
	for _, loc := range linkPattern.FindAllStringIndex(text, -1) {
		end := loc[1]
		for end > loc[0] && strings.ContainsRune(".,;:!?)]}'", rune(text[end-1])) {
			end--
		}
		out = append(out, [2]int{loc[0], end})
	}
	return out
}
