package delivery

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestAttemptErrorKeepsNoAddressOrURL(t *testing.T) {
	for _, err := range []error{
		errors.New("smtp: send: SMTP error 550: 5.1.1 <Ada.Lovelace+news@example.com>: Recipient address rejected"),
		fmt.Errorf("smtp: %w", errors.New("rcpt ada@example.com refused")),
		&url.Error{Op: "Post", URL: "https://hooks.example.net/x?token=s3cret", Err: errors.New("connection refused")},
	} {
		got := attemptError(err)
		for _, leak := range []string{"example.com>", "ada@", "s3cret", "Lovelace"} {
			if strings.Contains(got, leak) {
				t.Errorf("%q keeps %q", got, leak)
			}
		}
	}
}
