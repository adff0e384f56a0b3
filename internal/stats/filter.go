package stats

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/altcontext/marketing"
)

var leafOps = map[string]bool{
	marketing.OpIs: true, marketing.OpIsNot: true, marketing.OpContains: true,
	marketing.OpContainsNot: true, marketing.OpMatches: true, marketing.OpMatchesNot: true,
}

const opsAllowed = "is, is_not, contains, contains_not, matches, matches_not, and, or, not"

// parseFilters reads Plausible's filter list (an implicit and) into one
// tree.
func (q *Query) parseFilters(is marketing.Issues, raw json.RawMessage) {
	if raw == nil {
		return
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		is.Add("", `must be a list of filters such as ["is", "visit:source", ["google.com"]]`)
		return
	}
	nodes := 0
	root := marketing.StatsFilter{Op: marketing.OpAnd}
	for i, f := range list {
		node, ok := parseFilter(is.AtIndex(i), f, 1, &nodes)
		if ok {
			root.Children = append(root.Children, node)
		}
	}
	if len(list) > 0 {
		q.filter = &root
	}
	if err := json.Unmarshal(raw, &q.Filters); err != nil {
		q.Filters = nil
	}
}

func parseFilter(is marketing.Issues, raw json.RawMessage, depth int, nodes *int) (marketing.StatsFilter, bool) {
	var f marketing.StatsFilter
	*nodes++
	if *nodes > MaxFilterNodes {
		if *nodes == MaxFilterNodes+1 {
			is.Add("", fmt.Sprintf("too many filters: at most %d in all", MaxFilterNodes))
		}
		return f, false
	}
	if depth > MaxFilterDepth {
		is.Add("", fmt.Sprintf("filters nest at most %d deep", MaxFilterDepth))
		return f, false
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) < 2 {
		is.Add("", `must be a list: [operator, dimension, [values]] or ["and" | "or", [filters]] or ["not", filter]`)
		return f, false
	}
	if err := json.Unmarshal(parts[0], &f.Op); err != nil {
		is.AtIndex(0).Add("", "the operator must be a string: one of "+opsAllowed)
		return f, false
	}
	switch f.Op {
	case marketing.OpAnd, marketing.OpOr:
		var list []json.RawMessage
		if len(parts) != 2 || json.Unmarshal(parts[1], &list) != nil || len(list) == 0 {
			is.Add("", fmt.Sprintf(`%q takes one non-empty list of filters: [%q, [filter, …]]`, f.Op, f.Op))
			return f, false
		}
		ok := true
		for i, c := range list {
			child, cok := parseFilter(is.AtIndex(1).AtIndex(i), c, depth+1, nodes)
			ok = ok && cok
			f.Children = append(f.Children, child)
		}
		return f, ok
	case marketing.OpNot:
		if len(parts) != 2 {
			is.Add("", `"not" takes one filter: ["not", filter]`)
			return f, false
		}
		child, ok := parseFilter(is.AtIndex(1), parts[1], depth+1, nodes)
		f.Children = []marketing.StatsFilter{child}
		return f, ok
	}
	if !leafOps[f.Op] {
		is.AtIndex(0).Add("", fmt.Sprintf("unknown operator %q; allowed: %s", f.Op, opsAllowed))
		return f, false
	}
	if len(parts) != 3 && len(parts) != 4 {
		is.Add("", fmt.Sprintf(`%q takes a dimension and a list of values: [%q, "event:page", ["/"]]`, f.Op, f.Op))
		return f, false
	}
	var dim string
	if err := json.Unmarshal(parts[1], &dim); err != nil {
		is.AtIndex(1).Add("", "the dimension must be a string")
		return f, false
	}
	g, ok := field(dim)
	if !ok {
		if _, isTime := timeDimensions[dim]; isTime {
			is.AtIndex(1).Add("", "time is filtered by date_range, not by a filter")
		} else {
			is.AtIndex(1).Add("", fmt.Sprintf("unknown dimension %q; allowed: %s", dim, strings.Join(DimensionNames(), ", ")))
		}
		return f, false
	}
	f.Field, f.Key = g.Field, g.Key
	if err := json.Unmarshal(parts[2], &f.Values); err != nil || len(f.Values) == 0 || len(f.Values) > MaxValues {
		is.AtIndex(2).Add("", fmt.Sprintf("must be a list of 1 to %d strings (several values match any of them)", MaxValues))
		return f, false
	}
	for i, v := range f.Values {
		if len(v) > 1024 || !marketing.Storable(v) {
			is.AtIndex(2).AtIndex(i).Add("", "must be at most 1024 bytes without NUL")
			return f, false
		}
		if f.Op == marketing.OpMatches || f.Op == marketing.OpMatchesNot {
			if _, err := regexp.Compile(v); err != nil {
				is.AtIndex(2).AtIndex(i).Add("", "is not a valid regular expression (RE2 syntax)")
				return f, false
			}
		}
	}
	if len(parts) == 4 {
		var mod map[string]bool
		if err := json.Unmarshal(parts[3], &mod); err != nil {
			is.AtIndex(3).Add("", `modifiers must be an object such as {"case_sensitive": true}`)
			return f, false
		}
		for k, v := range mod {
			if k != "case_sensitive" || !v {
				is.AtIndex(3).Add(k, "only case_sensitive: true is supported (matching is case-sensitive)")
				return f, false
			}
		}
	}
	return f, true
}
