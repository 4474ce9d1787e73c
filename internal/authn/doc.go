// Package authn owns what a person proves beyond a password: second
// factors (an authenticator app's time-based codes, single-use recovery
// codes) and the ladder of levels of assurance that the methods of a
// sign-in reach. The hosted pages ask for factors through it; the OpenID
// Provider asks it whether a person can reach the level an application
// wants (step-up).
package authn
