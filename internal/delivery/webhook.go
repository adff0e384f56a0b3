package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/altcontext/marketing"
)

// NewSecret returns a Standard Webhooks signing secret: "whsec_" and the
// base64 of 24 random bytes.
func NewSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// Sign returns the webhook-signature header of a message the Standard
// Webhooks way: "v1," and the base64 HMAC-SHA256, keyed with the decoded
// secret, of "{id}.{timestamp}.{body}".
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "", fmt.Errorf("webhook secret is not base64: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// ErrPrivateTarget refuses a webhook to a loopback, private, link-local or
// otherwise internal address (WEBHOOK_ALLOW_PRIVATE lifts it).
var ErrPrivateTarget = errors.New("refused: the target address is loopback, private or link-local")

// publicAddr reports whether a webhook may connect to ip.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range internalPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// internalPrefixes are ranges net/netip does not classify but that reach
// no public host: "this network", shared address space (carrier NAT),
// benchmarking, IPv4/IPv6 translation and the discard prefix.
var internalPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("100::/64"),
}

// CheckURL validates an endpoint URL: http or https, a host, no
// credentials; unless allowPrivate, every address the host resolves to now
// must be public (the dialer checks again on every attempt).
func CheckURL(ctx context.Context, raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || u.Fragment != "" || len(raw) > 2048 {
		return marketing.Errorf(marketing.EINVALID, "the endpoint must be an http(s) URL with a host, without credentials")
	}
	if allowPrivate {
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return marketing.Errorf(marketing.EINVALID, "the endpoint's host does not resolve: %v", err)
	}
	for _, a := range addrs {
		if !publicAddr(a) {
			return marketing.Errorf(marketing.EINVALID, "the endpoint resolves to %s, a loopback, private or link-local address (set WEBHOOK_ALLOW_PRIVATE to allow)", a.Unmap())
		}
	}
	return nil
}

// newClient is the webhook HTTP client: the dialer refuses internal
// addresses after resolution (so a name that changes its answer between
// check and use is still caught), no proxy, no redirects.
func newClient(timeout time.Duration, allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if !allowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !publicAddr(ap.Addr()) {
				return ErrPrivateTarget
			}
			return nil
		}
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// addresses finds email addresses in error text (a mail server's "550
// <ada@example.com>: unknown user"): the log keeps none.
var addresses = regexp.MustCompile(`[^\s<>"',;:()\[\]]+@[^\s<>"',;:()\[\]]+`)

// attemptError words a failed attempt for the delivery log without the URL
// (it may carry a token in its query) or any email address.
func attemptError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, ErrPrivateTarget) {
		return ErrPrivateTarget.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	s := addresses.ReplaceAllString(err.Error(), "[address]")
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// NewEndpoint validates and builds an endpoint with a fresh id and
// signing secret: the URL (see CheckURL) and the site it is limited to
// ("" every site).
func NewEndpoint(ctx context.Context, rawURL, site string, includeEmail, allowPrivate bool, now time.Time) (*marketing.WebhookEndpoint, error) {
	if err := CheckURL(ctx, rawURL, allowPrivate); err != nil {
		return nil, err
	}
	if len(site) > 128 || !marketing.Storable(site) {
		return nil, marketing.Errorf(marketing.EINVALID, "the site must be a property id of at most 128 characters")
	}
	return &marketing.WebhookEndpoint{ID: "ep_" + randomHex(8), URL: rawURL, PropertyID: site, Secret: NewSecret(),
		IncludeEmail: includeEmail, CreatedAt: now.UTC()}, nil
}
