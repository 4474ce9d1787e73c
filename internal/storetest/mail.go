package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/mail"
	"github.com/portvakt/portvakt/internal/store"
)

// RunMail is the conformance suite for the mail outbox's records (the
// mail.Store methods) on engine e. Call it once per engine, typically
// through ForEachEngine.
func RunMail(t *testing.T, e Engine) {
	t.Run("CreateAndRead", func(t *testing.T) { testMailCreateAndRead(t, e) })
	t.Run("Conflicts", func(t *testing.T) { testMailConflicts(t, e) })
	t.Run("Update", func(t *testing.T) { testMailUpdate(t, e) })
	t.Run("List", func(t *testing.T) { testMailList(t, e) })
}

// mailBase is the mail suite's clock: not UTC and with nanoseconds, so that
// the tests see the store convert to UTC and truncate to microseconds.
var mailBase = time.Date(2025, 6, 1, 9, 30, 0, 123456789, time.FixedZone("EEST", 3*3600))

// newMailRecord returns a queued record for event n, created at at. Its
// sealed bytes include a NUL and a byte that is not UTF-8, which must
// survive.
func newMailRecord(n int, at time.Time) mail.Record {
	return mail.Record{
		ID:        fmt.Sprintf("mail-%03d", n),
		EventUUID: fmt.Sprintf("event-%03d", n),
		To:        fmt.Sprintf("user%d@example.com", n),
		Template:  mail.VerifyEmail,
		Lang:      "sv",
		Subject:   "Bekräfta din e-postadress",
		Sealed:    []byte(fmt.Sprintf("sealed\x00\xff%d", n)),
		Status:    mail.StatusQueued,
		CreatedAt: at,
	}
}

// mailAsStored is r as the store gives it back.
func mailAsStored(r mail.Record) mail.Record {
	r.CreatedAt = r.CreatedAt.Truncate(time.Microsecond).UTC()
	if !r.SentAt.IsZero() {
		r.SentAt = r.SentAt.Truncate(time.Microsecond).UTC()
	}
	return r
}

func testMailCreateAndRead(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	r := newMailRecord(1, mailBase)
	must(t, s.CreateMail(ctx, r), "CreateMail")
	want := mailAsStored(r)
	for _, tc := range []struct {
		name string
		get  func() (mail.Record, error)
	}{
		{"MailByID", func() (mail.Record, error) { return s.MailByID(ctx, r.ID) }},
		{"MailByEvent", func() (mail.Record, error) { return s.MailByEvent(ctx, r.EventUUID) }},
	} {
		got, err := tc.get()
		must(t, err, "%s", tc.name)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: got a different record (-want +got):\n%s", tc.name, d)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("%s: CreatedAt in %s, want UTC", tc.name, got.CreatedAt.Location())
		}
	}
	for _, tc := range []struct {
		name string
		get  func() (mail.Record, error)
	}{
		{"MailByID", func() (mail.Record, error) { return s.MailByID(ctx, "no-such-mail") }},
		{"MailByEvent", func() (mail.Record, error) { return s.MailByEvent(ctx, "no-such-event") }},
	} {
		_, err := tc.get()
		if !errors.Is(err, mail.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of a missing mail: got %v, want mail.ErrNotFound and store.ErrNotFound", tc.name, err)
		}
	}
}

func testMailConflicts(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	first := newMailRecord(1, mailBase)
	must(t, s.CreateMail(ctx, first), "CreateMail")
	sameEvent := newMailRecord(2, mailBase)
	sameEvent.EventUUID = first.EventUUID
	sameID := newMailRecord(3, mailBase)
	sameID.ID = first.ID
	for _, tc := range []struct {
		name string
		r    mail.Record
	}{{"same event", sameEvent}, {"same ID", sameID}} {
		err := s.CreateMail(ctx, tc.r)
		if !errors.Is(err, mail.ErrConflict) || !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: got %v, want mail.ErrConflict and store.ErrConflict", tc.name, err)
		}
	}
	got, err := s.MailByEvent(ctx, first.EventUUID)
	must(t, err, "MailByEvent")
	if got.ID != first.ID {
		t.Errorf("after the conflicts the event's mail is %s, want %s", got.ID, first.ID)
	}
	bad := newMailRecord(4, mailBase)
	bad.Status = "lost"
	if err := s.CreateMail(ctx, bad); err == nil {
		t.Errorf("CreateMail with status %q: got no error, want one", bad.Status)
	}
}

func testMailUpdate(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	r := newMailRecord(1, mailBase)
	must(t, s.CreateMail(ctx, r), "CreateMail")
	steps := []mail.Update{
		{Status: mail.StatusQueued, Attempts: 1, LastError: "temporary: connection refused"},
		{Status: mail.StatusSent, Attempts: 2, SentAt: mailBase.Add(time.Minute)},
		{Status: mail.StatusFailed, Attempts: 3, LastError: "550 5.1.1 no such user"},
		{Status: mail.StatusCaptured},
	}
	for i, u := range steps {
		must(t, s.UpdateMailStatus(ctx, r.ID, u), "UpdateMailStatus step %d", i)
		got, err := s.MailByID(ctx, r.ID)
		must(t, err, "MailByID")
		want := r
		want.Status, want.Attempts, want.LastError, want.SentAt = u.Status, u.Attempts, u.LastError, u.SentAt
		if d := cmp.Diff(mailAsStored(want), got); d != "" {
			t.Errorf("step %d: got a different record (-want +got):\n%s", i, d)
		}
	}
	err := s.UpdateMailStatus(ctx, "no-such-mail", mail.Update{Status: mail.StatusSent})
	if !errors.Is(err, mail.ErrNotFound) {
		t.Errorf("UpdateMailStatus of a missing mail: got %v, want mail.ErrNotFound", err)
	}
	if err := s.UpdateMailStatus(ctx, r.ID, mail.Update{Status: "lost"}); err == nil {
		t.Error(`UpdateMailStatus to "lost": got no error, want one`)
	}
}

func testMailList(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	got, err := s.ListMails(ctx, 10)
	must(t, err, "ListMails")
	if len(got) != 0 {
		t.Fatalf("ListMails of a new database: got %d mails, want 0", len(got))
	}
	// Inserted out of time order; 2 and 3 share a time, and the larger
	// ID counts as newer.
	at := map[int]time.Time{1: mailBase, 2: mailBase.Add(time.Second), 3: mailBase.Add(time.Second), 4: mailBase.Add(time.Hour), 5: mailBase.Add(-time.Hour)}
	for _, n := range []int{3, 1, 5, 4, 2} {
		must(t, s.CreateMail(ctx, newMailRecord(n, at[n])), "CreateMail %d", n)
	}
	for _, tc := range []struct {
		limit int
		want  []int
	}{
		{10, []int{4, 3, 2, 1, 5}},
		{2, []int{4, 3}},
		{1, []int{4}},
	} {
		got, err := s.ListMails(ctx, tc.limit)
		must(t, err, "ListMails(%d)", tc.limit)
		var want []mail.Record
		for _, n := range tc.want {
			want = append(want, mailAsStored(newMailRecord(n, at[n])))
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("ListMails(%d): got other mails (-want +got):\n%s", tc.limit, d)
		}
	}
}
