// The Function App on the Flex Consumption plan (Linux, Python 3.11), running as the
// user-assigned identity, with every app setting the code reads.
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param resetQueueName string
param ledgerTableName string
param insightsConnectionString string
param graphBaseUrl string
param resetGroupId string
param deniedUsers string
param protectedGroupIds string
param allowedRoleTemplateIds string
param resetsPerHour int
param graphBetaMethods bool
param resetsPerUserPerDay int
param cleanupSchedule string
param redriveMaxAttempts int
param retentionDays int
param maximumInstanceCount int
param requireCallerRoles bool
@description('Comma-separated audiences of callers\' tokens (the API app\'s client id and application id URI); empty without authentication.')
param callerAudiences string
@description('Key Vault reference to the work-item signing key.')
param signingKeyReference string
@description('Key Vault reference to the previous signing key; empty: none.')
param previousSigningKeyReference string
@description('Key Vault reference to the callback signing secret (its value set by the operator).')
param callbackSecretReference string
@description('Comma-separated hosts completion callbacks may go to (*.domain allowed); empty: no callbacks.')
param callbackAllowedHosts string
param notifySender string
param verifiedIdAuthority string
param verifiedIdAcceptedIssuers string
param verifiedIdCredentialTypes string
param requireVerification bool
param faceCheckThreshold int
param resetHoldMinutes int

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy of a Flex Consumption plan is a per-region choice; the queue and the ledger make a lost instance harmless
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: callers authenticate with function keys or Entra ID tokens; ITSM webhooks do not present client certificates
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales per instance on demand; there is no fixed worker count
  // checkov:skip=CKV_AZURE_213: the platform monitors the Functions host; the app has no health endpoint of its own
  // checkov:skip=CKV_AZURE_78: a Flex Consumption app has no FTP endpoint and rejects siteConfig.ftpsState
  // checkov:skip=CKV_AZURE_222: ServiceNow and Power Automate call over the internet; restrict with access restrictions or a private endpoint where they can
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    // Key Vault references are resolved with the app's user-assigned identity.
    keyVaultReferenceIdentity: identityId
    httpsOnly: true
    clientCertEnabled: false
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: [
        // The Functions host's own storage, identity-based.
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storage.properties.primaryEndpoints.blob
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storage.properties.primaryEndpoints.queue
        }
        // The host writes diagnostic events to tables; without it the logs carry warnings.
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: storage.properties.primaryEndpoints.table
        }
        // The connection of the reset queue bindings and the ledger, identity-based.
        {
          name: 'RESET_STORAGE__credential'
          value: 'managedidentity'
        }
        {
          name: 'RESET_STORAGE__clientId'
          value: identityClientId
        }
        {
          name: 'RESET_STORAGE__queueServiceUri'
          value: storage.properties.primaryEndpoints.queue
        }
        {
          name: 'RESET_STORAGE__tableServiceUri'
          value: storage.properties.primaryEndpoints.table
        }
        {
          name: 'RESET_QUEUE_NAME'
          value: resetQueueName
        }
        {
          name: 'LEDGER_TABLE_NAME'
          value: ledgerTableName
        }
        // Telemetry, sent with the identity (the component accepts no keys).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: insightsConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        // Graph, as the user-assigned identity.
        {
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
        {
          name: 'GRAPH_BASE_URL'
          value: graphBaseUrl
        }
        // Guardrails.
        {
          name: 'DENIED_USERS'
          value: deniedUsers
        }
        {
          name: 'PROTECTED_GROUP_IDS'
          value: protectedGroupIds
        }
        {
          name: 'ALLOWED_ROLE_TEMPLATE_IDS'
          value: allowedRoleTemplateIds
        }
        {
          name: 'RESETS_PER_HOUR'
          value: string(resetsPerHour)
        }
        {
          name: 'GRAPH_BETA_METHODS'
          value: string(graphBetaMethods)
        }
        {
          name: 'RESETS_PER_USER_PER_DAY'
          value: string(resetsPerUserPerDay)
        }
        {
          // With App Service Authentication: require the app roles whether or not the platform
          // announces authentication through WEBSITE_AUTH_ENABLED.
          name: 'REQUIRE_CALLER_ROLES'
          value: string(requireCallerRoles)
        }
        // The app verifies callers' tokens itself: issued by this tenant, for the API app.
        {
          name: 'CALLER_TENANT_ID'
          value: tenant().tenantId
        }
        {
          name: 'CALLER_AUDIENCES'
          value: callerAudiences
        }
        {
          name: 'CALLER_EXECUTE_ROLE'
          value: 'MfaReset.Execute'
        }
        {
          name: 'CALLER_PREVIEW_ROLE'
          value: 'MfaReset.Preview'
        }
        // The scheduled run.
        {
          name: 'CLEANUP_SCHEDULE'
          value: cleanupSchedule
        }
        {
          name: 'RESET_GROUP_ID'
          value: resetGroupId
        }
        {
          name: 'REDRIVE_MAX_ATTEMPTS'
          value: string(redriveMaxAttempts)
        }
        {
          name: 'RETENTION_DAYS'
          value: string(retentionDays)
        }
        // Signed work items: the key, from Key Vault (never a value here).
        {
          name: 'WORK_ITEM_SIGNING_KEY'
          value: signingKeyReference
        }
        {
          name: 'WORK_ITEM_SIGNING_KEY_PREVIOUS'
          value: previousSigningKeyReference
        }
        // Completion callbacks: the Standard Webhooks secret from Key Vault, and where they
        // may go. CALLBACK_ALLOW_LOOPBACK_HTTP is for local runs and never set here.
        {
          name: 'CALLBACK_SIGNING_SECRET'
          value: callbackSecretReference
        }
        {
          name: 'CALLBACK_ALLOWED_HOSTS'
          value: callbackAllowedHosts
        }
        // Notifying the user: the sender mailbox (Exchange RBAC for Applications scopes the
        // app's Mail.Send to it; no Graph grant here) and the hold after the notification.
        {
          name: 'NOTIFY_SENDER'
          value: notifySender
        }
        {
          name: 'RESET_HOLD_MINUTES'
          value: string(resetHoldMinutes)
        }
        // Proof before reset (Verified ID, Face Check); the identity's app role on the
        // Verifiable Credentials Service Request service principal is verified-id-permissions.
        {
          name: 'VERIFIED_ID_AUTHORITY'
          value: verifiedIdAuthority
        }
        {
          name: 'VERIFIED_ID_ACCEPTED_ISSUERS'
          value: verifiedIdAcceptedIssuers
        }
        {
          name: 'VERIFIED_ID_CREDENTIAL_TYPES'
          value: verifiedIdCredentialTypes
        }
        {
          name: 'REQUIRE_VERIFICATION'
          value: string(requireVerification)
        }
        {
          name: 'FACE_CHECK_THRESHOLD'
          value: string(faceCheckThreshold)
        }
      ]
    }
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
