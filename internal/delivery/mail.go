package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mailer sends one message.
type Mailer interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// SMTP sends through a mail server named by an SMTP_URL:
// smtps://user:pass@host:465 (implicit TLS), smtp://user:pass@host:587
// (STARTTLS, required), or smtp://host:25?tls=none (no TLS: a relay on the
// same host, tests).
type SMTP struct {
	Addr     string
	Host     string
	Mode     string // "tls", "starttls" or "none"
	Username string
	Password string
	Timeout  time.Duration
	// TLSConfig overrides the default (tests trust their own CA).
	TLSConfig *tls.Config
}

// ParseSMTPURL reads an SMTP_URL.
func ParseSMTPURL(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return nil, errors.New("must be smtp://[user:password@]host[:port] or smtps://…")
	}
	s := &SMTP{Host: u.Hostname(), Timeout: 30 * time.Second}
	port := u.Port()
	switch u.Scheme {
	case "smtps":
		s.Mode = "tls"
		if port == "" {
			port = "465"
		}
	case "smtp":
		s.Mode = "starttls"
		if port == "" {
			port = "587"
		}
		switch u.Query().Get("tls") {
		case "", "starttls":
		case "none":
			s.Mode = "none"
		default:
			return nil, errors.New("tls= must be starttls or none")
		}
	default:
		return nil, errors.New("must start with smtp:// or smtps://")
	}
	s.Addr = net.JoinHostPort(s.Host, port)
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	return s, nil
}

// Send delivers msg to the server in one session.
func (s *SMTP) Send(ctx context.Context, from string, to []string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp: connect: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	cfg := s.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	}
	var c *smtp.Client
	switch s.Mode {
	case "tls":
		c = smtp.NewClient(tls.Client(conn, cfg))
	case "starttls":
		c, err = smtp.NewClientStartTLS(conn, cfg)
	default:
		c = smtp.NewClient(conn)
	}
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	if s.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.Username, s.Password)); err != nil {
			return fmt.Errorf("smtp: auth: %w", err)
		}
	}
	if err := c.SendMail(from, to, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("smtp: send: %w", err)
	}
	// The server has the message: a failed QUIT must not send it twice.
	_ = c.Quit()
	return nil
}

// Mail is one email to compose.
type Mail struct {
	From, To, Subject string
	Text, HTML        string
	// Unsubscribe, when set, is the one-click unsubscribe URL (RFC 8058):
	// every message to a subscriber carries it.
	Unsubscribe string
	Date        time.Time
}

// Compose renders a multipart/alternative message with a plain-text and an
// HTML part, quoted-printable, and the List-Unsubscribe headers.
func Compose(m Mail) []byte {
	var b bytes.Buffer
	boundary := randomHex(12)
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	domain := "localhost"
	if a, err := mail.ParseAddress(m.From); err == nil {
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
			domain = a.Address[i+1:]
		}
	}
	h("From", m.From)
	h("To", m.To)
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", m.Date.Format(time.RFC1123Z))
	h("Message-ID", "<"+randomHex(16)+"@"+domain+">")
	h("MIME-Version", "1.0")
	h("Auto-Submitted", "auto-generated")
	if m.Unsubscribe != "" {
		h("List-Unsubscribe", "<"+m.Unsubscribe+">")
		h("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	h("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		b.WriteString("--" + boundary + "\r\n")
		h("Content-Type", part.typ+"; charset=utf-8")
		h("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		qp := quotedprintable.NewWriter(&b)
		_, _ = qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(part.body, "\r\n", "\n"), "\n", "\r\n")))
		_ = qp.Close()
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

func parseAddress(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.Address, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Email wording. Plain text and HTML say the same thing.
var (
	confirmText = texttemplate.Must(texttemplate.New("confirm").Parse(`Hello,

Please confirm that you want to receive emails from {{.Site}}:

{{.Link}}

The link opens a page with a button; nothing changes until you press it.
It expires in 7 days. If you did not ask for this, ignore this email and
nothing will be sent to you again.
`))
	confirmHTML = template.Must(template.New("confirm").Parse(`<!doctype html><html><body style="font:16px/1.5 system-ui,sans-serif;color:#222">
<p>Hello,</p>
<p>Please confirm that you want to receive emails from {{.Site}}:</p>
<p><a href="{{.Link}}">Confirm my subscription</a></p>
<p>The link opens a page with a button; nothing changes until you press it. It expires in 7 days.
If you did not ask for this, ignore this email and nothing will be sent to you again.</p>
</body></html>`))
	notifyText = texttemplate.Must(texttemplate.New("notify").Parse(`A new lead on {{.Site}}.

Address: {{.Email}}
Form: {{.Form}}
Site: {{.Property}}
Consent: {{.Consent}}
{{if .Link}}
Details: {{.Link}}
{{end}}`))
	notifyHTML = template.Must(template.New("notify").Parse(`<!doctype html><html><body style="font:16px/1.5 system-ui,sans-serif;color:#222">
<p>A new lead on {{.Site}}.</p>
<table><tr><td>Address</td><td>{{.Email}}</td></tr><tr><td>Form</td><td>{{.Form}}</td></tr>
<tr><td>Site</td><td>{{.Property}}</td></tr><tr><td>Consent</td><td>{{.Consent}}</td></tr></table>
{{if .Link}}<p><a href="{{.Link}}">Details</a> (admin key required)</p>{{end}}
</body></html>`))
)

func render(t interface {
	Execute(w io.Writer, data any) error
}, data any) string {
	var b bytes.Buffer
	_ = t.Execute(&b, data)
	return b.String()
}
