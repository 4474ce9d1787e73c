package scoring_test

import "github.com/trustelem/zxcvbn/scoring"

// The expectations were written in 2019, and year guesses depend on the
// distance from the current year.
func init() { scoring.ReferenceYear = 2019 }
