package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/portvakt/portvakt/internal/events"

	"github.com/google/uuid"
)

// Store errors, wrapped by Store implementations.
var (
	// ErrNotFound means there is no such mail.
	ErrNotFound = errors.New("mail not found")
	// ErrConflict means a mail with the same ID or event already exists.
	ErrConflict = errors.New("mail already exists")
)

// Status is where a mail is in its delivery.
type Status string

// The statuses of a mail.
const (
	// StatusQueued means stored and not sent yet; a temporary failure
	// leaves a mail queued for the next attempt.
	StatusQueued Status = "queued"
	// StatusSent means the mail server accepted the mail.
	StatusSent Status = "sent"
	// StatusCaptured means no mail server is configured: the mail stays in
	// the database for the developer tools to show.
	StatusCaptured Status = "captured"
	// StatusFailed means the mail server refused the mail for good.
	StatusFailed Status = "failed"
)

// Record is a mail as the Store keeps it: its bodies sealed by the keyring.
type Record struct {
	ID string
	// EventUUID is the event the mail was made for; there is at most one
	// mail per event.
	EventUUID string
	// To is the recipient's address.
	To       string
	Template string
	Lang     string
	Subject  string
	// Sealed is the encrypted content (display name and both bodies),
	// bound to the mail's ID.
	Sealed    []byte
	Status    Status
	Attempts  int
	LastError string
	CreatedAt time.Time
	// SentAt is when the server accepted the mail; zero until then.
	SentAt time.Time
	// Track is the mail's Tracking as JSON, empty when untracked.
	Track []byte
}

// Update is the outcome of a delivery attempt.
type Update struct {
	Status    Status
	Attempts  int
	LastError string
	// SentAt is when the mail was sent; the zero time stores none.
	SentAt time.Time
	// Events are written with the status, in one transaction.
	Events []events.Event
}

// Store keeps mail records.
type Store interface {
	// CreateMail stores r; ErrConflict if its ID or EventUUID is taken.
	CreateMail(ctx context.Context, r Record) error
	// MailByEvent returns the mail made for an event, or ErrNotFound.
	MailByEvent(ctx context.Context, eventUUID string) (Record, error)
	// MailByID returns the mail, or ErrNotFound.
	MailByID(ctx context.Context, id string) (Record, error)
	// UpdateMailStatus records the outcome of a delivery attempt;
	// ErrNotFound if there is no such mail.
	UpdateMailStatus(ctx context.Context, id string, u Update) error
	// ListMails returns up to limit mails, newest first.
	ListMails(ctx context.Context, limit int) ([]Record, error)
}

// Sealer encrypts secrets at rest; *keyring.Keyring is one.
type Sealer interface {
	// Encrypt seals plaintext, bound to aad.
	Encrypt(plaintext, aad []byte) ([]byte, error)
	// Decrypt opens a ciphertext sealed with the same aad.
	Decrypt(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

// Mail is a stored mail with its bodies decrypted, for the developer tools.
type Mail struct {
	ID        string
	EventUUID string
	To        string
	ToName    string
	Template  string
	Lang      string
	Subject   string
	Text      string
	HTML      string
	Status    Status
	Attempts  int
	LastError string
	CreatedAt time.Time
	SentAt    time.Time
}

// content is what a record seals.
type content struct {
	ToName string `json:"to_name,omitempty"`
	Text   string `json:"text"`
	HTML   string `json:"html"`
}

// Outbox delivers mail once per event, even when asked more than once.
type Outbox struct {
	Store    Store
	Keyring  Sealer
	Renderer *Renderer
	// Sender hands mail to a server. Nil means no mail server is
	// configured: mail is captured in the database instead of sent. (Leave
	// it nil rather than setting a nil *SMTPSender.)
	Sender Sender
	// Logger receives a line per mail captured, sent or refused (default:
	// discard). Lines name the mail and its template, never its content.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *Outbox) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

func (o *Outbox) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// maxErrorLen bounds the last error kept with a mail.
const maxErrorLen = 1000

// recordTimeout bounds writing the outcome of an attempt, which happens even
// when ctx has ended: a mail the server accepted must be marked sent.
const recordTimeout = 10 * time.Second

// Deliver sends m, made for the event eventUUID, unless that event's mail
// was already sent, captured or refused for good; then it returns nil and
// sends nothing. The first call renders m and stores it encrypted; later
// calls for the same event send the stored mail, so a retried mail carries
// the links and code of the first, whatever m says.
//
// A temporary failure is recorded and returned (wrapping ErrTemporary): the
// caller retries later. A permanent one marks the mail failed, is logged,
// and returns nil. A message that cannot be rendered returns an error
// wrapping ErrInvalidMessage.
func (o *Outbox) Deliver(ctx context.Context, eventUUID string, m Message) error {
	if eventUUID == "" {
		return fmt.Errorf("deliver mail: %w: no event UUID", ErrInvalidMessage)
	}
	rec, err := o.Store.MailByEvent(ctx, eventUUID)
	if errors.Is(err, ErrNotFound) {
		rec, err = o.queue(ctx, eventUUID, m)
	}
	if err != nil {
		return fmt.Errorf("deliver mail for event %s: %w", eventUUID, err)
	}
	if rec.Status != StatusQueued {
		return nil
	}
	return o.send(ctx, rec)
}

// queue renders m and stores it, or returns the mail another delivery of
// the same event stored first.
func (o *Outbox) queue(ctx context.Context, eventUUID string, m Message) (Record, error) {
	if o.Renderer == nil {
		return Record{}, errors.New("outbox has no renderer")
	}
	r, err := o.Renderer.render(m)
	if err != nil {
		return Record{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Record{}, err
	}
	rec := Record{
		ID: id.String(), EventUUID: eventUUID, To: m.To, Template: m.Template, Lang: r.Lang.String(),
		Subject: r.Subject, Status: StatusQueued, CreatedAt: o.now(),
	}
	if m.Track != nil {
		if rec.Track, err = json.Marshal(m.Track); err != nil {
			return Record{}, err
		}
	}
	plain, err := json.Marshal(content{ToName: m.Name, Text: r.Text, HTML: r.HTML})
	if err != nil {
		return Record{}, err
	}
	if rec.Sealed, err = o.Keyring.Encrypt(plain, aad(rec.ID)); err != nil {
		return Record{}, fmt.Errorf("encrypt mail: %w", err)
	}
	err = o.Store.CreateMail(ctx, rec)
	if errors.Is(err, ErrConflict) {
		return o.Store.MailByEvent(ctx, eventUUID)
	}
	if err != nil {
		return Record{}, err
	}
	return rec, nil
}

// aad binds a mail's sealed content to its ID.
func aad(id string) []byte { return []byte("mail:" + id) }

// send makes one delivery attempt of a queued mail and records it.
func (o *Outbox) send(ctx context.Context, rec Record) error {
	c, err := o.open(ctx, rec)
	if err != nil {
		return err
	}
	log := o.logger().With("mail_id", rec.ID, "template", rec.Template, "event_uuid", rec.EventUUID)
	// The outcome is recorded even if ctx ended during the attempt.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if o.Sender == nil {
		if err := o.Store.UpdateMailStatus(rctx, rec.ID, Update{Status: StatusCaptured, Attempts: rec.Attempts}); err != nil {
			return fmt.Errorf("capture mail %s: %w", rec.ID, err)
		}
		log.Info("mail captured, not sent: no mail server is configured (see portvakt mail list, or /dev/mail)")
		return nil
	}
	sendErr := o.Sender.Send(ctx, Envelope{ID: rec.ID, To: rec.To, ToName: c.ToName, Subject: rec.Subject, Text: c.Text, HTML: c.HTML})
	u := Update{Status: StatusSent, Attempts: rec.Attempts + 1}
	switch {
	case sendErr == nil:
		u.SentAt = o.now()
	case errors.Is(sendErr, ErrPermanent):
		u.Status, u.LastError = StatusFailed, truncate(sendErr.Error(), maxErrorLen)
	default:
		u.Status, u.LastError = StatusQueued, truncate(sendErr.Error(), maxErrorLen)
	}
	ev, err := o.outcomeEvent(rec, u)
	if err != nil {
		return err
	}
	if ev != nil {
		u.Events = append(u.Events, *ev)
	}
	if err := o.Store.UpdateMailStatus(rctx, rec.ID, u); err != nil {
		if sendErr == nil {
			// Returning the error makes the caller retry, and the mail may
			// go out twice; losing it would be worse.
			return fmt.Errorf("mail %s was sent but could not be marked sent: %w", rec.ID, err)
		}
		return errors.Join(fmt.Errorf("send mail %s: %w", rec.ID, sendErr), fmt.Errorf("record attempt: %w", err))
	}
	switch u.Status {
	case StatusSent:
		log.Info("mail sent", "attempts", u.Attempts)
		return nil
	case StatusFailed:
		log.Warn("mail refused permanently; it will not be sent again", "attempts", u.Attempts, "error", u.LastError)
		return nil
	}
	if !errors.Is(sendErr, ErrTemporary) {
		sendErr = fmt.Errorf("%w: %w", ErrTemporary, sendErr)
	}
	return fmt.Errorf("send mail %s (attempt %d): %w", rec.ID, u.Attempts, sendErr)
}

// outcomeEvent is the event a tracked mail's final outcome writes: sent,
// or refused for good; none for an untracked mail or a retry to come.
func (o *Outbox) outcomeEvent(rec Record, u Update) (*events.Event, error) {
	if len(rec.Track) == 0 || (u.Status != StatusSent && u.Status != StatusFailed) {
		return nil, nil
	}
	var t Tracking
	if err := json.Unmarshal(rec.Track, &t); err != nil {
		return nil, fmt.Errorf("mail %s tracking: %w", rec.ID, err)
	}
	data := map[string]any{}
	for k, v := range t.Data {
		data[k] = v
	}
	data["mail_id"] = rec.ID
	typ := t.Kind + ".sent"
	if u.Status == StatusFailed {
		typ = t.Kind + ".delivery_failed"
		data["error"] = u.LastError
	}
	ev, err := events.New(typ, t.Subject, "system:mail", o.now(), data)
	if err != nil {
		return nil, fmt.Errorf("mail %s tracking: %w", rec.ID, err)
	}
	return &ev, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 { // do not cut a UTF-8 sequence
		n--
	}
	return s[:n]
}

// open decrypts a record's content.
func (o *Outbox) open(ctx context.Context, rec Record) (content, error) {
	plain, err := o.Keyring.Decrypt(ctx, rec.Sealed, aad(rec.ID))
	if err != nil {
		return content{}, fmt.Errorf("decrypt mail %s: %w", rec.ID, err)
	}
	var c content
	if err := json.Unmarshal(plain, &c); err != nil {
		return content{}, fmt.Errorf("decode mail %s: %w", rec.ID, err)
	}
	return c, nil
}

// decrypted returns rec with its content opened.
func (o *Outbox) decrypted(ctx context.Context, rec Record) (Mail, error) {
	c, err := o.open(ctx, rec)
	if err != nil {
		return Mail{}, err
	}
	return Mail{
		ID: rec.ID, EventUUID: rec.EventUUID, To: rec.To, ToName: c.ToName, Template: rec.Template, Lang: rec.Lang,
		Subject: rec.Subject, Text: c.Text, HTML: c.HTML, Status: rec.Status, Attempts: rec.Attempts,
		LastError: rec.LastError, CreatedAt: rec.CreatedAt, SentAt: rec.SentAt,
	}, nil
}

// DefaultListLimit is how many mails List returns when asked for none.
const DefaultListLimit = 50

// List returns up to limit mails (DefaultListLimit if limit < 1), newest
// first, decrypted.
func (o *Outbox) List(ctx context.Context, limit int) ([]Mail, error) {
	if limit < 1 {
		limit = DefaultListLimit
	}
	recs, err := o.Store.ListMails(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("list mails: %w", err)
	}
	out := make([]Mail, 0, len(recs))
	for _, r := range recs {
		m, err := o.decrypted(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Get returns one mail, decrypted; ErrNotFound if there is none.
func (o *Outbox) Get(ctx context.Context, id string) (Mail, error) {
	rec, err := o.Store.MailByID(ctx, id)
	if err != nil {
		return Mail{}, fmt.Errorf("mail %s: %w", id, err)
	}
	return o.decrypted(ctx, rec)
}
