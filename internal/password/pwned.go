package password

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultPwnedURL is the Have I Been Pwned range API; the five-character
// prefix is appended to it.
const DefaultPwnedURL = "https://api.pwnedpasswords.com/range/"

// maxRangeBody bounds the size of a range response (real ones, padded, are
// about 40 KB).
const maxRangeBody = 1 << 20

// PwnedChecker asks the Have I Been Pwned Pwned Passwords API whether a
// password appears in known breaches, by k-anonymity: only the first five
// hex digits of the password's SHA-1 leave the process, and the API answers
// with the suffixes of every breached hash that shares them. Responses are
// padded (Add-Padding) so that their size says nothing either.
//
// Nothing calls it by default: it needs network access to the API, which a
// deployment may not have or want. A breached password should be refused
// with ReasonTooCommon.
type PwnedChecker struct {
	// Client makes the request (default: a client with a 10 s timeout).
	Client *http.Client
	// BaseURL is where the prefix is appended (default DefaultPwnedURL).
	BaseURL string
	// MinCount is how many times a password must have been seen in breaches
	// to count as breached (default 1).
	MinCount int
}

// Check reports whether password has been seen at least MinCount times in
// breaches. The password is checked as given, without normalization, as
// breach corpora hold what people typed. An error means the API could not
// be asked or answered nonsense; callers usually let the password through
// then rather than block sign-up on a third party.
func (c *PwnedChecker) Check(ctx context.Context, password string) (breached bool, err error) {
	sum := sha1.Sum([]byte(password))
	digest := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := digest[:5], digest[5:]

	base := c.BaseURL
	if base == "" {
		base = DefaultPwnedURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+prefix, nil)
	if err != nil {
		return false, fmt.Errorf("pwned passwords request: %w", err)
	}
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("User-Agent", "portvakt")
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("pwned passwords request: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("pwned passwords: status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRangeBody+1))
	if err != nil {
		return false, fmt.Errorf("pwned passwords response: %w", err)
	}
	if len(body) > maxRangeBody {
		return false, errors.New("pwned passwords response is too large")
	}
	count, err := rangeCount(body, suffix)
	if err != nil {
		return false, err
	}
	return count >= max(c.MinCount, 1), nil
}

// rangeCount returns the count of suffix in a range response, lines of
// "SUFFIX:COUNT" (padding lines have count 0), or 0 if it is absent.
func rangeCount(body []byte, suffix string) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		s, n, ok := strings.Cut(text, ":")
		count, err := strconv.Atoi(n)
		if !ok || len(s) != len(suffix) || err != nil || count < 0 {
			return 0, fmt.Errorf("pwned passwords response: line %d is not SUFFIX:COUNT", line)
		}
		if strings.EqualFold(s, suffix) {
			return count, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("pwned passwords response: %w", err)
	}
	return 0, nil
}
