package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/mail"
)

// Mailer delivers account mail from the outbox, once per event.
type Mailer interface {
	// Queued reports whether a mail was already made for the event.
	Queued(ctx context.Context, eventUUID string) (bool, error)
	// Deliver sends m for the event, or the mail already made for it; an
	// error means try again later.
	Deliver(ctx context.Context, eventUUID string, m mail.Message) error
}

// Notifier is the outbox consumer that mails people about their account:
// the verification code and link after registration, "you already have an
// account", the password reset link, the notices of a changed password,
// of two-step verification turned on or off and of a recovery code used,
// and the date of a deletion the person asked for; for an email change,
// the code and link to the new address (or, when the address has an
// account already, a word to its owner) and, once changed, the undo link
// to the old one.
type Notifier struct {
	Accounts *Service
	Mail     Mailer
	// BaseURL is the public URL links in mails point to (the issuer).
	BaseURL *url.URL
}

// ConsumerName is the notifier's checkpoint and lease name.
const ConsumerName = "account-mail"

// Handle implements an events consumer.
func (n *Notifier) Handle(ctx context.Context, e events.Event) error {
	switch e.Type {
	case "user.registered", "user.verification_requested", "user.registration_repeated",
		"password.reset_requested", "password.changed", "factor.enrolled", "factor.removed", "recovery_code.used",
		"sign_in_code.requested", "user.deletion_requested", "user.email_change_requested", "user.email_changed":
	default:
		return nil
	}
	queued, err := n.Mail.Queued(ctx, e.UUID)
	if err != nil {
		return err
	}
	if queued {
		// A replay: (re)send the stored mail, whose link is already minted.
		return n.Mail.Deliver(ctx, e.UUID, mail.Message{})
	}
	userID, ok := strings.CutPrefix(e.Subject, "user:")
	if !ok {
		return nil
	}
	u, err := n.Accounts.Store.UserByID(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return nil // deleted since; nobody to tell
	}
	if err != nil {
		return err
	}
	m := mail.Message{To: u.Email, Name: strings.TrimSpace(u.GivenName + " " + u.FamilyName), Lang: mailLanguage(u.Locale)}
	switch e.Type {
	case "user.registered", "user.verification_requested":
		if u.EmailVerified {
			return nil
		}
		_, link, code, err := n.Accounts.IssueVerification(ctx, u.ID)
		if err != nil {
			return err
		}
		m.Template = "verify_email"
		m.Data = map[string]any{"Link": n.link("/verify", "token", link), "Code": code, "Name": m.Name}
	case "user.registration_repeated":
		m.Template = "account_exists"
		m.Data = map[string]any{"SignInLink": n.link("/login", "", ""), "ResetLink": n.link("/recovery", "", "")}
	case "password.reset_requested":
		_, link, err := n.Accounts.IssueReset(ctx, u.ID)
		if err != nil {
			return err
		}
		m.Template = "reset_password"
		m.Data = map[string]any{"Link": n.link("/reset", "token", link), "Name": m.Name}
	case "password.changed":
		m.Template = "password_changed"
		m.Data = map[string]any{"Name": m.Name, "ResetLink": n.link("/recovery", "", "")}
	case "factor.enrolled", "factor.removed":
		var d struct {
			Kind string `json:"kind"`
		}
		_ = json.Unmarshal(e.Data, &d)
		m.Template = map[string]string{
			"factor.enrolled/totp": mail.FactorAdded, "factor.removed/totp": mail.FactorRemoved,
			"factor.enrolled/passkey": mail.PasskeyAdded, "factor.removed/passkey": mail.PasskeyRemoved,
		}[e.Type+"/"+d.Kind]
		if m.Template == "" {
			return nil // a kind of factor without a mail
		}
		m.Data = map[string]any{"Name": m.Name, "AccountLink": n.link("/account", "", ""), "ResetLink": n.link("/recovery", "", "")}
	case "sign_in_code.requested":
		if u.Status != StatusActive {
			return nil
		}
		_, code, err := n.Accounts.IssueSignInCode(ctx, u.ID)
		if err != nil {
			return err
		}
		m.Template = mail.SignInCode
		m.Data = map[string]any{"Name": m.Name, "Code": code, "Minutes": int(SignInCodeTTL / time.Minute)}
	case "user.deletion_requested":
		var d struct {
			DueAt time.Time `json:"due_at"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil || d.DueAt.IsZero() {
			return nil // no date to tell
		}
		m.Template = mail.DeletionScheduled
		m.Data = map[string]any{"Name": m.Name, "Date": d.DueAt.UTC().Format("2006-01-02 15:04 UTC"), "SignInLink": n.link("/login", "", "")}
	case "user.email_change_requested":
		var d struct {
			NewEmail string `json:"new_email"`
		}
		_ = json.Unmarshal(e.Data, &d)
		norm, err := NormalizeEmail(d.NewEmail)
		if err != nil {
			return nil
		}
		owner, err := n.Accounts.Store.UserByEmail(ctx, norm)
		switch {
		case err == nil && owner.ID == u.ID:
			return nil // changed already
		case err == nil:
			// Someone else's address: its owner hears of the attempt, in
			// their language, and nothing is sent that could change it.
			m = mail.Message{To: owner.Email, Name: strings.TrimSpace(owner.GivenName + " " + owner.FamilyName), Lang: mailLanguage(owner.Locale),
				Template: mail.EmailInUse}
			m.Data = map[string]any{"Name": m.Name, "SignInLink": n.link("/login", "", ""), "ResetLink": n.link("/recovery", "", "")}
		case !errors.Is(err, ErrNotFound):
			return err
		default:
			if u.Status != StatusActive {
				return nil
			}
			link, code, err := n.Accounts.IssueEmailChange(ctx, u, d.NewEmail)
			if err != nil {
				return err
			}
			m.To, m.Template = strings.TrimSpace(d.NewEmail), mail.ChangeEmail
			m.Data = map[string]any{"Name": m.Name, "Link": n.link("/account/email/confirm", "token", link), "Code": code,
				"Email": strings.TrimSpace(d.NewEmail), "Hours": int(ChangeEmailTTL / time.Hour)}
		}
	case "user.email_changed":
		var d struct {
			OldEmail string `json:"old_email"`
			NewEmail string `json:"new_email"`
		}
		_ = json.Unmarshal(e.Data, &d)
		if _, err := NormalizeEmail(d.OldEmail); err != nil {
			return nil
		}
		link, err := n.Accounts.IssueEmailUndo(ctx, u, d.OldEmail)
		if err != nil {
			return err
		}
		m.To, m.Template = d.OldEmail, mail.EmailChanged
		m.Data = map[string]any{"Name": m.Name, "NewEmail": d.NewEmail, "UndoLink": n.link("/account/email/undo", "token", link),
			"Days": int(UndoEmailChangeTTL / (24 * time.Hour))}
	case "recovery_code.used":
		var d struct {
			Remaining int `json:"remaining"`
		}
		_ = json.Unmarshal(e.Data, &d)
		m.Template = mail.RecoveryCodeUsed
		m.Data = map[string]any{"Name": m.Name, "AccountLink": n.link("/account", "", ""), "ResetLink": n.link("/recovery", "", ""), "Remaining": d.Remaining}
	}
	if err := n.Mail.Deliver(ctx, e.UUID, m); err != nil {
		return fmt.Errorf("mail %s to user %s: %w", m.Template, u.ID, err)
	}
	return nil
}

func (n *Notifier) link(path, key, value string) string {
	u := *n.BaseURL
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	if key != "" {
		u.RawQuery = url.Values{key: {value}}.Encode()
	}
	return u.String()
}

// mailLanguage is the user's language if Portvakt speaks it, else English.
func mailLanguage(locale string) language.Tag {
	if t, err := language.Parse(locale); err == nil {
		base, _ := t.Base()
		switch base.String() {
		case "sv":
			return language.Swedish
		case "fi":
			return language.Finnish
		}
	}
	return language.English
}
