package authn

import (
	"slices"
	"testing"
)

func TestLadderOf(t *testing.T) {
	l := DefaultLadder()
	for _, tc := range []struct {
		methods []string
		want    string
	}{
		{[]string{"pwd"}, LoALow},
		{nil, LoALow},
		{[]string{"otp"}, LoALow},
		{[]string{"pwd", "otp"}, LoASubstantial},
		{[]string{"pwd", "otp", "mfa"}, LoASubstantial},
		{[]string{"otp", "pwd"}, LoASubstantial},
		{[]string{"hwk", "user"}, LoASubstantial},
		{[]string{"hwk"}, LoALow},
		{[]string{"eid", "hwk"}, LoAHigh},
		{[]string{"eid", "hwk", "user", "pwd"}, LoAHigh},
	} {
		if got := l.Of(tc.methods); got != tc.want {
			t.Errorf("Of(%v) = %s, want %s", tc.methods, got, tc.want)
		}
	}
}

func TestLadderMeetsAndMinimum(t *testing.T) {
	l := DefaultLadder()
	if !l.Meets(LoASubstantial, LoALow) || !l.Meets(LoASubstantial, LoASubstantial) || l.Meets(LoALow, LoASubstantial) {
		t.Error("Meets does not follow the order low < substantial < high")
	}
	if !l.Meets(LoALow, "urn:other:gold") {
		t.Error("an unknown wanted value should ask for nothing")
	}
	if l.Meets("urn:other:gold", LoALow) {
		t.Error("an unknown level should meet nothing known")
	}
	if got := l.Minimum([]string{LoAHigh, "x", LoASubstantial}); got != LoASubstantial {
		t.Errorf("Minimum = %q, want the lowest known value %s", got, LoASubstantial)
	}
	if got := l.Minimum([]string{"1", "2"}); got != "" {
		t.Errorf("Minimum of unknown values = %q, want empty", got)
	}
	if got := l.Highest("", LoALow); got != LoALow {
		t.Errorf("Highest(\"\", low) = %q", got)
	}
	if got := l.Highest(LoAHigh, LoALow); got != LoAHigh {
		t.Errorf("Highest(high, low) = %q", got)
	}
}

func TestParseLadder(t *testing.T) {
	l, err := ParseLadder("")
	if err != nil || !slices.Equal(l.ACRs(), DefaultLadder().ACRs()) {
		t.Fatalf("empty = %v, %v; want the default ladder", l.ACRs(), err)
	}
	l, err = ParseLadder("urn:a:1=pwd; urn:portvakt:loa:substantial = pwd+otp, hwk+user ;")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.ACRs(), []string{"urn:a:1", LoASubstantial}) || l.Of([]string{"hwk", "user"}) != LoASubstantial {
		t.Errorf("parsed ladder %+v", l)
	}
	if l.Levels[1].EIDAS != "http://eidas.europa.eu/LoA/substantial" || l.Levels[0].EIDAS != "" {
		t.Errorf("eIDAS mapping = %q, %q; want the default's for a known acr only", l.Levels[0].EIDAS, l.Levels[1].EIDAS)
	}
	for _, bad := range []string{"low", "=pwd", "a=", "a=PWD", "a=pwd; a=otp", "a b=pwd", "a=pwd++otp"} {
		if _, err := ParseLadder(bad); err == nil {
			t.Errorf("ParseLadder(%q) accepted", bad)
		}
	}
}

func TestAMR(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"pwd"}, []string{"pwd"}},
		{[]string{"pwd", "otp"}, []string{"pwd", "otp", "mfa"}},
		{[]string{"pwd", "otp", "mfa", "otp"}, []string{"pwd", "otp", "mfa"}},
		{[]string{"hwk", "user"}, []string{"hwk", "user"}},
		{[]string{"fed", "eid", "hwk", "user"}, []string{"fed", "eid", "hwk", "user", "mfa"}},
	} {
		if got := AMR(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("AMR(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
