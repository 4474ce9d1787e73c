// Package geoiptest writes small MaxMind DB files for tests
// (github.com/maxmind/mmdbwriter), so that no downloaded database is
// needed. Only tests import it.
package geoiptest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Network is one network of a test database and where it is: City is
// the English city name ("" for none), Country the ISO code.
type Network struct {
	CIDR    string
	City    string
	Country string
}

// Write writes a database of type typ (such as GeoLite2-City) holding
// networks into the test's temporary directory and returns its path.
// Reserved networks (the documentation ranges, private ones) may be used,
// so that tests can place addresses that reach no one.
func Write(t testing.TB, typ string, networks ...Network) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: typ, IncludeReservedNetworks: true, Languages: []string{"en"}, RecordSize: 24})
	if err != nil {
		t.Fatalf("mmdbwriter: %v", err)
	}
	for _, n := range networks {
		_, ipnet, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			t.Fatalf("network %s: %v", n.CIDR, err)
		}
		rec := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(n.Country)}}
		if n.City != "" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(n.City)}}
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			t.Fatalf("insert %s: %v", n.CIDR, err)
		}
	}
	path := filepath.Join(t.TempDir(), typ+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}
