// Microsoft Graph application permissions for the app's managed identity, and nothing more.
// Deploying this needs a deployer allowed to grant them (Privileged Role Administrator or
// Global Administrator): main.bicep includes it only with grantGraphPermissions=true.
extension microsoftGraphV1

@description('Object id of the managed identity (its service principal).')
param principalId string

@description('Also grant GroupMember.ReadWrite.All, which only the scheduled group sweep needs.')
param includeGroupSweep bool

// Microsoft Graph's application id and app-role ids are the same in every tenant.
var graphAppId = '00000003-0000-0000-c000-000000000000'
var resetAppRoles = {
  // Also what Graph beta asks to list and unassign a user's hardware OATH tokens
  // (GRAPH_BETA_METHODS) and v1.0 to delete a QR code + PIN method: no extra grant.
  'UserAuthenticationMethod.ReadWrite.All': '50483e42-d915-4231-9639-7fdb7fd190e5'
  'User.RevokeSessions.All': '77f3a031-c388-4f99-b373-dc68676a979e'
  'User.Read.All': 'df021288-bdef-4463-88db-98f22de89214'
  'RoleManagement.Read.Directory': '483bed4a-2ad3-4361-a73b-c83ccdbdc53c'
  'GroupMember.Read.All': '98830695-27a2-44f7-8c18-0c3ebc9698f6'
  'PrivilegedEligibilitySchedule.Read.AzureADGroup': 'edb419d6-7edc-42a3-9345-509bfdf5d87c'
  // Read the Temporary Access Pass policy before any change (a pass it would refuse stops the
  // reset first); the least-privileged permission for that read.
  'Policy.Read.AuthenticationMethod': '8e3bc81b-d2f3-4b7b-838c-32c88218d2f0'
  // Who owns privileged applications (an owner can add a credential and act as the app).
  'Application.Read.All': '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30'
}
var sweepAppRoles = {
  'GroupMember.ReadWrite.All': 'dbaae8cf-10b5-4b86-a4a1-f871c94c6695'
}
var granted = includeGroupSweep ? union(resetAppRoles, sweepAppRoles) : resetAppRoles

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for role in items(granted): {
  principalId: principalId
  resourceId: graph.id
  appRoleId: role.value
}]

output grantedPermissions array = [for role in items(granted): role.key]
