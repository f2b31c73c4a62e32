package delivery

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchboardhq/switchboard/plugins/netguard"
)

// BlockedError is why a delivery was refused at dial time: the delivery URL
// resolved to an address a webhook must not reach (SSRF guard, see package
// netguard). Its text is stored in the attempt log so the subscriber sees
// why nothing arrived.
type BlockedError = netguard.BlockedError

// ValidateURL checks a delivery URL when a subscription is created or
// changed, so a typo fails the API call instead of every delivery: it must be
// an absolute http or https URL with a host and without user:password (which
// would end up in logs). Whether the host is reachable is decided at dial
// time, against the resolved address.
func ValidateURL(raw string) error {
	if strings.TrimSpace(raw) != raw || raw == "" {
		return errors.New("delivery_url must be an absolute http(s) URL without surrounding spaces")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("delivery_url is not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("delivery_url must use http or https, not %q", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return errors.New("delivery_url must be an absolute URL with a host, e.g. https://example.com/webhooks")
	}
	if u.User != nil {
		return errors.New("delivery_url must not contain user info (user:password@); put credentials in the path or query instead")
	}
	if u.Fragment != "" {
		return errors.New("delivery_url must not contain a fragment (#...)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("delivery_url has an invalid port %q", p)
		}
	}
	return nil
}
