// One storage account for the Functions host, the deployment package, the reset queue (and its
// poison queue) and the ledger table. Only Entra ID identities get in: shared keys are off.
param name string
param location string
param tags object
param deploymentContainerName string
param resetQueueName string
param ledgerTableName string

@description('Replication (azd: STORAGE_SKU): Standard_LRS works in every Flex Consumption region; Standard_ZRS where the region has availability zones.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the Flex Consumption app reaches storage over its public endpoint without VNet integration; access is by Entra ID identity only (shared keys off)
  // checkov:skip=CKV_AZURE_43: the name is derived from a unique token, checked by Azure at deployment
  // checkov:skip=CKV_AZURE_206: the replication is the operator's choice (STORAGE_SKU, see the README): locally redundant by default so azd up works in every Flex Consumption region, zone- or geo-redundant where wanted; messages and leases are short-lived and the audit trail is in Application Insights
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource resetQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: resetQueueName
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${resetQueueName}-poison'
}

// A group sweep's pages, each admitted by its own invocation (and their poison queue).
resource sweepQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${resetQueueName}-sweep'
}

resource sweepPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${resetQueueName}-sweep-poison'
}

// Completion callbacks leave through their own queue (and poison queue).
resource callbackQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${resetQueueName}-callbacks'
}

resource callbackPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${resetQueueName}-callbacks-poison'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource ledgerTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: ledgerTableName
}

output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
output deploymentContainerName string = deploymentContainer.name
output resetQueueName string = resetQueue.name
output ledgerTableName string = ledgerTable.name
