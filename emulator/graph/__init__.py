"""Microsoft Graph v1.0 semantics on top of :class:`~emulator.tenant.Tenant`, one module per
resource so each can be read beside the Graph page it follows.

Nothing here knows about sockets: :mod:`.router` turns a parsed :class:`~.call.GraphCall`
into a :class:`~.call.GraphResult`, so ordinary requests and the requests inside a ``$batch``
go through exactly the same code. Imports point one way: router -> resources -> odata ->
call -> the tenant model.
"""
