// The app's secrets: the key that signs admitted resets, and the secret that signs completion
// callbacks (its value set by the operator, never by the templates).
// Only the app's identity reads it (RBAC, no access policies); it reaches the app as a Key
// Vault reference, never as a value in an app setting or a deployment output.
param name string
param location string
param tags object

@description('Principal id of the app identity, which may read the secrets.')
param readerPrincipalId string

@secure()
@minLength(32)
@description('The work-item signing key (azd generates one once per environment).')
param workItemSigningKey string

@secure()
@description('The key before the last rotation, so pending resets signed with it still run; empty: none.')
param workItemSigningKeyPrevious string = ''

var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: the Flex Consumption app reads the vault over its public endpoint without VNet integration; access is by Entra ID RBAC only
  // checkov:skip=CKV_AZURE_189: as above: public network access is how the app resolves its Key Vault reference without a private endpoint
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource signingKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: rotation is deliberate (current and previous key, see the README); an expiry date would stop every reset the day it passes
  parent: vault
  name: 'work-item-signing-key'
  properties: {
    value: workItemSigningKey
    contentType: 'HMAC-SHA256 key'
  }
}

resource previousSigningKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(workItemSigningKeyPrevious)) {
  // checkov:skip=CKV_AZURE_41: kept only for one rotation; removed by deploying without it
  // checkov:skip=CKV_AZURE_114: contentType is set below; the scanner does not read the body of a conditional resource
  parent: vault
  name: 'work-item-signing-key-previous'
  properties: {
    value: workItemSigningKeyPrevious
    contentType: 'HMAC-SHA256 key'
  }
}

resource secretsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, readerPrincipalId, secretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = vault.name
// Versionless URIs: after a rotation the app picks up the new version on its next restart.
output signingKeyReference string = '@Microsoft.KeyVault(SecretUri=${signingKey.properties.secretUri})'
// The callback signing secret is not created here: the operator sets its value in the vault
// (see the README). Until then App Service leaves the reference unresolved and the app refuses
// requests that ask for a callback.
output callbackSecretReference string = '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=callback-signing-secret)'
output previousSigningKeyReference string = empty(workItemSigningKeyPrevious) ? '' : '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/work-item-signing-key-previous)'
