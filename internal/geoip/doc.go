// Package geoip names the approximate place of an IP address — its city
// and country — from a MaxMind DB file (GeoLite2 or GeoIP2, City or
// Country), so that people can tell their sessions apart on the account
// page. The file is opened once at start; without one nothing is looked
// up. Country names come in English, Swedish and Finnish from a table
// generated from the Unicode CLDR (gen_countries.go); city names are the
// database's own.
package geoip

//go:generate go run gen_countries.go
