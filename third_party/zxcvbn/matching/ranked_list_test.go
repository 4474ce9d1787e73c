package matching

import (
	"fmt"
	stdmaps "maps"
	"testing"

	"github.com/trustelem/zxcvbn/match"

	"github.com/trustelem/zxcvbn/frequency"
)

// TestRankedListAnswersAsAMap: every word of every built-in list has the
// rank the map built from the same list gives it, and words not listed are
// not found.
func TestRankedListAnswersAsAMap(t *testing.T) {
	for name, list := range frequency.FrequencyLists {
		m := buildRankedDict(list)
		l := buildRankedList(list)
		for word, want := range m {
			if got, ok, _ := l.rank(word); !ok || got != want {
				t.Fatalf("%s: rank(%q) = %d, %v; want %d", name, word, got, ok, want)
			}
		}
		for _, word := range []string{"", "zzzzzzzzzzzz", "Password", "password1234567890x"} {
			if _, inMap := m[word]; inMap {
				continue
			}
			if got, ok, _ := l.rank(word); ok {
				t.Errorf("%s: rank(%q) = %d, want not found", name, word, got)
			}
		}
	}
}

func TestRankedListDuplicatesAndCase(t *testing.T) {
	l := buildRankedList([]string{"b", "A", "c", "a", "b"})
	for word, want := range map[string]int{"a": 4, "b": 5, "c": 3} {
		if got, ok, _ := l.rank(word); !ok || got != want {
			t.Errorf("rank(%q) = %d, %v; want %d", word, got, ok, want)
		}
	}
	if _, ok, _ := l.rank("A"); ok {
		t.Error("rank(\"A\") found; words are looked up in lower case")
	}
}

func TestRankedListLonger(t *testing.T) {
	l := buildRankedList([]string{"pass", "password", "dragon"})
	for _, c := range []struct {
		word          string
		found, longer bool
	}{
		{"p", false, true},
		{"pass", true, true},
		{"password", true, false},
		{"passwordx", false, false},
		{"dragon", true, false},
		{"dr", false, true},
		{"x", false, false},
		{"", false, true},
	} {
		_, found, longer := l.rank(c.word)
		if found != c.found || longer != c.longer {
			t.Errorf("rank(%q): found %v, longer %v; want %v, %v", c.word, found, longer, c.found, c.longer)
		}
	}
}

// TestDefaultMatchesAsMaps: on a spread of passwords the built-in lists
// find the same dictionary matches as maps built from them.
func TestDefaultMatchesAsMaps(t *testing.T) {
	maps := dictionaryMatch{rankedDictionaries: map[string]rankedDictionnary{}}
	for name, list := range frequency.FrequencyLists {
		maps.rankedDictionaries[name] = buildRankedDict(list)
	}
	for _, pw := range []string{"password", "correcthorsebatterystaple", "Tr0ub4dour&3", "jenniferlopez1999", "qwertyuiop", "ÅngströmÖl", "a", "iloveyousomuch", "zzzzzzzzzzzzzzzzzzzz"} {
		got, want := defaultRankedDictionnaries.Matches(pw), maps.Matches(pw)
		key := func(ms []*match.Match) map[string]int {
			k := map[string]int{}
			for _, m := range ms {
				k[fmt.Sprintf("%s %d %d %s %d", m.DictionaryName, m.I, m.J, m.MatchedWord, m.Rank)]++
			}
			return k
		}
		if !stdmaps.Equal(key(got), key(want)) {
			t.Errorf("%q: lists found %d matches, maps %d", pw, len(got), len(want))
		}
	}
}
