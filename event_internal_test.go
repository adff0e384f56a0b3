package marketing

import (
	"encoding/json"
	"testing"
)

// plainString must read exactly what the decoder reads, or decline.
func TestPlainStringAgreesWithDecoder(t *testing.T) {
	for _, raw := range []string{`""`, `"abc"`, `" padded "`, `"/p?q=1&r=2"`, `"naïve ✓"`, `"tab\tescaped"`,
		`"quote \" inside"`, `"\u00e9"`, "\"bad \xff utf8\"", `123`, `null`, `"x"`} {
		got, ok := plainString(json.RawMessage(raw))
		var want string
		err := json.Unmarshal([]byte(raw), &want)
		if ok && (err != nil || got != want) {
			t.Errorf("plainString(%s) = %q, decoder %q (%v)", raw, got, want, err)
		}
		if !ok && raw == `"abc"` {
			t.Errorf("plainString(%s) declined a plain string", raw)
		}
	}
}
