"""Domain code of the MFA reset app.

Nothing in this package imports a trigger; only ``shared.graph`` imports the Graph SDK.
"""
