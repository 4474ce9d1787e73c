// Package web serves the hosted pages people see: sign in, create account,
// verify email, forgot and reset password, signed out, the account page
// with "Your data" (a copy of everything kept, and deleting the account)
// and error pages, and for the OpenID Provider the consent page and the page
// asking whether to sign out. Pages are server-rendered from embedded
// html/template files, work without JavaScript, are translated (English,
// Swedish, Finnish) and protect every form against cross-site request
// forgery. Each page is a view of a stored flow (package flows), so reloads
// and the back button are safe.
package web
