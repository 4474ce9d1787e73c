package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Contact is a person as the CRM keeps them.
type Contact struct {
	Profile
	// Organizations are the person's organizations (by ID) with their roles.
	Organizations map[string][]string `json:"organizations"`
	// Invitation is the CRM's reference of the invitation they accepted.
	Invitation string `json:"invitation,omitempty"`
}

// Contacts are kept in one JSON file, written whole and renamed into
// place after every change, so that a crash leaves the old file or the new
// one. The webhook-ids applied are kept with them, so each is applied once.
type Contacts struct {
	path string

	mu   sync.Mutex
	data struct {
		Contacts map[string]*Contact `json:"contacts"`
		// Applied are the webhook-ids applied, newest last (up to
		// maxApplied).
		Applied []string `json:"applied"`
	}
}

const maxApplied = 10000

// OpenContacts reads the contacts file, or starts an empty one.
func OpenContacts(path string) (*Contacts, error) {
	c := &Contacts{path: path}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &c.data); err != nil {
			return nil, err
		}
	}
	if c.data.Contacts == nil {
		c.data.Contacts = map[string]*Contact{}
	}
	return c, nil
}

// Seen reports whether the webhook-id was applied.
func (c *Contacts) Seen(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.data.Applied {
		if a == id {
			return true
		}
	}
	return false
}

// Update changes the contacts in memory; Done saves them.
func (c *Contacts) Update(fn func(map[string]*Contact)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c.data.Contacts)
	return nil
}

// Done records the webhook-id as applied and saves everything.
func (c *Contacts) Done(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data.Applied = append(c.data.Applied, id)
	if len(c.data.Applied) > maxApplied {
		c.data.Applied = c.data.Applied[len(c.data.Applied)-maxApplied:]
	}
	b, err := json.MarshalIndent(&c.data, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".contacts-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.path)
}

// Snapshot returns a copy of the contacts.
func (c *Contacts) Snapshot() map[string]Contact {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]Contact{}
	for k, v := range c.data.Contacts {
		out[k] = *v
	}
	return out
}
