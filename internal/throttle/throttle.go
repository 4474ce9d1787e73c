// Package throttle slows down guessing: sign-in, registration, password
// reset and verification attempts are counted per client IP and per account
// in the database (so the limits hold across nodes), and past a free allowance
// each further failure doubles the wait before the next attempt, up to a cap.
// There is no permanent lockout that an attacker could turn against a
// customer: the wait always ends, and a success clears the account's count.
package throttle

import (
	"context"
	"fmt"
	"time"
)

// State is the count kept for one key.
type State struct {
	Failures     int
	WindowStart  time.Time
	BlockedUntil time.Time
}

// Store keeps the counts.
type Store interface {
	// ThrottleStates returns the states of keys that have one.
	ThrottleStates(ctx context.Context, keys []string) (map[string]State, error)
	// UpdateThrottle applies fn to the key's state (the zero State if none)
	// atomically and stores the result.
	UpdateThrottle(ctx context.Context, key string, fn func(State) State) error
	// DeleteThrottle forgets keys.
	DeleteThrottle(ctx context.Context, keys ...string) error
}

// Limiter is one throttling policy, e.g. for sign-in by account. A nil
// *Limiter limits nothing.
type Limiter struct {
	Store Store
	// Name prefixes the keys ("login:account").
	Name string
	// Free is how many failures within Window cost nothing.
	Free int
	// Window is how long failures are remembered after the first.
	Window time.Duration
	// BaseDelay is the wait after the first failure past Free; each
	// further failure doubles it.
	BaseDelay time.Duration
	// MaxDelay caps the wait.
	MaxDelay time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now().UTC()
	}
	return time.Now().UTC()
}

func (l *Limiter) key(k string) string { return l.Name + ":" + k }

// Wait returns how long the caller must wait before trying k again, 0 if
// it may try now.
func (l *Limiter) Wait(ctx context.Context, k string) (time.Duration, error) {
	if l == nil {
		return 0, nil
	}
	key := l.key(k)
	states, err := l.Store.ThrottleStates(ctx, []string{key})
	if err != nil {
		return 0, fmt.Errorf("throttle %s: %w", l.Name, err)
	}
	if wait := states[key].BlockedUntil.Sub(l.now()); wait > 0 {
		return wait.Round(time.Second) + time.Second, nil
	}
	return 0, nil
}

// Fail counts a failure (or, for rate limits, an attempt) for k.
func (l *Limiter) Fail(ctx context.Context, k string) error {
	if l == nil {
		return nil
	}
	now := l.now()
	err := l.Store.UpdateThrottle(ctx, l.key(k), func(s State) State {
		if s.WindowStart.IsZero() || now.Sub(s.WindowStart) > l.Window {
			s = State{WindowStart: now}
		}
		s.Failures++
		if over := s.Failures - l.Free; over > 0 {
			d := l.BaseDelay
			for i := 1; i < over && d < l.MaxDelay; i++ {
				d *= 2
			}
			s.BlockedUntil = now.Add(min(d, l.MaxDelay))
		}
		return s
	})
	if err != nil {
		return fmt.Errorf("throttle %s: %w", l.Name, err)
	}
	return nil
}

// Reset forgets k's failures, after a success. It reads before it writes:
// most successes follow no failure, and then nothing is written.
func (l *Limiter) Reset(ctx context.Context, k string) error {
	if l == nil {
		return nil
	}
	key := l.key(k)
	states, err := l.Store.ThrottleStates(ctx, []string{key})
	if err != nil {
		return fmt.Errorf("throttle %s: %w", l.Name, err)
	}
	if _, ok := states[key]; !ok {
		return nil
	}
	if err := l.Store.DeleteThrottle(ctx, key); err != nil {
		return fmt.Errorf("throttle %s: %w", l.Name, err)
	}
	return nil
}
