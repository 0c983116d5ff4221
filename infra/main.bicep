// The whole app in one deployment: `azd up`, or
//   az deployment sub create -l <region> -f infra/main.bicep -p environmentName=<name> location=<region>
// Everything runs as one user-assigned managed identity. The one secret, the key that signs
// admitted resets, lives in Key Vault and reaches the app as a Key Vault reference; it is
// never output.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('Name of the environment (azd: AZURE_ENV_NAME); names and tags derive from it.')
param environmentName string

@minLength(1)
@description('Azure region of every resource; it must offer the Flex Consumption plan.')
param location string

@description('Grant the Microsoft Graph application permissions to the managed identity. Needs a deployer who may grant them (Privileged Role Administrator or Global Administrator); set false to deploy the rest and grant later.')
param grantGraphPermissions bool = true

@description('DID of the Verified ID authority of the tenant (azd: VERIFIED_ID_AUTHORITY), e.g. did:web:verifiedid.contoso.com; empty: no proof with Verified ID, and no Verified ID app role for the identity.')
param verifiedIdAuthority string = ''

@description('Issuer DIDs whose credentials prove a user (azd: VERIFIED_ID_ACCEPTED_ISSUERS), comma-separated: your own authority for VerifiedEmployee, an identity-verification partner for VerifiedIdentity.')
param verifiedIdAcceptedIssuers string = ''

@description('Credential types a user may present (azd: VERIFIED_ID_CREDENTIAL_TYPES).')
param verifiedIdCredentialTypes string = 'VerifiedEmployee'

@description('Require proof with Verified ID for every reset a caller submits (azd: REQUIRE_VERIFICATION).')
param requireVerification bool = false

@description('Face Check match confidence a presentation must reach, 50-100 (azd: FACE_CHECK_THRESHOLD).')
@minValue(50)
@maxValue(100)
param faceCheckThreshold int = 70

@description('Object id of the "MFA reset pending" group the scheduled run sweeps; empty: no sweep (and no GroupMember.ReadWrite.All).')
param resetGroupId string = ''

@description('Comma-separated UPNs or object ids never reset (break-glass accounts).')
param deniedUsers string = ''

@description('Comma-separated group object ids whose members are never reset.')
param protectedGroupIds string = ''

@description('Comma-separated role template ids whose holders may still be reset.')
param allowedRoleTemplateIds string = ''

@minValue(1)
@maxValue(10000)
@description('Tenant-wide cap on resets per rolling hour.')
param resetsPerHour int = 30

@description('Unassign hardware OATH tokens through Graph beta (GRAPH_BETA_METHODS). Microsoft does not support beta in production; off, a reset of a user holding one is refused before any change. Needs no permission beyond UserAuthenticationMethod.ReadWrite.All.')
param graphBetaMethods bool = false

@minValue(1)
@maxValue(100)
@description('Resets of one user per rolling 24 hours.')
param resetsPerUserPerDay int = 2

@description('NCRONTAB schedule (six fields, UTC) of the scheduled run.')
param cleanupSchedule string = '0 30 1 * * *'

@minValue(0)
@maxValue(20)
@description('Re-drives of a stuck or retryably failed reset before it stays failed.')
param redriveMaxAttempts int = 3

@minValue(2)
@maxValue(3650)
@description('Days a ledger row is kept.')
param retentionDays int = 90

@description('Storage replication (azd: STORAGE_SKU). Standard_LRS works in every Flex Consumption region; Standard_ZRS survives a zone outage where the region has zones; GRS/GZRS add a geo copy.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSku string = 'Standard_LRS'

@description('Hosts completion callbacks may go to (azd: CALLBACK_ALLOWED_HOSTS), e.g. yourco.service-now.com,api-private.atlassian.com; empty: no callbacks.')
param callbackAllowedHosts string = ''

@description('Mailbox notifications to users are sent from (azd: NOTIFY_SENDER), e.g. a shared mailbox noreply@contoso.com; the app may send only as it (Exchange RBAC for Applications, README). Empty: no notifications.')
param notifySender string = ''

@description('Minutes an asynchronous reset waits after the user was notified, so they can stop it (azd: RESET_HOLD_MINUTES); 0: no hold.')
@minValue(0)
@maxValue(4320)
param resetHoldMinutes int = 0

@description('Comma-separated e-mail addresses the alert rules notify (azd: ALERT_EMAILS), e.g. secops@contoso.com,servicedesk@contoso.com; empty: no action group and no alert rules (the workbook is always deployed). See docs/monitoring.md.')
param alertEmails string = ''

@description('Client id of the API app registration for App Service Authentication; empty: function keys only.')
param authClientId string = ''

@description('Comma-separated client ids of the applications allowed to call (ServiceNow, Power Automate), with App Service Authentication.')
param allowedClientApplicationIds string = ''

@description('Microsoft Graph root the app calls.')
param graphBaseUrl string = 'https://graph.microsoft.com/v1.0'

@minValue(40)
@maxValue(1000)
@description('Cap on on-demand instances per function group (40 is the lowest Flex Consumption allows everywhere); RESETS_PER_HOUR is what limits the load on Graph.')
param maximumInstanceCount int = 40

@secure()
@minLength(32)
@description('Key that signs admitted resets (azd: WORK_ITEM_SIGNING_KEY, generated once per environment by the preup/preprovision hook, infra/hooks). Without azd: pass 32 or more random characters, the same on every deployment (see docs/deploy.md).')
param workItemSigningKey string

@secure()
@description('The signing key before the last rotation (azd: WORK_ITEM_SIGNING_KEY_PREVIOUS); empty: none.')
param workItemSigningKeyPrevious string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-mfareset-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stmfa${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: 'app-package-${resourceToken}'
    resetQueueName: 'mfa-resets'
    ledgerTableName: 'MfaResets'
    skuName: storageSku
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    workspaceName: 'log-mfareset-${resourceToken}'
    insightsName: 'appi-mfareset-${resourceToken}'
    location: location
    tags: tags
  }
}

// What the app did, in the portal: a workbook over Application Insights, always; and, with
// ALERT_EMAILS, log search alerts that e-mail a person. The queries are infra/queries/*.kql.
module workbook 'app/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    insightsId: monitoring.outputs.insightsId
  }
}

// Only when ALERT_EMAILS names an address: a value of blanks and commas alone is none.
module alerts 'app/alerts.bicep' = if (!empty(replace(replace(alertEmails, ' ', ''), ',', ''))) {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    insightsId: monitoring.outputs.insightsId
    actionGroupName: 'ag-mfareset-${resourceToken}'
    alertEmails: alertEmails
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    insightsName: monitoring.outputs.insightsName
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-mfa-${resourceToken}'
    location: location
    tags: tags
    readerPrincipalId: identity.outputs.principalId
    workItemSigningKey: workItemSigningKey
    workItemSigningKeyPrevious: workItemSigningKeyPrevious
  }
}

module functionApp 'app/function.bicep' = {
  name: 'function'
  scope: rg
  params: {
    name: 'func-mfareset-${resourceToken}'
    planName: 'plan-mfareset-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    resetQueueName: storage.outputs.resetQueueName
    ledgerTableName: storage.outputs.ledgerTableName
    insightsConnectionString: monitoring.outputs.connectionString
    graphBaseUrl: graphBaseUrl
    resetGroupId: resetGroupId
    deniedUsers: deniedUsers
    protectedGroupIds: protectedGroupIds
    allowedRoleTemplateIds: allowedRoleTemplateIds
    resetsPerHour: resetsPerHour
    graphBetaMethods: graphBetaMethods
    resetsPerUserPerDay: resetsPerUserPerDay
    cleanupSchedule: cleanupSchedule
    redriveMaxAttempts: redriveMaxAttempts
    retentionDays: retentionDays
    maximumInstanceCount: maximumInstanceCount
    requireCallerRoles: !empty(authClientId)
    callerAudiences: empty(authClientId) ? '' : '${authClientId},api://${authClientId}'
    signingKeyReference: keyVault.outputs.signingKeyReference
    previousSigningKeyReference: keyVault.outputs.previousSigningKeyReference
    callbackSecretReference: keyVault.outputs.callbackSecretReference
    callbackAllowedHosts: callbackAllowedHosts
    notifySender: notifySender
    verifiedIdAuthority: verifiedIdAuthority
    verifiedIdAcceptedIssuers: verifiedIdAcceptedIssuers
    verifiedIdCredentialTypes: verifiedIdCredentialTypes
    requireVerification: requireVerification
    faceCheckThreshold: faceCheckThreshold
    resetHoldMinutes: resetHoldMinutes
  }
  // The host starts with identity-based storage, and resolves the Key Vault reference, with
  // the identity's roles: they must exist first.
  dependsOn: [ rbac, keyVault ]
}

module auth 'app/auth.bicep' = if (!empty(authClientId)) {
  name: 'auth'
  scope: rg
  params: {
    siteName: functionApp.outputs.name
    clientId: authClientId
    allowedClientApplicationIds: allowedClientApplicationIds
  }
}

module graphPermissions 'app/graph-permissions.bicep' = if (grantGraphPermissions) {
  name: 'graph-permissions'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    includeGroupSweep: !empty(resetGroupId)
  }
  // Late in the deployment: a brand-new identity takes a while to replicate in Entra ID.
  dependsOn: [ functionApp ]
}

// Only when Verified ID is configured, and with the same deployer privilege as the Graph grants
// (a deployment with GRANT_GRAPH_PERMISSIONS=false grants neither; docs/deploy.md says how to
// grant it later).
module verifiedIdPermissions 'app/verified-id-permissions.bicep' = if (grantGraphPermissions && !empty(trim(verifiedIdAuthority))) {
  name: 'verified-id-permissions'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
  }
  // Late in the deployment: a brand-new identity takes a while to replicate in Entra ID.
  dependsOn: [ functionApp ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output RESETS_URL string = 'https://${functionApp.outputs.defaultHostName}/api/resets'
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output GRAPH_PERMISSIONS_GRANTED bool = grantGraphPermissions
// The vault's name, for the operator's one secret step (the callback signing secret); a name,
// never a value.
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
