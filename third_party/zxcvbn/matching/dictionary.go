package matching

import (
	"slices"
	"strings"

	"github.com/trustelem/zxcvbn/match"
)

type dictionaryMatch struct {
	rankedDictionaries map[string]rankedDictionnary
	// rankedLists hold the built-in frequency lists, searched in place
	// (see rankedList) rather than copied into maps: the maps kept about
	// 5 MiB of heap alive in every program importing this package.
	rankedLists map[string]rankedList
}

// lookup is what both kinds of dictionary answer: the rank of a lower-case
// word, and whether a longer word may start with it (false ends the search
// for longer words at this start).
type lookup func(word string) (rank int, found, longer bool)

func (dm dictionaryMatch) Matches(password string) []*match.Match {
	var results []*match.Match

	for dictionaryName, rankedDict := range dm.rankedDictionaries {
		results = appendMatches(results, password, dictionaryName, func(word string) (int, bool, bool) {
			rank, ok := rankedDict[word]
			return rank, ok, true
		})
	}
	for dictionaryName, list := range dm.rankedLists {
		results = appendMatches(results, password, dictionaryName, list.rank)
	}

	match.Sort(results)
	return results
}

func appendMatches(results []*match.Match, password, dictionaryName string, rank lookup) []*match.Match {
	for i := range password {
		for delta := range password[i:] {
			j := i + delta
			word := strings.ToLower(password[i : j+1])
			val, ok, longer := rank(word)
			if ok {
				results = append(results, &match.Match{
					Pattern:        "dictionary",
					I:              i,
					J:              j,
					Token:          password[i : j+1],
					MatchedWord:    word,
					Rank:           val,
					DictionaryName: dictionaryName,
				})
			}
			if !longer {
				break
			}
		}
	}
	return results
}

func (dm dictionaryMatch) withDict(name string, d rankedDictionnary) dictionaryMatch {
	rd2 := make(map[string]rankedDictionnary, len(dm.rankedDictionaries)+1)
	for k, v := range dm.rankedDictionaries {
		rd2[k] = v
	}
	rd2[name] = d
	return dictionaryMatch{rankedDictionaries: rd2, rankedLists: dm.rankedLists}
}

type rankedDictionnary map[string]int

func buildRankedDict(unrankedList []string) rankedDictionnary {
	result := make(rankedDictionnary)

	for i, v := range unrankedList {
		result[strings.ToLower(v)] = i + 1
	}

	return result
}

// rankedList is a frequency list (most frequent first; rank = index + 1)
// with an index of its positions in word order, so a word's rank is found
// by binary search: 4 bytes per word instead of a map entry.
type rankedList struct {
	words  []string // lower case
	byWord []int32  // positions in words, ordered by word, then position
}

func buildRankedList(unrankedList []string) rankedList {
	words := unrankedList
	for i, v := range unrankedList {
		if lower := strings.ToLower(v); lower != v {
			if &words[0] == &unrankedList[0] {
				words = slices.Clone(unrankedList)
			}
			words[i] = lower
		}
	}
	byWord := make([]int32, len(words))
	for i := range byWord {
		byWord[i] = int32(i)
	}
	slices.SortStableFunc(byWord, func(a, b int32) int { return strings.Compare(words[a], words[b]) })
	return rankedList{words: words, byWord: byWord}
}

// rank answers as a map built from the list would: a word listed twice has
// the rank of its last place. longer tells whether any listed word is
// longer and starts with word, which lets the search stop early.
func (l rankedList) rank(word string) (rank int, found, longer bool) {
	k, found := slices.BinarySearchFunc(l.byWord, word, func(pos int32, w string) int { return strings.Compare(l.words[pos], w) })
	if found {
		for k+1 < len(l.byWord) && l.words[l.byWord[k+1]] == word {
			k++
		}
		rank = int(l.byWord[k]) + 1
		k++
	}
	longer = k < len(l.byWord) && strings.HasPrefix(l.words[l.byWord[k]], word)
	return rank, found, longer
}
