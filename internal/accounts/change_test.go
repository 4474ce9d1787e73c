package accounts_test

import (
	"context"
	"errors"
	"maps"
	"net/url"
	"slices"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/mail"
)

// sentMail records what the notifier hands to the outbox.
type sentMail struct {
	byEvent map[string]mail.Message
	order   []mail.Message
}

func (m *sentMail) Queued(_ context.Context, uuid string) (bool, error) {
	_, ok := m.byEvent[uuid]
	return ok, nil
}

func (m *sentMail) Deliver(_ context.Context, uuid string, msg mail.Message) error {
	if _, ok := m.byEvent[uuid]; ok {
		return nil // a replay sends the stored mail
	}
	m.byEvent[uuid] = msg
	m.order = append(m.order, msg)
	return nil
}

// notify runs the account mail consumer over every event since the log
// had n, and returns the mails it made.
func (f *fixture) notify(t *testing.T, n int) []mail.Message {
	t.Helper()
	base, _ := url.Parse("https://id.example.com")
	out := &sentMail{byEvent: map[string]mail.Message{}}
	nt := &accounts.Notifier{Accounts: f.svc, Mail: out, BaseURL: base}
	for _, e := range f.allEvents(t)[n:] {
		if err := nt.Handle(t.Context(), e); err != nil {
			t.Fatalf("Handle(%s): %v", e.Type, err)
		}
	}
	return out.order
}

// tokenOf returns the token query parameter of a link in a mail.
func tokenOf(t *testing.T, link any) string {
	t.Helper()
	u, err := url.Parse(link.(string))
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("link %v has no token", link)
	}
	return u.Query().Get("token")
}

func (f *fixture) create(t *testing.T, email, pw string) accounts.User {
	t.Helper()
	u, err := f.svc.Create(t.Context(), accounts.NewUser{Email: email, Password: pw, Verified: true, Locale: "fi"}, "system:test")
	if err != nil {
		t.Fatalf("Create(%s): %v", email, err)
	}
	return u
}

// requestChange asks for ada's change to addr and returns the mails that
// follow.
func (f *fixture) requestChange(t *testing.T, u accounts.User, addr string) []mail.Message {
	t.Helper()
	n := len(f.allEvents(t))
	if err := f.svc.RequestEmailChange(t.Context(), u.ID, addr); err != nil {
		t.Fatalf("RequestEmailChange(%s): %v", addr, err)
	}
	if got := f.newEvents(t, n); !slices.Equal(got, []string{"user.email_change_requested"}) {
		t.Fatalf("events of the request: %v", got)
	}
	return f.notify(t, n)
}

func TestEmailChange(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ada := f.create(t, "ada@example.com", goodPassword)

	sent := f.requestChange(t, ada, " Ada.New@Example.org ")
	if len(sent) != 1 || sent[0].To != "Ada.New@Example.org" || sent[0].Template != mail.ChangeEmail || sent[0].Lang != language.Finnish {
		t.Fatalf("mails after the request: %+v, want one change_email to the new address in Finnish", sent)
	}
	if got := f.user(t, ada.ID); got.Email != "ada@example.com" {
		t.Fatalf("address before confirming: %s, want it unchanged", got.Email)
	}
	code := sent[0].Data["Code"].(string)
	if _, err := f.svc.ConfirmEmailChangeCode(ctx, ada.ID, otherCode(code)); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("a wrong code: %v, want ErrTokenInvalid", err)
	}
	other := f.create(t, "bo@example.com", goodPassword)
	if _, err := f.svc.ConfirmEmailChangeCode(ctx, other.ID, code); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("ada's code for another user: %v, want ErrTokenInvalid", err)
	}
	if u, addr, err := f.svc.CheckEmailChange(ctx, tokenOf(t, sent[0].Data["Link"])); err != nil || u.ID != ada.ID || addr != "Ada.New@Example.org" {
		t.Errorf("CheckEmailChange: %s %s %v", u.ID, addr, err)
	}

	n := len(f.allEvents(t))
	f.now = f.now.Add(time.Minute)
	changed, err := f.svc.ConfirmEmailChangeCode(ctx, ada.ID, code)
	if err != nil {
		t.Fatalf("ConfirmEmailChangeCode: %v", err)
	}
	if changed.Email != "Ada.New@Example.org" || changed.EmailNormalized != "ada.new@example.org" || !changed.EmailVerified {
		t.Errorf("after confirming: %s %s verified %v", changed.Email, changed.EmailNormalized, changed.EmailVerified)
	}
	if got := f.newEvents(t, n); !slices.Equal(got, []string{"user.email_changed", "user.updated"}) {
		t.Errorf("events of the change: %v", got)
	}
	if _, err := f.svc.ConfirmEmailChangeLink(ctx, tokenOf(t, sent[0].Data["Link"])); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("the link after the code: %v, want ErrTokenInvalid (one use)", err)
	}
	if _, err := f.svc.Authenticate(ctx, "ada.new@example.org", goodPassword); err != nil {
		t.Errorf("sign-in with the new address: %v", err)
	}

	undoMail := f.notify(t, n)
	if len(undoMail) != 1 || undoMail[0].To != "ada@example.com" || undoMail[0].Template != mail.EmailChanged ||
		undoMail[0].Data["NewEmail"] != "Ada.New@Example.org" || undoMail[0].Data["Days"] != 7 {
		t.Fatalf("mails after the change: %+v, want the undo link to the old address", undoMail)
	}
	undo := tokenOf(t, undoMail[0].Data["UndoLink"])
	if u, addr, err := f.svc.CheckEmailUndo(ctx, undo); err != nil || u.ID != ada.ID || addr != "ada@example.com" {
		t.Errorf("CheckEmailUndo: %s %s %v", u.ID, addr, err)
	}

	// Undo: the old address is back, every session ends, with its event.
	sessions := f.startSessions(t, ada.ID, 2)
	n = len(f.allEvents(t))
	restored, err := f.svc.UndoEmailChange(ctx, undo, []string{"session:aaaa", "session:bbbb"})
	if err != nil {
		t.Fatalf("UndoEmailChange: %v", err)
	}
	if restored.Email != "ada@example.com" || !restored.EmailVerified {
		t.Errorf("after the undo: %s verified %v", restored.Email, restored.EmailVerified)
	}
	if left := f.sessionsLeft(t, sessions); left != 0 {
		t.Errorf("%d sessions left after the undo, want none", left)
	}
	if got := f.newEvents(t, n); !slices.Equal(got, []string{"user.email_change_undone", "user.updated", "session.ended", "session.ended"}) {
		t.Errorf("events of the undo: %v", got)
	}
	if _, err := f.svc.UndoEmailChange(ctx, undo, nil); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("the undo link again: %v, want ErrTokenInvalid", err)
	}
}

func TestEmailChangeToATakenAddress(t *testing.T) {
	f := newFixture(t)
	ada := f.create(t, "ada@example.com", goodPassword)
	bo := f.create(t, "bo@example.com", goodPassword)

	// The request is accepted as any other; Bo hears of it, in Bo's
	// language, and Ada gets no code.
	sent := f.requestChange(t, ada, "BO@example.com")
	if len(sent) != 1 || sent[0].To != "bo@example.com" || sent[0].Template != mail.EmailInUse || sent[0].Lang != language.Finnish {
		t.Fatalf("mails: %+v, want one email_in_use to Bo", sent)
	}
	if live, err := f.store.LiveTokens(t.Context(), ada.ID, accounts.TokenChangeEmail, f.now); err != nil || len(live) != 0 {
		t.Errorf("change tokens of Ada: %d, %v, want none", len(live), err)
	}

	// Taken between the request and the confirmation: refused, nothing
	// changes.
	sent = f.requestChange(t, ada, "carl@example.com")
	f.create(t, "carl@example.com", goodPassword)
	if _, err := f.svc.ConfirmEmailChangeCode(t.Context(), ada.ID, sent[0].Data["Code"].(string)); !errors.Is(err, accounts.ErrConflict) {
		t.Errorf("confirming an address taken since: %v, want ErrConflict", err)
	}
	if got := f.user(t, ada.ID); got.Email != "ada@example.com" {
		t.Errorf("Ada's address: %s, want it unchanged", got.Email)
	}
	if got := f.user(t, bo.ID); got.Email != "bo@example.com" {
		t.Errorf("Bo's address: %s, want it unchanged", got.Email)
	}
}

func TestEmailChangeRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ada := f.create(t, "ada@example.com", goodPassword)
	for _, tc := range []struct {
		addr, code string
	}{
		{"not-an-address", "invalid"},
		{"", "required"},
		{"ADA@example.com", "unchanged"},
	} {
		var fe accounts.FieldError
		if err := f.svc.RequestEmailChange(ctx, ada.ID, tc.addr); !errors.As(err, &fe) || fe.Field != "email" || fe.Code != tc.code {
			t.Errorf("RequestEmailChange(%q): %v, want the email field's %s", tc.addr, err, tc.code)
		}
	}

	// A code sent before the address changed another way is void, and so
	// is one that expired.
	sent := f.requestChange(t, ada, "first@example.com")
	second := f.requestChange(t, ada, "second@example.com")
	if _, err := f.svc.ConfirmEmailChangeCode(ctx, ada.ID, second[0].Data["Code"].(string)); err != nil {
		t.Fatalf("confirming the second change: %v", err)
	}
	if _, err := f.svc.ConfirmEmailChangeLink(ctx, tokenOf(t, sent[0].Data["Link"])); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("the first change's link after the second: %v, want ErrTokenInvalid", err)
	}
	late := f.requestChange(t, ada, "third@example.com")
	f.now = f.now.Add(accounts.ChangeEmailTTL)
	if _, err := f.svc.ConfirmEmailChangeLink(ctx, tokenOf(t, late[0].Data["Link"])); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("an expired link: %v, want ErrTokenInvalid", err)
	}
}

// TestUndoEmailChangeKeepsTheFirstOwner: someone who changed the address
// twice cannot, by undoing the second change, take the undo link from
// whoever had the address first; and the first undo voids later ones.
func TestUndoEmailChangeKeepsTheFirstOwner(t *testing.T) {
	for _, first := range []bool{false, true} {
		f := newFixture(t)
		ctx := t.Context()
		ada := f.create(t, "ada@example.com", goodPassword)
		var undos []string
		for _, addr := range []string{"mallory@example.net", "mallory2@example.net"} {
			sent := f.requestChange(t, ada, addr)
			n := len(f.allEvents(t))
			f.now = f.now.Add(time.Minute)
			if _, err := f.svc.ConfirmEmailChangeCode(ctx, ada.ID, sent[0].Data["Code"].(string)); err != nil {
				t.Fatalf("change to %s: %v", addr, err)
			}
			undos = append(undos, tokenOf(t, f.notify(t, n)[0].Data["UndoLink"]))
		}
		if !first {
			if u, err := f.svc.UndoEmailChange(ctx, undos[1], nil); err != nil || u.Email != "mallory@example.net" {
				t.Fatalf("undoing the second change: %s, %v", u.Email, err)
			}
		}
		u, err := f.svc.UndoEmailChange(ctx, undos[0], nil)
		if err != nil || u.Email != "ada@example.com" {
			t.Fatalf("undoing the first change (after the second: %v): %s, %v", !first, u.Email, err)
		}
		if _, err := f.svc.UndoEmailChange(ctx, undos[1], nil); !errors.Is(err, accounts.ErrTokenInvalid) {
			t.Errorf("the second undo link after the first: %v, want ErrTokenInvalid", err)
		}
	}
}

func TestUndoEmailChangeExpires(t *testing.T) {
	f := newFixture(t)
	ada := f.create(t, "ada@example.com", goodPassword)
	sent := f.requestChange(t, ada, "new@example.com")
	n := len(f.allEvents(t))
	if _, err := f.svc.ConfirmEmailChangeCode(t.Context(), ada.ID, sent[0].Data["Code"].(string)); err != nil {
		t.Fatal(err)
	}
	undo := tokenOf(t, f.notify(t, n)[0].Data["UndoLink"])
	f.now = f.now.Add(accounts.UndoEmailChangeTTL)
	if _, err := f.svc.UndoEmailChange(t.Context(), undo, nil); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("an undo link after %v: %v, want ErrTokenInvalid", accounts.UndoEmailChangeTTL, err)
	}
	if got := f.user(t, ada.ID); got.Email != "new@example.com" {
		t.Errorf("address: %s, want the new one kept", got.Email)
	}
}

func TestChangePassword(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ada := f.create(t, "ada@example.com", goodPassword)
	_, reset, err := f.svc.IssueReset(ctx, ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	sessions := f.startSessions(t, ada.ID, 3)

	for _, tc := range []struct {
		name string
		in   accounts.PasswordChange
		want map[string]string // field → code
	}{
		{"no current password", accounts.PasswordChange{New: otherPassword}, map[string]string{"current_password": "required"}},
		{"no new password", accounts.PasswordChange{Current: goodPassword}, map[string]string{"password": "required"}},
		{"too common", accounts.PasswordChange{Current: goodPassword, New: "password123"}, map[string]string{"password": "too_common"}},
		{"built from the address", accounts.PasswordChange{Current: goodPassword, New: "ada@example.com1"}, map[string]string{"password": "contains_personal_info"}},
		{"the same", accounts.PasswordChange{Current: goodPassword, New: goodPassword}, map[string]string{"password": "unchanged"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.ChangePassword(ctx, ada.ID, tc.in)
			got := map[string]string{}
			for _, e := range flattenErr(err) {
				var fe accounts.FieldError
				if errors.As(e, &fe) {
					got[fe.Field] = fe.Code
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("ChangePassword: %v, want field errors %v", err, tc.want)
			}
		})
	}
	n := len(f.allEvents(t))
	if _, err := f.svc.ChangePassword(ctx, ada.ID, accounts.PasswordChange{Current: "not-the-password-1", New: otherPassword}); !errors.Is(err, accounts.ErrWrongPassword) {
		t.Errorf("a wrong current password: %v, want ErrWrongPassword", err)
	}
	if got := f.newEvents(t, n); len(got) != 0 || !f.checkPassword(t, f.user(t, ada.ID), goodPassword) || f.sessionsLeft(t, sessions) != 3 {
		t.Fatalf("after refusals: events %v, old password kept %v, %d sessions, want nothing changed",
			got, f.checkPassword(t, f.user(t, ada.ID), goodPassword), f.sessionsLeft(t, sessions))
	}

	u, err := f.svc.ChangePassword(ctx, ada.ID, accounts.PasswordChange{Current: goodPassword, New: otherPassword, Keep: sessions[0],
		Ended: []string{"session:one", "session:two"}})
	if err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if !f.checkPassword(t, u, otherPassword) {
		t.Error("the new password does not match the stored hash")
	}
	if got := f.newEvents(t, n); !slices.Equal(got, []string{"password.changed", "session.ended", "session.ended"}) {
		t.Errorf("events: %v", got)
	}
	if left := f.sessionsLeft(t, sessions); left != 1 || f.sessionsLeft(t, sessions[:1]) != 1 {
		t.Errorf("%d sessions left, want only the kept one", left)
	}
	if _, err := f.svc.CheckReset(ctx, reset); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("a reset link from before the change: %v, want ErrTokenInvalid", err)
	}
	sent := f.notify(t, n)
	if len(sent) != 1 || sent[0].Template != mail.PasswordChanged || sent[0].To != "ada@example.com" {
		t.Errorf("mails: %+v, want the password_changed notice", sent)
	}
}

func TestSetFirstPassword(t *testing.T) {
	f := newFixture(t)
	u := f.create(t, "ada@example.com", "")
	n := len(f.allEvents(t))
	got, err := f.svc.ChangePassword(t.Context(), u.ID, accounts.PasswordChange{New: goodPassword})
	if err != nil {
		t.Fatalf("ChangePassword without a password before: %v", err)
	}
	if !f.checkPassword(t, got, goodPassword) {
		t.Error("the password set does not match the stored hash")
	}
	evs := f.allEvents(t)[n:]
	if len(evs) != 1 || evs[0].Type != "password.changed" || string(evs[0].Data) != `{"first":true,"via":"account"}` {
		t.Errorf("events: %v", evs)
	}
}

func flattenErr(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErr(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
