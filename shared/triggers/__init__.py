"""Azure Functions triggers: thin adapters from HTTP, queue and timer to the domain."""

# The queue of work items: the HTTP trigger writes to it, the worker reads it, the scheduled
# run re-drives onto it.
QUEUE_CONNECTION = "RESET_STORAGE"
QUEUE_NAME = "%RESET_QUEUE_NAME%"
# Completion callbacks leave through their own queue, retried by the host like any message.
CALLBACK_QUEUE_NAME = "%RESET_QUEUE_NAME%-callbacks"
# Pages of a group sweep, each admitted by its own invocation (shared.sweep).
SWEEP_QUEUE_NAME = "%RESET_QUEUE_NAME%-sweep"
