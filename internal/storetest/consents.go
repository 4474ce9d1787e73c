package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/federation"
)

// RunConsents is the conformance suite of consent receipts and states
// (consents.Store, and the account creations that write receipts) on
// engine e.
func RunConsents(t *testing.T, e Engine) {
	ctx := t.Context()
	rawURL := e.NewURL(t)
	s := OpenURL(t, rawURL)

	// Receipts made at registration are written with the account.
	ada := newUser(t, "ada@example.com", "")
	given := []consents.Receipt{
		{Purpose: "terms", Version: "1", Action: consents.Granted, At: base, Channel: consents.ChannelRegistration, Method: consents.MethodCheckbox},
		{Purpose: "marketing", Version: "2", Action: consents.Granted, At: base, Channel: consents.ChannelRegistration, Method: consents.MethodCheckbox},
	}
	receipts, evs, err := consents.Stamp(given, ada.ID)
	must(t, err, "Stamp")
	must(t, s.CreateUserWithConsents(ctx, ada, receipts, append([]events.Event{userEvent(t, ada)}, evs...)...), "CreateUserWithConsents")
	wantStates := []consents.State{
		{Purpose: "marketing", Version: "2", Granted: true, At: stored(base), ReceiptID: receipts[1].ID},
		{Purpose: "terms", Version: "1", Granted: true, At: stored(base), ReceiptID: receipts[0].ID},
	}
	states := func(userID string) []consents.State {
		t.Helper()
		got, err := s.ConsentStates(ctx, userID)
		must(t, err, "ConsentStates")
		slices.SortFunc(got, func(a, b consents.State) int {
			if a.Purpose < b.Purpose {
				return -1
			}
			return 1
		})
		return got
	}
	if d := cmp.Diff(wantStates, states(ada.ID)); d != "" {
		t.Errorf("states after registration (-want +got):\n%s", d)
	}
	if types := eventTypesAbout(t, s, ada.Subject()); !slices.Equal(types, []string{"user.imported", "consent.granted", "consent.granted"}) {
		t.Errorf("events about Ada: %v", types)
	}

	// The same address again: nothing of it is kept, not its receipts.
	dup := newUser(t, "ada@example.com", "")
	dupReceipts, dupEvs, _ := consents.Stamp(given, dup.ID)
	if err := s.CreateUserWithConsents(ctx, dup, dupReceipts, dupEvs...); !errors.Is(err, accounts.ErrConflict) {
		t.Errorf("a taken address: %v, want ErrConflict", err)
	}
	if got, _ := s.ConsentReceipts(ctx, dup.ID); len(got) != 0 {
		t.Errorf("a refused registration kept receipts %v", got)
	}

	// Changes: fn sees the states; its receipts move them on, in order,
	// with its events.
	later := base.Add(time.Hour)
	var seen []consents.State
	withdraw := consents.Receipt{UserID: ada.ID, Purpose: "marketing", Version: "2", Action: consents.Withdrawn, At: later,
		Channel: consents.ChannelAPI, ClientID: "crm", Actor: "client:crm", Method: "paper_form"}
	ev, err := withdraw.Event()
	must(t, err, "Event")
	withdraw.ID = ev.UUID
	must(t, s.UpdateConsents(ctx, ada.ID, func(list []consents.State) (consents.Change, error) {
		seen = list
		return consents.Change{Receipts: []consents.Receipt{withdraw}, Events: []events.Event{ev}}, nil
	}), "UpdateConsents")
	if len(seen) != 2 {
		t.Errorf("the change saw %d states, want 2", len(seen))
	}
	wantStates[0] = consents.State{Purpose: "marketing", Version: "2", Granted: false, At: stored(later), ReceiptID: withdraw.ID}
	if d := cmp.Diff(wantStates, states(ada.ID)); d != "" {
		t.Errorf("states after the withdrawal (-want +got):\n%s", d)
	}
	got, err := s.ConsentReceipts(ctx, ada.ID)
	must(t, err, "ConsentReceipts")
	want := append(slices.Clone(receipts), withdraw)
	for i := range want {
		want[i].At = stored(want[i].At)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("receipts (-want +got):\n%s", d)
	}
	if types := eventTypesAbout(t, s, ada.Subject()); types[len(types)-1] != "consent.withdrawn" {
		t.Errorf("events about Ada: %v", types)
	}

	// A failing change writes nothing; a receipt of someone else is
	// refused; there is no such user.
	boom := errors.New("boom")
	if err := s.UpdateConsents(ctx, ada.ID, func([]consents.State) (consents.Change, error) { return consents.Change{}, boom }); !errors.Is(err, boom) {
		t.Errorf("a failing change: %v", err)
	}
	other := withdraw
	other.UserID, other.ID = "someone-else", "r-other"
	if err := s.UpdateConsents(ctx, ada.ID, func([]consents.State) (consents.Change, error) {
		return consents.Change{Receipts: []consents.Receipt{other}}, nil
	}); err == nil {
		t.Error("a change of Ada's wrote a receipt of someone else's")
	}
	if err := s.UpdateConsents(ctx, "no-such-user", func([]consents.State) (consents.Change, error) { return consents.Change{}, nil }); !errors.Is(err, consents.ErrNotFound) {
		t.Errorf("no such user: %v, want ErrNotFound", err)
	}
	if got, _ := s.ConsentReceipts(ctx, ada.ID); len(got) != 3 {
		t.Errorf("%d receipts after refused changes, want 3", len(got))
	}

	// Receipts are never changed: the database refuses.
	db := e.RawDB(t, rawURL)
	if _, err := db.ExecContext(ctx, `UPDATE consent_receipts SET action = 'granted' WHERE id = $1`, withdraw.ID); err == nil {
		t.Error("a receipt was changed")
	}
	if got, _ := s.ConsentReceipts(ctx, ada.ID); got[2].Action != consents.Withdrawn {
		t.Errorf("the withdrawal reads %s", got[2].Action)
	}

	// An upstream registration writes its receipts with the account.
	must(t, s.CreateProvider(ctx, testProvider("google")), "CreateProvider")
	bo := newUser(t, "bo@example.com", "")
	boReceipts, boEvs, _ := consents.Stamp(given[:1], bo.ID)
	must(t, s.CreateUserWithIdentity(ctx, bo, federation.Identity{ProviderID: "google", Subject: "g-1", UserID: bo.ID, CreatedAt: base, LastUsedAt: base},
		boReceipts, boEvs...), "CreateUserWithIdentity")
	if got := states(bo.ID); len(got) != 1 || got[0].Purpose != "terms" || !got[0].Granted {
		t.Errorf("Bo's states %+v", got)
	}

	// They go with their user.
	eraseUser(t, s, ada.ID)
	if got, _ := s.ConsentReceipts(ctx, ada.ID); len(got) != 0 {
		t.Errorf("receipts after the user was deleted: %v", got)
	}
	if got := states(ada.ID); len(got) != 0 {
		t.Errorf("states after the user was deleted: %v", got)
	}
	if got := states(bo.ID); len(got) != 1 {
		t.Errorf("Bo's states after Ada was deleted: %v", got)
	}
}
