"""Telling the user about a reset on channels the requester does not control.

``recipients`` finds where (the user's mailbox, their email authentication method, their
manager); ``compose`` writes the two mails; ``links`` makes the "this wasn't me" links;
``notifier`` sends and records; ``pages`` answers the links.
"""
