package ingest

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// Countries resolves an IP address to its country from an IP→country
// database loaded from CSV files of inclusive ranges, one per line:
// "start,end,CC" (the format of the ip-location-db project's country
// files, IPv4 and IPv6 alike). It is read once at start and kept in memory
// (about 10 bytes an IPv4 range, 34 an IPv6 one); nothing is looked up
// over the network, and the address is not kept.
type Countries struct {
	v4 []range4
	v6 []range6
}

type range4 struct {
	start, end uint32
	cc         [2]byte
}

type range6 struct {
	start, end [16]byte
	cc         [2]byte
}

// LoadCountries reads the database from files. A line that is not a range
// and a two-letter code is an error naming the file and line.
func LoadCountries(paths ...string) (*Countries, error) {
	c := &Countries{}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("country database: %w", err)
		}
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			n++
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			if err := c.add(string(line)); err != nil {
				f.Close()
				return nil, fmt.Errorf("country database %s:%d: %w", path, n, err)
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("country database %s: %w", path, err)
		}
	}
	slices.SortFunc(c.v4, func(a, b range4) int { return cmp.Compare(a.start, b.start) })
	slices.SortFunc(c.v6, func(a, b range6) int { return bytes.Compare(a.start[:], b.start[:]) })
	return c, nil
}

func (c *Countries) add(line string) error {
	parts := strings.Split(line, ",")
	if len(parts) < 3 {
		return fmt.Errorf("want start,end,country")
	}
	start, err1 := netip.ParseAddr(strings.TrimSpace(parts[0]))
	end, err2 := netip.ParseAddr(strings.TrimSpace(parts[1]))
	code := strings.ToUpper(strings.TrimSpace(parts[2]))
	if err1 != nil || err2 != nil || start.Is4() != end.Is4() || end.Less(start) {
		return fmt.Errorf("not an address range: %q", parts[0]+","+parts[1])
	}
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return fmt.Errorf("not a two-letter country code: %q", parts[2])
	}
	cc := [2]byte{code[0], code[1]}
	if start.Is4() {
		s, e := start.As4(), end.As4()
		c.v4 = append(c.v4, range4{be32(s), be32(e), cc})
		return nil
	}
	c.v6 = append(c.v6, range6{start.As16(), end.As16(), cc})
	return nil
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Ranges is how many ranges were loaded.
func (c *Countries) Ranges() int { return len(c.v4) + len(c.v6) }

// Lookup returns the country of ip, or "" when it is in no range (or the
// database is nil).
func (c *Countries) Lookup(ip string) string {
	if c == nil {
		return ""
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	addr = addr.Unmap()
	if addr.Is4() {
		v := be32(addr.As4())
		i, _ := slices.BinarySearchFunc(c.v4, v, func(r range4, v uint32) int { return cmp.Compare(r.start, v) })
		// i is the first range starting after v (or at it): the candidate
		// is the one at i when it starts at v, else the one before.
		if i < len(c.v4) && c.v4[i].start == v {
			return string(c.v4[i].cc[:])
		}
		if i > 0 && v <= c.v4[i-1].end {
			return string(c.v4[i-1].cc[:])
		}
		return ""
	}
	v := addr.As16()
	i, _ := slices.BinarySearchFunc(c.v6, v, func(r range6, v [16]byte) int { return bytes.Compare(r.start[:], v[:]) })
	if i < len(c.v6) && c.v6[i].start == v {
		return string(c.v6[i].cc[:])
	}
	if i > 0 && bytes.Compare(v[:], c.v6[i-1].end[:]) <= 0 {
		return string(c.v6[i-1].cc[:])
	}
	return ""
}
