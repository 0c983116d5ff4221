"""Microsoft Graph access: the only package that imports msgraph-sdk."""
