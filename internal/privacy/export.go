package privacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/externalids"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/session"
)

// Format names the export's shape and its version. Fields may be added
// within a version; a field that changes meaning or goes away makes a new
// one.
const Format = "portvakt-export/1"

// Export is everything Portvakt holds about one person, as the JSON
// download carries it. Every list is present (empty when there is
// nothing); secrets never are (no password hash, factor secret, token or
// recovery code), and the national identity number is masked.
type Export struct {
	Format      string    `json:"format"`
	GeneratedAt time.Time `json:"generated_at"`
	User        Profile   `json:"user"`
	// Deletion is the pending deletion of the account, null when none.
	Deletion           *Deletion           `json:"deletion"`
	VerifiedAttributes []VerifiedAttribute `json:"verified_attributes"`
	Identities         []Identity          `json:"identities"`
	Factors            []Factor            `json:"factors"`
	RecoveryCodesLeft  int                 `json:"recovery_codes_left"`
	Organizations      []Organization      `json:"organizations"`
	// Roles are the roles held outside any organization, as app/role.
	Roles               []string      `json:"roles"`
	JoinRequests        []JoinRequest `json:"join_requests"`
	InvitationsReceived []Invitation  `json:"invitations_received"`
	InvitationsSent     []Invitation  `json:"invitations_sent"`
	Sessions            []Session     `json:"sessions"`
	// Applications are the applications the person let read their data
	// (consent to scopes).
	Applications []Application `json:"applications"`
	Tokens       []Token       `json:"tokens"`
	Mail         []Mail        `json:"mail"`
	// Consents are the person's decisions on versioned documents (terms,
	// privacy notice, marketing) with their receipts.
	Consents []Consent `json:"consents"`
	Events   []Event   `json:"events"`
}

// Profile is the account itself.
type Profile struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	Phone         string `json:"phone"`
	Locale        string `json:"locale"`
	Status        string `json:"status"`
	// PasswordSet says whether the account has a password (never the
	// password or its hash).
	PasswordSet bool `json:"password_set"`
	// Attributes are the custom profile attributes, as kept.
	Attributes json.RawMessage `json:"attributes"`
	// LockedFields are the fields the invitation the person registered
	// with locked.
	LockedFields []string `json:"locked_fields"`
	// ExternalID is the CRM's ID, ExternalIDs those of further source
	// systems (source → ID).
	ExternalID         string            `json:"external_id"`
	ExternalIDs        map[string]string `json:"external_ids"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
	ProfileConfirmedAt *time.Time        `json:"profile_confirmed_at"`
}

// Subject is the account's name in events (user:<id>).
func (p Profile) Subject() string { return "user:" + p.ID }

// VerifiedAttribute is an attribute an identity-proofing provider vouched
// for. The national identity number's value is masked: all but its last
// four characters.
type VerifiedAttribute struct {
	Name       string    `json:"name"`
	Value      string    `json:"value"`
	Source     string    `json:"source"`
	VerifiedAt time.Time `json:"verified_at"`
}

// Identity is an account at an upstream identity provider linked to this
// one.
type Identity struct {
	Provider     string    `json:"provider"`
	ProviderName string    `json:"provider_name"`
	Subject      string    `json:"subject"`
	Email        string    `json:"email"`
	LinkedAt     time.Time `json:"linked_at"`
	LastUsedAt   time.Time `json:"last_used_at"`
}

// Factor is a second factor or passkey, as metadata.
type Factor struct {
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
}

// Organization is a membership with its roles.
type Organization struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Roles    []string  `json:"roles"`
	JoinedAt time.Time `json:"joined_at"`
}

// JoinRequest is a request to join an organization.
type JoinRequest struct {
	ID               string     `json:"id"`
	OrganizationID   string     `json:"organization_id"`
	OrganizationName string     `json:"organization_name"`
	Email            string     `json:"email"`
	Status           string     `json:"status"`
	CreatedAt        time.Time  `json:"created_at"`
	DecidedAt        *time.Time `json:"decided_at"`
}

// Invitation is an invitation to an organization: received (to the
// person's address, with what it pre-filled) or sent by them (the
// invitee's address only: the rest is the invitee's).
type Invitation struct {
	ID               string     `json:"id"`
	OrganizationID   string     `json:"organization_id"`
	OrganizationName string     `json:"organization_name"`
	Email            string     `json:"email"`
	GivenName        string     `json:"given_name,omitempty"`
	FamilyName       string     `json:"family_name,omitempty"`
	Phone            string     `json:"phone,omitempty"`
	Roles            []string   `json:"roles"`
	Status           string     `json:"status"`
	InvitedBy        string     `json:"invited_by"`
	CreatedAt        time.Time  `json:"created_at"`
	ExpiresAt        time.Time  `json:"expires_at"`
	AcceptedAt       *time.Time `json:"accepted_at"`
}

// Session is a browser signed in.
type Session struct {
	// ID is the session's name in events (session:<ID>).
	ID         string    `json:"id"`
	UserAgent  string    `json:"user_agent"`
	IPAddress  string    `json:"ip_address"`
	SignedInAt time.Time `json:"signed_in_at"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Methods    []string  `json:"methods"`
	Level      string    `json:"level"`
}

// Application is an application the person consented to share scopes
// with.
type Application struct {
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name"`
	Scopes     []string  `json:"scopes"`
	GrantedAt  time.Time `json:"granted_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Token is a token issued to an application for the person, as metadata
// (never its value).
type Token struct {
	ClientID   string     `json:"client_id"`
	ClientName string     `json:"client_name"`
	Kind       string     `json:"kind"`
	Scopes     []string   `json:"scopes"`
	IssuedAt   time.Time  `json:"issued_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	UsedAt     *time.Time `json:"used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// Mail is a mail sent to the person, as metadata (never its body).
type Mail struct {
	Template  string     `json:"template"`
	Language  string     `json:"language"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	SentAt    *time.Time `json:"sent_at"`
}

// Consent is a receipt of a decision on a purpose's versioned document:
// given or withdrawn, when, where and how. The receipts together are the
// person's consent history; the last one per purpose stands.
type Consent struct {
	Purpose   string    `json:"purpose"`
	Version   string    `json:"version"`
	Decision  string    `json:"decision"`
	DecidedAt time.Time `json:"decided_at"`
	// Channel is where it was made: registration, invitation,
	// upstream_registration, sign_in, account or api.
	Channel string `json:"channel"`
	// ClientID is the application it was made in, if any.
	ClientID string `json:"client_id,omitempty"`
	// Actor is who recorded it: the person, or an integration.
	Actor  string `json:"actor"`
	Method string `json:"method,omitempty"`
	// Receipt is the receipt's ID (the UUID of its event).
	Receipt string `json:"receipt"`
}

// Event is an audit event about the person (subject) or caused by them
// (actor). Events they caused about others are listed without their data,
// which may name other people.
type Event struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Subject string          `json:"subject"`
	Actor   string          `json:"actor"`
	Time    time.Time       `json:"time"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Profiles reads the account and what describes it.
type Profiles interface {
	// UserByID returns the user or accounts.ErrNotFound.
	UserByID(ctx context.Context, id string) (accounts.User, error)
	// ExternalIDs returns the IDs of further source systems per subject.
	ExternalIDs(ctx context.Context, kind externalids.Kind, ids []string) (map[string]map[string]string, error)
	// DeletionOf returns the account's pending deletion, ErrNotFound if
	// there is none.
	DeletionOf(ctx context.Context, userID string) (Deletion, error)
}

// SignIns reads how the person signs in.
type SignIns interface {
	// Identities returns the upstream accounts linked to the user.
	Identities(ctx context.Context, userID string) ([]federation.Identity, error)
	// ListProviders returns the upstream identity providers (for names).
	ListProviders(ctx context.Context) ([]federation.Provider, error)
	// Factors returns the user's second factors and passkeys.
	Factors(ctx context.Context, userID string) ([]authn.Factor, error)
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	// SessionsOf returns the user's sessions.
	SessionsOf(ctx context.Context, userID string) ([]session.Session, error)
}

// Memberships reads the person's place in organizations.
type Memberships interface {
	MembershipsOf(ctx context.Context, userID string) ([]orgs.Membership, error)
	OrganizationByID(ctx context.Context, id string) (orgs.Organization, error)
	// UserRoles returns the roles the user holds outside organizations.
	UserRoles(ctx context.Context, userID string) ([]orgs.Grant, error)
	// JoinRequestsOf returns the user's requests to join, oldest first.
	JoinRequestsOf(ctx context.Context, userID string) ([]orgs.JoinRequest, error)
	// InvitationsOf returns the invitations to any of the addresses
	// (normalized) or accepted by the user, and those whose inviter is
	// inviter (user:<id>), oldest first.
	InvitationsOf(ctx context.Context, addresses []string, userID, inviter string) ([]orgs.Invitation, error)
}

// Activity reads what the person did and what was done for them.
type Activity interface {
	// GrantsOf returns the applications the user consented to.
	GrantsOf(ctx context.Context, userID string) ([]Application, error)
	// TokensOf returns the tokens issued for the user that are still
	// kept, oldest first.
	TokensOf(ctx context.Context, userID string) ([]Token, error)
	// MailsTo returns the mail kept that went to any of the addresses,
	// oldest first.
	MailsTo(ctx context.Context, addresses []string) ([]Mail, error)
	// EventsOf returns the events whose subject or actor is subject, in
	// log order.
	EventsOf(ctx context.Context, subject string) ([]events.Event, error)
	// FormerAddresses returns the addresses the user had or asked for
	// besides the current one.
	FormerAddresses(ctx context.Context, u accounts.User) ([]string, error)
}

// Proofing opens what identity-proofing providers vouched for
// (federation.Service).
type Proofing interface {
	Verified(ctx context.Context, userID string) ([]federation.Verified, error)
}

// Consents reads the person's decisions on versioned documents and their
// receipts; the consents feature implements it.
type Consents interface {
	ConsentsOf(ctx context.Context, userID string) ([]Consent, error)
}

// Export assembles what is held about userID and records, with a
// user.exported event (data: format), that actor received it in format
// (json, html). It returns accounts.ErrNotFound if there is no such user.
func (s *Service) Export(ctx context.Context, userID, actor, format string) (Export, error) {
	x, err := s.assemble(ctx, userID)
	if err != nil {
		return Export{}, err
	}
	ev, err := events.New("user.exported", "user:"+userID, actor, x.GeneratedAt, map[string]any{"format": format})
	if err != nil {
		return Export{}, err
	}
	if err := s.Store.AppendEvents(ctx, ev); err != nil {
		return Export{}, fmt.Errorf("record the export: %w", err)
	}
	return x, nil
}

// assemble reads everything held about userID.
func (s *Service) assemble(ctx context.Context, userID string) (Export, error) {
	u, err := s.Profiles.UserByID(ctx, userID)
	if err != nil {
		return Export{}, err
	}
	x := Export{Format: Format, GeneratedAt: s.now(), User: profile(u)}
	ext, err := s.Profiles.ExternalIDs(ctx, externalids.User, []string{u.ID})
	if err != nil {
		return Export{}, err
	}
	if m := ext[u.ID]; m != nil {
		x.User.ExternalIDs = m
	}
	switch d, err := s.Profiles.DeletionOf(ctx, u.ID); {
	case err == nil:
		x.Deletion = &d
	case !errors.Is(err, ErrNotFound):
		return Export{}, err
	}
	steps := []func(context.Context, accounts.User, *Export) error{
		s.exportVerified, s.exportSignIns, s.exportOrganizations, s.exportInvitations, s.exportActivity,
	}
	for _, step := range steps {
		if err := step(ctx, u, &x); err != nil {
			return Export{}, err
		}
	}
	return x, nil
}

func profile(u accounts.User) Profile {
	p := Profile{
		ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, GivenName: u.GivenName, FamilyName: u.FamilyName,
		Phone: u.Phone, Locale: u.Locale, Status: string(u.Status), PasswordSet: u.PasswordHash != "",
		Attributes: u.Attributes, LockedFields: u.LockedFields, ExternalID: u.ExternalID, ExternalIDs: map[string]string{},
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, ProfileConfirmedAt: optional(u.ProfileConfirmedAt),
	}
	if len(p.Attributes) == 0 {
		p.Attributes = json.RawMessage(`{}`)
	}
	if p.LockedFields == nil {
		p.LockedFields = []string{}
	}
	return p
}

func (s *Service) exportVerified(ctx context.Context, u accounts.User, x *Export) error {
	x.VerifiedAttributes = []VerifiedAttribute{}
	if s.Proofing == nil {
		return nil
	}
	vs, err := s.Proofing.Verified(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, v := range vs {
		value := v.Value
		if v.Name == federation.AttrNationalID {
			value = MaskNationalID(value)
		}
		x.VerifiedAttributes = append(x.VerifiedAttributes, VerifiedAttribute{Name: v.Name, Value: value, Source: v.Source, VerifiedAt: v.VerifiedAt})
	}
	return nil
}

// MaskNationalID shows a national identity number as people are shown
// one on a receipt: its last four characters, every letter and digit
// before them as *, separators kept.
func MaskNationalID(v string) string {
	r := []rune(strings.TrimSpace(v))
	for i := range max(len(r)-4, 0) {
		if r[i] != '-' && r[i] != '+' && r[i] != ' ' {
			r[i] = '*'
		}
	}
	if len(r) <= 4 {
		// Too short to show any of it.
		return strings.Repeat("*", len(r))
	}
	return string(r)
}

func (s *Service) exportSignIns(ctx context.Context, u accounts.User, x *Export) error {
	ids, err := s.SignIns.Identities(ctx, u.ID)
	if err != nil {
		return err
	}
	x.Identities = []Identity{}
	if len(ids) > 0 {
		providers, err := s.SignIns.ListProviders(ctx)
		if err != nil {
			return err
		}
		names := map[string]string{}
		for _, p := range providers {
			names[p.ID] = p.Name
		}
		for _, id := range ids {
			x.Identities = append(x.Identities, Identity{Provider: id.ProviderID, ProviderName: names[id.ProviderID], Subject: id.Subject,
				Email: id.Email, LinkedAt: id.CreatedAt, LastUsedAt: id.LastUsedAt})
		}
	}
	factors, err := s.SignIns.Factors(ctx, u.ID)
	if err != nil {
		return err
	}
	x.Factors = []Factor{}
	for _, f := range factors {
		x.Factors = append(x.Factors, Factor{Kind: string(f.Kind), Name: f.Name, CreatedAt: f.CreatedAt, LastUsedAt: f.LastUsedAt})
	}
	if x.RecoveryCodesLeft, err = s.SignIns.RecoveryCodesLeft(ctx, u.ID); err != nil {
		return err
	}
	sessions, err := s.SignIns.SessionsOf(ctx, u.ID)
	if err != nil {
		return err
	}
	x.Sessions = []Session{}
	for _, ss := range sessions {
		methods := ss.Methods
		if methods == nil {
			methods = []string{}
		}
		x.Sessions = append(x.Sessions, Session{ID: strings.TrimPrefix(ss.Subject(), "session:"), UserAgent: ss.UserAgent, IPAddress: ss.ClientIP,
			SignedInAt: ss.AuthTime, CreatedAt: ss.CreatedAt, LastSeenAt: ss.LastSeenAt, ExpiresAt: ss.ExpiresAt, Methods: methods, Level: ss.ACR})
	}
	return nil
}

// orgNames looks organizations' names up once each.
type orgNames struct {
	m     Memberships
	names map[string]string
}

func (o *orgNames) name(ctx context.Context, id string) (string, error) {
	if n, ok := o.names[id]; ok {
		return n, nil
	}
	org, err := o.m.OrganizationByID(ctx, id)
	switch {
	case errors.Is(err, orgs.ErrNotFound):
		org.Name = "" // deleted since
	case err != nil:
		return "", err
	}
	o.names[id] = org.Name
	return org.Name, nil
}

func grants(gs []orgs.Grant) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.App+"/"+g.Role)
	}
	slices.Sort(out)
	return out
}

func (s *Service) exportOrganizations(ctx context.Context, u accounts.User, x *Export) error {
	names := &orgNames{m: s.Memberships, names: map[string]string{}}
	ms, err := s.Memberships.MembershipsOf(ctx, u.ID)
	if err != nil {
		return err
	}
	x.Organizations = []Organization{}
	for _, m := range ms {
		name, err := names.name(ctx, m.OrgID)
		if err != nil {
			return err
		}
		x.Organizations = append(x.Organizations, Organization{ID: m.OrgID, Name: name, Roles: grants(m.Roles), JoinedAt: m.CreatedAt})
	}
	roles, err := s.Memberships.UserRoles(ctx, u.ID)
	if err != nil {
		return err
	}
	x.Roles = grants(roles)
	jrs, err := s.Memberships.JoinRequestsOf(ctx, u.ID)
	if err != nil {
		return err
	}
	x.JoinRequests = []JoinRequest{}
	for _, jr := range jrs {
		name, err := names.name(ctx, jr.OrgID)
		if err != nil {
			return err
		}
		x.JoinRequests = append(x.JoinRequests, JoinRequest{ID: jr.ID, OrganizationID: jr.OrgID, OrganizationName: name, Email: jr.Email,
			Status: jr.Status, CreatedAt: jr.CreatedAt, DecidedAt: optional(jr.DecidedAt)})
	}
	return nil
}

// addresses are the forms of the user's address that records keep.
func addresses(u accounts.User) []string {
	out := []string{u.EmailNormalized}
	if u.Email != u.EmailNormalized {
		out = append(out, u.Email)
	}
	return out
}

func (s *Service) exportInvitations(ctx context.Context, u accounts.User, x *Export) error {
	names := &orgNames{m: s.Memberships, names: map[string]string{}}
	invs, err := s.Memberships.InvitationsOf(ctx, addresses(u), u.ID, u.Subject())
	if err != nil {
		return err
	}
	x.InvitationsReceived, x.InvitationsSent = []Invitation{}, []Invitation{}
	for _, inv := range invs {
		name, err := names.name(ctx, inv.OrgID)
		if err != nil {
			return err
		}
		out := Invitation{ID: inv.ID, OrganizationID: inv.OrgID, OrganizationName: name, Email: inv.Email, Roles: grants(inv.Roles),
			Status: inv.Status, InvitedBy: inv.InvitedBy, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt, AcceptedAt: optional(inv.AcceptedAt)}
		if inv.Email == u.EmailNormalized || inv.AcceptedBy == u.ID {
			out.GivenName, out.FamilyName, out.Phone = inv.GivenName, inv.FamilyName, inv.Phone
			x.InvitationsReceived = append(x.InvitationsReceived, out)
		}
		if inv.InvitedBy == u.Subject() {
			out.GivenName, out.FamilyName, out.Phone = "", "", ""
			x.InvitationsSent = append(x.InvitationsSent, out)
		}
	}
	return nil
}

func (s *Service) exportActivity(ctx context.Context, u accounts.User, x *Export) error {
	var err error
	if x.Applications, err = s.Activity.GrantsOf(ctx, u.ID); err != nil {
		return err
	}
	if x.Tokens, err = s.Activity.TokensOf(ctx, u.ID); err != nil {
		return err
	}
	former, err := s.Activity.FormerAddresses(ctx, u)
	if err != nil {
		return err
	}
	if x.Mail, err = s.Activity.MailsTo(ctx, append(addresses(u), former...)); err != nil {
		return err
	}
	if s.Consents != nil {
		if x.Consents, err = s.Consents.ConsentsOf(ctx, u.ID); err != nil {
			return err
		}
	}
	evs, err := s.Activity.EventsOf(ctx, u.Subject())
	if err != nil {
		return err
	}
	x.Events = make([]Event, 0, len(evs))
	for _, e := range evs {
		out := Event{ID: e.UUID, Type: e.Type, Subject: e.Subject, Actor: e.Actor, Time: e.Time}
		if e.Subject == u.Subject() {
			out.Data = e.Data
		}
		x.Events = append(x.Events, out)
	}
	x.Applications = nonNil(x.Applications)
	x.Tokens = nonNil(x.Tokens)
	x.Mail = nonNil(x.Mail)
	x.Consents = nonNil(x.Consents)
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// optional is a time that may be unset: nil when zero.
func optional(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
