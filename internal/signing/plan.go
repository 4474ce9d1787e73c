package signing

import (
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/portvakt/portvakt/internal/events"
)

// A plan works out, from the stored keys and the time, the changes that an
// operation makes. It is pure: the same keys, time and fresh keys give the
// same changes, so that it can run once outside the lock (to learn which
// keys to generate) and again inside it (on the keys as they are then).

// task is what an operation asks the plan for.
type task struct {
	// maintain runs the schedule; otherwise only missing active keys are
	// made (Ensure).
	maintain bool
	// rotate, if set, is the algorithm to rotate at once.
	rotate jose.SignatureAlgorithm
	actor  string
}

// slot is what is stored for one algorithm.
type slot struct {
	active, next *Record
	retired      []*Record
}

func slots(keys []Record) map[jose.SignatureAlgorithm]*slot {
	out := map[jose.SignatureAlgorithm]*slot{}
	for i := range keys {
		r := &keys[i]
		s := out[r.Algorithm]
		if s == nil {
			s = &slot{}
			out[r.Algorithm] = s
		}
		switch r.State {
		case StateActive:
			s.active = r
		case StateNext:
			s.next = r
		default:
			s.retired = append(s.retired, r)
		}
	}
	return out
}

// planner collects the changes of one plan.
type planner struct {
	opts  Options
	now   time.Time
	actor string
	// fresh holds generated keys, one per algorithm, for the plan to use.
	fresh map[jose.SignatureAlgorithm]Record
	// missing lists the algorithms the plan needs a fresh key for and
	// fresh lacks; the changes are then incomplete and must not be applied.
	missing []jose.SignatureAlgorithm
	ch      Changes
	err     error
	// rotation describes a Rotate.
	rotation Rotation
}

// plan works out the changes of task t on keys at now, taking fresh keys
// from fresh as it needs them.
func plan(keys []Record, opts Options, now time.Time, t task, fresh map[jose.SignatureAlgorithm]Record) *planner {
	p := &planner{opts: opts, now: now, actor: t.actor, fresh: fresh}
	byAlg := slots(keys)
	if t.maintain {
		// Retired keys leave once every token they signed has expired,
		// whatever their algorithm.
		for _, r := range keys {
			if r.State == StateRetired && !now.Before(r.RetireUntil) {
				p.delete(r)
			}
		}
	}
	if t.rotate != "" {
		p.rotate(t.rotate, byAlg[t.rotate])
		return p
	}
	for _, alg := range opts.Algorithms {
		s := byAlg[alg]
		if s == nil {
			s = &slot{}
		}
		if s.active == nil {
			p.ensure(alg, s)
			continue
		}
		if t.maintain {
			p.schedule(alg, s)
		}
	}
	return p
}

// ensure makes an algorithm that has no active key sign: its next key if it
// has one (better early than not at all), else a fresh key.
func (p *planner) ensure(alg jose.SignatureAlgorithm, s *slot) {
	if s.next != nil {
		p.activate(*s.next, "")
		return
	}
	p.create(alg, StateActive)
}

// schedule makes the next key when it is due and promotes it when it is
// due.
func (p *planner) schedule(alg jose.SignatureAlgorithm, s *slot) {
	if s.next == nil {
		if !p.now.Before(p.opts.nextDue(*s.active)) {
			p.create(alg, StateNext)
		}
		return
	}
	if !p.now.Before(p.opts.activatesAt(s.active, *s.next)) {
		p.retire(*s.active)
		p.activate(*s.next, s.active.ID)
	}
}

// rotate makes alg's next key (or a fresh one) active at once and retires
// the active key.
func (p *planner) rotate(alg jose.SignatureAlgorithm, s *slot) {
	p.rotation.Algorithm = alg
	if s == nil {
		s = &slot{}
	}
	replaces := ""
	if s.active != nil {
		p.retire(*s.active)
		replaces = s.active.ID
		p.rotation.Retired = s.active.ID
		p.rotation.RetireUntil = p.now.Add(p.opts.MaxTokenLifetime)
	}
	if s.next != nil {
		p.activate(*s.next, replaces)
		p.rotation.Active = s.next.ID
		p.rotation.WasPublished = true
		return
	}
	if r, ok := p.create(alg, StateActive); ok {
		p.rotation.Active = r.ID
	}
}

func (p *planner) create(alg jose.SignatureAlgorithm, state State) (Record, bool) {
	r, ok := p.fresh[alg]
	if !ok {
		p.missing = append(p.missing, alg)
		return Record{}, false
	}
	delete(p.fresh, alg) // a fresh key is used once
	r.State, r.CreatedAt = state, p.now
	if state == StateActive {
		r.ActivatedAt = p.now
	}
	p.ch.Create = append(p.ch.Create, r)
	p.event("signing_key.created", r, map[string]any{"alg": r.Algorithm, "state": state})
	if state == StateActive {
		p.event("signing_key.activated", r, map[string]any{"alg": r.Algorithm})
	}
	return r, true
}

func (p *planner) activate(r Record, replaces string) {
	r.State, r.ActivatedAt = StateActive, p.now
	p.ch.Update = append(p.ch.Update, r)
	data := map[string]any{"alg": r.Algorithm}
	if replaces != "" {
		data["replaces"] = replaces
	}
	p.event("signing_key.activated", r, data)
}

func (p *planner) retire(r Record) {
	r.State, r.RetiredAt, r.RetireUntil = StateRetired, p.now, p.now.Add(p.opts.MaxTokenLifetime)
	p.ch.Update = append(p.ch.Update, r)
	p.event("signing_key.retired", r, map[string]any{"alg": r.Algorithm, "retire_until": r.RetireUntil})
}

func (p *planner) delete(r Record) {
	p.ch.Delete = append(p.ch.Delete, r.ID)
	p.event("signing_key.deleted", r, map[string]any{"alg": r.Algorithm})
}

// event records an event about r. Events carry no key material.
func (p *planner) event(typ string, r Record, data map[string]any) {
	if p.err != nil {
		return
	}
	e, err := events.New(typ, "signing_key:"+r.ID, p.actor, p.now, data)
	if err != nil {
		p.err = err
		return
	}
	p.ch.Events = append(p.ch.Events, e)
}

// nextDue is when the key to follow active should be made.
func (o Options) nextDue(active Record) time.Time {
	return active.ActivatedAt.Add(o.RotateEvery - o.PublishAhead)
}

// activatesAt is when next takes over from active (nil if none): when the
// active key is due for rotation, but never before next has been published
// for PublishAhead.
func (o Options) activatesAt(active *Record, next Record) time.Time {
	t := next.CreatedAt.Add(o.PublishAhead)
	if active != nil {
		if due := active.ActivatedAt.Add(o.RotateEvery); due.After(t) {
			t = due
		}
	}
	return t
}
