package dashboard

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

func (d *Dashboard) funcs() template.FuncMap {
	return template.FuncMap{
		"asset":    d.AssetURL,
		"num":      FormatNumber,
		"duration": FormatDuration,
		"metric":   FormatMetric,
		"change":   FormatChange,
		"pct":      func(v any) string { f, _ := toFloat(v); return strconv.FormatFloat(f, 'f', -1, 64) + "%" },
		"barClass": barClass,
		"version":  func() string { return d.Version },
	}
}

// FormatNumber shortens a count for reading: 950, 12.3k, 4.5M.
func FormatNumber(v any) string {
	f, ok := toFloat(v)
	if !ok {
		return "—"
	}
	neg := ""
	if f < 0 {
		neg, f = "-", -f
	}
	switch {
	case f >= 1e9:
		return neg + trim(f/1e9) + "B"
	case f >= 1e6:
		return neg + trim(f/1e6) + "M"
	case f >= 1e4:
		return neg + trim(f/1e3) + "k"
	case f == math.Trunc(f):
		return neg + strconv.FormatFloat(f, 'f', 0, 64)
	}
	return neg + strconv.FormatFloat(f, 'f', -1, 64)
}

// trim is one decimal at most, without a trailing ".0"; 999.95k is 1000k
// rather than a misleading 999.9k.
func trim(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(math.Round(f*10)/10, 'f', 1, 64), ".0")
}

// FormatDuration writes seconds as 45s, 4m 05s or 1h 02m.
func FormatDuration(v any) string {
	f, ok := toFloat(v)
	if !ok {
		return "—"
	}
	s := int64(math.Round(f))
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh %02dm", s/3600, s/60%60)
}

// FormatMetric formats a value of a named metric: durations as durations,
// rates as percentages, vitals in ms (CLS bare), counts shortened.
func FormatMetric(name string, v any) string {
	f, ok := toFloat(v)
	if !ok {
		return "—"
	}
	switch {
	case name == "visit_duration":
		return FormatDuration(f)
	case name == "bounce_rate" || name == "conversion_rate" || strings.HasSuffix(name, "_good") || strings.HasSuffix(name, "_poor") || strings.HasSuffix(name, "_needs_improvement"):
		return strconv.FormatFloat(f, 'f', -1, 64) + "%"
	case name == "views_per_visit":
		return strconv.FormatFloat(f, 'f', 2, 64)
	case name == "cls":
		return strconv.FormatFloat(f, 'f', 3, 64)
	case name == "lcp" || name == "inp" || name == "fcp" || name == "ttfb":
		if f >= 1000 {
			return strconv.FormatFloat(f/1000, 'f', 2, 64) + " s"
		}
		return strconv.FormatFloat(f, 'f', 0, 64) + " ms"
	}
	return FormatNumber(f)
}

// FormatChange writes the engine's change of a metric: points for rates,
// a percentage otherwise, signed; "" for none.
func FormatChange(name string, v any) string {
	f, ok := toFloat(v)
	if !ok {
		return ""
	}
	sign := "+"
	if f < 0 {
		sign = "−"
		f = -f
	}
	if name == "bounce_rate" || name == "conversion_rate" {
		return sign + strconv.FormatFloat(f, 'f', -1, 64) + " pts"
	}
	return sign + FormatNumber(math.Round(f)) + "%"
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float32:
		return float64(x), true
	}
	return 0, false
}

// barClass is the CSS class of a bar of value v out of max: w0..w100 in
// steps of one percent (the CSP allows no style attribute).
func barClass(v, max any) string {
	f, _ := toFloat(v)
	m, _ := toFloat(max)
	if m <= 0 || f <= 0 {
		return "w0"
	}
	return "w" + strconv.Itoa(int(math.Max(1, math.Round(100*f/m))))
}
