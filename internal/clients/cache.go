package clients

import (
	"context"
	"sync"
	"time"
)

// cache keeps clients read on the hot paths (the token endpoint
// authenticates a client on every request) for a short time. Changes made
// through this Service take effect here at once; changes made elsewhere
// (another node, the CLI) within the time to live.
type cache struct {
	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	c       Client
	fetched time.Time
}

// maxCached bounds the cache; past it the cache starts over.
const maxCached = 10000

func (k *cache) get(id string, now time.Time, ttl time.Duration) (Client, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.entries[id]
	if !ok || now.Before(e.fetched) || now.Sub(e.fetched) >= ttl {
		return Client{}, false
	}
	return e.c.clone(), true
}

func (k *cache) put(c Client, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.entries == nil || len(k.entries) >= maxCached {
		k.entries = make(map[string]cacheEntry)
	}
	k.entries[c.ID] = cacheEntry{c: c.clone(), fetched: now}
}

func (k *cache) forget(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.entries, id)
}

// lookup returns the client, from the cache when CacheTTL allows.
func (s *Service) lookup(ctx context.Context, id string) (Client, error) {
	if s.CacheTTL <= 0 {
		return s.Store.ClientByID(ctx, id)
	}
	now := s.now()
	if c, ok := s.cache.get(id, now, s.CacheTTL); ok {
		return c, nil
	}
	c, err := s.Store.ClientByID(ctx, id)
	if err != nil {
		return c, err
	}
	s.cache.put(c, now)
	return c, nil
}
