package orgs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/mail"
)

// MailerName is the invitation mailer's name as an outbox consumer.
const MailerName = "invitation-mail"

// Mail queues and sends mail for an event, once.
type Mail interface {
	Queued(ctx context.Context, eventUUID string) (bool, error)
	Deliver(ctx context.Context, eventUUID string, m mail.Message) error
}

// InvitationMailer sends the invitation mail of invitation.created and
// invitation.resent events: it mints the link's token (only its hash is
// stored; a new one replaces the one before) and mails the link, in the
// invitation's language.
type InvitationMailer struct {
	Invitations *Invitations
	Mail        Mail
	// BaseURL is the issuer: links are <BaseURL>/invitation?token=….
	BaseURL *url.URL
}

// Handle implements an outbox consumer.
func (m *InvitationMailer) Handle(ctx context.Context, e events.Event) error {
	if e.Type != "invitation.created" && e.Type != "invitation.resent" {
		return nil
	}
	queued, err := m.Mail.Queued(ctx, e.UUID)
	if err != nil {
		return err
	}
	if queued {
		// A replay: send the stored mail again, its link already minted.
		return m.Mail.Deliver(ctx, e.UUID, mail.Message{})
	}
	var d struct {
		ID string `json:"invitation_id"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil || d.ID == "" {
		return nil
	}
	store := m.Invitations.Store
	inv, err := store.InvitationByID(ctx, d.ID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if inv.Status != InvitationPending || !m.Invitations.now().Before(inv.ExpiresAt) {
		return nil // revoked, accepted or expired since: no mail
	}
	if inv.Delivery == DeliveryLink {
		return nil // the inviter sends the link
	}
	o, err := store.OrganizationByID(ctx, inv.OrgID)
	if err != nil {
		return err
	}
	// The token the inviter also holds, if it was handed out; otherwise a
	// new one, replacing any before.
	token, err := m.Invitations.OpenToken(ctx, inv)
	if err != nil {
		return err
	}
	if token == "" {
		token, inv.TokenHash = NewInvitationToken()
		if err := store.UpdateInvitation(ctx, inv); err != nil {
			return err
		}
	}
	link := *m.BaseURL
	link.Path = strings.TrimSuffix(link.Path, "/") + "/invitation"
	link.RawQuery = url.Values{"token": {token}}.Encode()
	name := strings.TrimSpace(inv.GivenName + " " + inv.FamilyName)
	msg := mail.Message{To: inv.Email, Name: name, Template: mail.Invitation, Lang: language.Make(inv.Locale),
		Data: map[string]any{"Link": link.String(), "Organization": o.Name, "Days": int(m.Invitations.ttl().Hours() / 24), "Name": name},
		// The inviter (a CRM) hears whether the mail went out.
		Track: &mail.Tracking{Kind: "invitation", Subject: "org:" + inv.OrgID, Data: invitationData(inv)}}
	if inv.Locale == "" {
		msg.Lang = language.English
	}
	if err := m.Mail.Deliver(ctx, e.UUID, msg); err != nil {
		return fmt.Errorf("mail invitation %s: %w", inv.ID, err)
	}
	if len(inv.SealedToken) > 0 {
		// In the mail now (sealed there): not kept twice.
		inv.SealedToken = nil
		return store.UpdateInvitation(ctx, inv)
	}
	return nil
}
