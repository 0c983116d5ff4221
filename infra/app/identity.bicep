// The app's one identity: Graph, storage and Application Insights all see this principal.
// User-assigned, so it and its role assignments exist before the app starts, and survive
// re-creating the app.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
