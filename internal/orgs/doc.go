// Package orgs holds organizations (a business customer or partner: name,
// slug, the CRM's external ID, verified email domains, metadata, status),
// the roles each application declares with the permissions they grant, and
// who belongs to which organization with which roles. Roles can also be
// granted outside any organization (to consumers). Every change is written
// with its event in the same transaction.
package orgs
