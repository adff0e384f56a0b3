package ingest

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// Countries resolves an IP address to an ISO 3166 alpha-2 country from a
// range database loaded once from a file (COUNTRY_DB_PATH): rows of
// "first address,last address,country code", as in DB-IP's free "IP to
// Country Lite" CSV (CC BY 4.0), optionally gzipped. Nothing is looked up
// over the network; the address is only compared, never kept.
type Countries struct {
	ranges []countryRange // sorted by first, not overlapping
}

type countryRange struct {
	first, last netip.Addr
	code        [2]byte
}

// LoadCountries reads a range database. A malformed row stops the load
// with its line number: a half-read database would answer wrongly.
func LoadCountries(path string) (*Countries, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("country database: %w", err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<16)
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("country database %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	return ReadCountries(r)
}

// ReadCountries reads a range database from r.
func ReadCountries(r io.Reader) (*Countries, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	c := &Countries{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("country database: line %d: %w", line, err)
		}
		if len(rec) < 3 {
			return nil, fmt.Errorf("country database: line %d: want first address, last address, country", line)
		}
		first, err1 := netip.ParseAddr(strings.TrimSpace(rec[0]))
		last, err2 := netip.ParseAddr(strings.TrimSpace(rec[1]))
		code := strings.ToUpper(strings.TrimSpace(rec[2]))
		if err1 != nil || err2 != nil || first.Is4() != last.Is4() || last.Less(first) || len(code) != 2 {
			return nil, fmt.Errorf("country database: line %d: not a range of addresses and a two-letter country", line)
		}
		if code == "ZZ" { // unassigned
			continue
		}
		c.ranges = append(c.ranges, countryRange{first: first.Unmap(), last: last.Unmap(), code: [2]byte{code[0], code[1]}})
	}
	slices.SortFunc(c.ranges, func(a, b countryRange) int { return a.first.Compare(b.first) })
	for i := 1; i < len(c.ranges); i++ {
		if !c.ranges[i-1].last.Less(c.ranges[i].first) {
			return nil, fmt.Errorf("country database: ranges overlap at %s", c.ranges[i].first)
		}
	}
	return c, nil
}

// Len is the number of ranges loaded.
func (c *Countries) Len() int { return len(c.ranges) }

// Lookup returns the country of ip, or "" when the address is invalid or
// in no range.
func (c *Countries) Lookup(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || c == nil {
		return ""
	}
	a = a.Unmap().WithZone("")
	i, _ := slices.BinarySearchFunc(c.ranges, a, func(r countryRange, a netip.Addr) int { return r.first.Compare(a) })
	// ranges[i-1] is the last range starting at or before a (or i itself
	// when it starts exactly at a).
	if i < len(c.ranges) && c.ranges[i].first == a {
		return string(c.ranges[i].code[:])
	}
	if i == 0 {
		return ""
	}
	r := c.ranges[i-1]
	if r.first.Is4() != a.Is4() || r.last.Less(a) {
		return ""
	}
	return string(r.code[:])
}
