package geoip

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
	"golang.org/x/text/language"
)

// DB is an open MaxMind DB file of the City or Country kind. It is safe
// for concurrent use.
type DB struct {
	r *maxminddb.Reader
}

// Open opens the MaxMind DB file at path and checks that it places
// addresses in countries (a City or Country database, such as
// GeoLite2-City or GeoIP2-Country).
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	typ := r.Metadata.DatabaseType
	if !strings.Contains(typ, "City") && !strings.Contains(typ, "Country") {
		_ = r.Close()
		return nil, fmt.Errorf("%s is a %q database; a City or Country database (such as GeoLite2-City) is needed", path, typ)
	}
	return &DB{r: r}, nil
}

// Close releases the file.
func (d *DB) Close() error { return d.r.Close() }

// record is what a City or Country database says of an address; a Country
// database has no city.
type record struct {
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

// Lookup returns the city (in the database's English, "" when it names
// none) and the country (ISO 3166-1 alpha-2) of ip. It reports false for
// an address the database does not know and for one that names no place:
// loopback, private, link-local and other non-public addresses.
func (d *DB) Lookup(ip netip.Addr) (city, country string, ok bool) {
	ip = ip.Unmap()
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return "", "", false
	}
	var rec record
	res := d.r.Lookup(ip)
	if !res.Found() {
		return "", "", false
	}
	if err := res.Decode(&rec); err != nil {
		return "", "", false
	}
	country = rec.Country.ISOCode
	if country == "" {
		country = rec.RegisteredCountry.ISOCode
	}
	if country == "" {
		return "", "", false
	}
	return rec.City.Names["en"], country, true
}

// Place names where ip is, roughly, in lang: "City, Country", the country
// alone when the database names no city, or "" when it knows nothing.
func (d *DB) Place(ip netip.Addr, lang language.Tag) string {
	city, code, ok := d.Lookup(ip)
	if !ok {
		return ""
	}
	name := CountryName(code, lang)
	if city == "" {
		return name
	}
	return city + ", " + name
}

// country is a country's names.
type country struct {
	code, en, sv, fi string
}

// CountryName is the name of the country with ISO 3166-1 alpha-2 code in
// lang (Swedish, Finnish, else English); the code itself for a code it
// does not know.
func CountryName(code string, lang language.Tag) string {
	code = strings.ToUpper(code)
	i := sort.Search(len(countries), func(i int) bool { return countries[i].code >= code })
	if i == len(countries) || countries[i].code != code {
		return code
	}
	c := countries[i]
	base, _ := lang.Base()
	switch base.String() {
	case "sv":
		return c.sv
	case "fi":
		return c.fi
	}
	return c.en
}
