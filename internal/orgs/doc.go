// Package orgs holds organizations (a business customer or partner: name,
// slug, the CRM's external ID, verified email domains, metadata, status),
// the roles each application declares with the permissions they grant, and
// who belongs to which organization with which roles. Roles can also be
// granted outside any organization (to consumers). People join by
// invitation, or by the domain of their verified address (a request the
// organization's admins decide, or at once). Every change is written with
// its event in the same transaction.
package orgs
