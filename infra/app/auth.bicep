// Optional App Service Authentication: only Entra ID tokens issued to the listed client
// applications get through; the app then checks their app roles (MfaReset.Execute or
// MfaReset.Preview) from the X-MS-CLIENT-PRINCIPAL header the platform sets.
param siteName string

@description('Client id of the API app registration that defines the MfaReset.* app roles.')
param clientId string

@description('Comma-separated client ids of the applications allowed to call.')
param allowedClientApplicationIds string

// The list without spaces, and no empty entry when the setting is empty.
var cleanedIds = replace(allowedClientApplicationIds, ' ', '')
var allowedApplications = empty(cleanedIds) ? [] : split(cleanedIds, ',')

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: siteName
}

resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: this is App Service Authentication itself (authsettingsV2), enabled below
  // checkov:skip=CKV_AZURE_63: HTTP logging is a site setting, not part of authsettingsV2
  // checkov:skip=CKV_AZURE_65: detailed error messages are a site setting, not part of authsettingsV2
  // checkov:skip=CKV_AZURE_66: failed request tracing is a site setting, not part of authsettingsV2
  // checkov:skip=CKV_AZURE_80: the .NET version does not apply to a Python app
  // checkov:skip=CKV_AZURE_88: the app keeps no files on Azure Files
  // checkov:skip=CKV_AZURE_222: public network access is a site setting, see function.bicep
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${clientId}'
            clientId
          ]
          defaultAuthorizationPolicy: {
            allowedApplications: allowedApplications
          }
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}
