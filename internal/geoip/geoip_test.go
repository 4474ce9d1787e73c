package geoip_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/geoip"
	"github.com/portvakt/portvakt/internal/geoip/geoiptest"
)

func TestPlace(t *testing.T) {
	city := geoiptest.Write(t, "GeoLite2-City",
		geoiptest.Network{CIDR: "203.0.113.0/24", City: "Stockholm", Country: "SE"},
		geoiptest.Network{CIDR: "198.51.100.0/24", Country: "FI"},
		geoiptest.Network{CIDR: "2001:db8::/32", City: "Helsinki", Country: "FI"},
		// In the file, but never shown: private and loopback addresses
		// say nothing of where a person is.
		geoiptest.Network{CIDR: "10.0.0.0/8", City: "Nowhere", Country: "SE"},
		geoiptest.Network{CIDR: "127.0.0.0/8", City: "Nowhere", Country: "SE"},
	)
	country := geoiptest.Write(t, "GeoLite2-Country", geoiptest.Network{CIDR: "203.0.113.0/24", Country: "SE"})
	for _, tc := range []struct {
		db   string
		ip   string
		lang language.Tag
		want string
	}{
		{city, "203.0.113.7", language.English, "Stockholm, Sweden"},
		{city, "203.0.113.7", language.Swedish, "Stockholm, Sverige"},
		{city, "203.0.113.7", language.Finnish, "Stockholm, Ruotsi"},
		{city, "::ffff:203.0.113.7", language.English, "Stockholm, Sweden"},
		{city, "198.51.100.1", language.Finnish, "Suomi"},
		{city, "2001:db8::1", language.Swedish, "Helsinki, Finland"},
		{city, "192.0.2.1", language.English, ""},
		{city, "10.1.2.3", language.English, ""},
		{city, "127.0.0.1", language.English, ""},
		{city, "fe80::1", language.English, ""},
		{country, "203.0.113.7", language.Finnish, "Ruotsi"},
		{country, "198.51.100.1", language.English, ""},
	} {
		db, err := geoip.Open(tc.db)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got := db.Place(netip.MustParseAddr(tc.ip), tc.lang); got != tc.want {
			t.Errorf("Place(%s, %s) in %s = %q, want %q", tc.ip, tc.lang, filepath.Base(tc.db), got, tc.want)
		}
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("not a MaxMind DB file"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope.mmdb"), "no such file"},
		{"not a database", garbage, "garbage.mmdb"},
		{"another kind", geoiptest.Write(t, "GeoLite2-ASN"), `"GeoLite2-ASN" database`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := geoip.Open(tc.path)
			if err == nil {
				_ = db.Close()
				t.Fatalf("Open(%s) succeeded, want an error", tc.path)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%s): %v, want it to say %q", tc.path, err, tc.want)
			}
		})
	}
}

func TestCountryName(t *testing.T) {
	for _, tc := range []struct {
		code string
		lang language.Tag
		want string
	}{
		{"SE", language.English, "Sweden"},
		{"se", language.Swedish, "Sverige"},
		{"DE", language.Finnish, "Saksa"},
		{"FI", language.MustParse("sv-FI"), "Finland"},
		{"US", language.German, "United States"},
		{"XK", language.English, "Kosovo"},
		{"ZZ", language.English, "ZZ"},
	} {
		if got := geoip.CountryName(tc.code, tc.lang); got != tc.want {
			t.Errorf("CountryName(%s, %s) = %q, want %q", tc.code, tc.lang, got, tc.want)
		}
	}
}
