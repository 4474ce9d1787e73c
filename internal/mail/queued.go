package mail

import (
	"context"
	"errors"
	"fmt"
)

// Queued reports whether a mail was already made for the event. A caller
// that mints a one-time link for each mail asks first, so that a replayed
// event re-sends the stored mail instead of minting a second link.
func (o *Outbox) Queued(ctx context.Context, eventUUID string) (bool, error) {
	_, err := o.Store.MailByEvent(ctx, eventUUID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up mail for event %s: %w", eventUUID, err)
	}
	return true, nil
}
