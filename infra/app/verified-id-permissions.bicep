// The app role the Verified ID Request Service API demands of the app's managed identity,
// VerifiableCredential.Create.PresentRequest on the "Verifiable Credentials Service Request"
// service principal, and nothing more (not Create.All, which would also let the app issue
// credentials). main.bicep deploys it only when Verified ID is configured (VERIFIED_ID_AUTHORITY)
// and the deployer may grant app roles (GRANT_GRAPH_PERMISSIONS, the same privilege as the
// Graph grants: Privileged Role Administrator or Global Administrator). docs/deploy.md says how
// to check and revoke it.
extension microsoftGraphV1

@description('Object id of the managed identity (its service principal).')
param principalId string

// The service principal's appId is the same in every tenant ("a constant value across all
// Microsoft Entra ID tenants", Microsoft's vid-logic-app sample; the Request Service API's
// token scope is 3db474b9-6a0c-4840-96ac-1fceb342124f/.default, get-started-request-api.md).
// The service principal exists once Verified ID has been set up in the tenant.
var requestServiceAppId = '3db474b9-6a0c-4840-96ac-1fceb342124f'

resource requestService 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: requestServiceAppId
}

// The role is looked up by its value, not by a hard-coded id: public scripts disagree on the
// id of PresentRequest, and Microsoft's own grant script (the Woodgrove helpdesk sample) picks
// the role by its value too. filter() would say it in one line, but checkov's and pycep's
// Bicep parsers cannot read a lambda, so plain string functions find it in the JSON text of
// the appRoles (string() writes compact JSON, e.g. {"valueA":10,"valueB":"Example Text"}):
// the role is the object around its "value", from the last '{' before it to the first '}'
// after it (an app role holds no nested object). A service principal without the role fails
// the deployment in substring(), before anything is granted.
var appRolesText = string(requestService.appRoles)
var valueAt = indexOf(appRolesText, '"value":"VerifiableCredential.Create.PresentRequest"')
var roleStart = lastIndexOf(substring(appRolesText, 0, valueAt), '{')
var roleEnd = indexOf(substring(appRolesText, valueAt), '}') + valueAt + 1
var presentRequestRole = json(substring(appRolesText, roleStart, roleEnd - roleStart))

resource presentRequest 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  principalId: principalId
  resourceId: requestService.id
  appRoleId: presentRequestRole.id
}

output appRoleId string = presentRequestRole.id
output appRoleValue string = presentRequestRole.value
