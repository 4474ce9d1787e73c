package events

import (
	"testing"
	"time"
)

func TestNewTreatsNilDataAsEmptyObject(t *testing.T) {
	var nilMap map[string]any
	for _, tc := range []struct {
		name string
		data any
	}{{"nil", nil}, {"nil map", nilMap}, {"empty map", map[string]any{}}} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New("user.updated", "user:1", "system:test", time.Now(), tc.data)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if string(e.Data) != "{}" {
				t.Errorf("data = %s, want {}", e.Data)
			}
		})
	}
	if _, err := New("user.updated", "user:1", "system:test", time.Now(), []int{1}); err == nil {
		t.Error("a JSON array as data was accepted, want an error")
	}
}
