package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// APIProfiles reads profiles from Portvakt's management API.
type APIProfiles struct {
	// Base is <issuer>/api/v1.
	Base string
	// HTTP sends the requests with the API client's token.
	HTTP *http.Client
}

// Profile implements Profiles: GET /api/v1/users/{id}.
func (a *APIProfiles) Profile(ctx context.Context, userID string) (Profile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Base+"/users/"+url.PathEscape(userID), nil)
	if err != nil {
		return Profile{}, err
	}
	res, err := a.HTTP.Do(req)
	if err != nil {
		return Profile{}, err
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return Profile{}, ErrGone
	default:
		return Profile{}, fmt.Errorf("GET /users/%s: %s", userID, res.Status)
	}
	var p Profile
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
		return Profile{}, fmt.Errorf("GET /users/%s: %w", userID, err)
	}
	return p, nil
}
