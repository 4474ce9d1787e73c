package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Signing follows the Standard Webhooks specification
// (https://www.standardwebhooks.com/): the signed content is
// "<webhook-id>.<webhook-timestamp>.<body>", signed with HMAC-SHA256
// under the secret's bytes; the header webhook-signature holds "v1,"
// and the base64 signature, several separated by spaces.

// secretPrefix marks a secret as a Standard Webhooks secret.
const secretPrefix = "whsec_"

// secretBytes is the length of a new secret's key (192 bits, within the
// specification's 24 to 64 bytes).
const secretBytes = 32

// NewSecret returns a new signing secret, "whsec_" and the base64 of
// random bytes.
func NewSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// secretKey returns the HMAC key of a "whsec_" secret.
func secretKey(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, errors.New("signing secret does not start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, errors.New("signing secret is not base64 after whsec_")
	}
	return key, nil
}

// Sign returns the webhook-signature header value for a message: one
// "v1,<signature>" per secret, separated by spaces, in the order given.
func Sign(secrets []string, msgID string, at time.Time, body []byte) (string, error) {
	ts := strconv.FormatInt(at.Unix(), 10)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := secretKey(s)
		if err != nil {
			return "", err
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(msgID))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}
